"""Schema-driven parsing and rendering of Vertex AI v1 resources.

Schema source: the protobuf message types of ``google.cloud.aiplatform_v1`` (the published v1 API, generated from
googleapis/google/cloud/aiplatform/v1/*.proto). A request body is checked against the message descriptor at every
depth (unknown field, wrong JSON type, bad enum value, two members of one oneof), then parsed with
``google.protobuf.json_format.ParseDict`` (Google's JSON mapping: camelCase or proto names, int64 as string or
number, enums by name or number) and rendered back with ``json_format.MessageToDict`` (int64 as strings, enums by
name or, for ``$alt=json;enum-encoding=int``, by number).

The generated descriptors carry no ``google.api.field_behavior`` options, so REQUIRED / OUTPUT_ONLY are read from
the generated classes' attribute docs, which start with "Required." / "Output only." exactly where the .proto has
the annotation (the same comment text Google publishes in the v1 REST reference).

Error wording follows Google's ESF JSON transcoder: ``Invalid JSON payload received. Unknown name "foo" at
'custom_job.job_spec': Cannot find field.`` and ``Invalid value at 'custom_job.job_spec.service_account'
(TYPE_STRING), 5``, each with a ``google.rpc.BadRequest`` field violation whose ``field`` is the dotted path.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import proto
from google.cloud import aiplatform_v1
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from .schema_check import Violation, bad_request, check_message, field_of, is_map, required_error, violation

_REQUIRED_EXEMPT = frozenset({"google.cloud.aiplatform.v1.EnvVar.value"})


# -- field behaviors from the generated classes' docs --------------------------------------------------------------
_BEHAVIOR_LOCK = threading.Lock()
_BEHAVIORS: dict[str, dict[str, str]] | None = None
_ATTR_LINE = re.compile(r"^( *)(\w+) \(.*\):\s*$")


def _doc_behaviors(cls: type) -> dict[str, str]:
    lines = (cls.__doc__ or "").splitlines()
    out: dict[str, str] = {}
    indent: int | None = None
    for i, line in enumerate(lines):
        if line.strip() == "Attributes:":
            indent = len(line) - len(line.lstrip()) + 4
            continue
        if indent is None:
            continue
        match = _ATTR_LINE.match(line)
        if match and len(match.group(1)) == indent and i + 1 < len(lines):
            first = lines[i + 1].strip()
            if first.startswith("Output only."):
                out[match.group(2)] = "OUTPUT_ONLY"
            elif first.startswith("Required."):
                out[match.group(2)] = "REQUIRED"
    return out


def _collect(cls: type, into: dict[str, dict[str, str]]) -> None:
    try:
        full_name = cls.pb().DESCRIPTOR.full_name  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - not a generated message class
        return
    if full_name in into:
        return
    into[full_name] = _doc_behaviors(cls)
    for attr in vars(cls).values():
        if isinstance(attr, type) and issubclass(attr, proto.Message):
            _collect(attr, into)


def behaviors(full_name: str) -> dict[str, str]:
    """``{proto field name: "REQUIRED" | "OUTPUT_ONLY"}`` of an aiplatform v1 message."""
    global _BEHAVIORS
    with _BEHAVIOR_LOCK:
        if _BEHAVIORS is None:
            table: dict[str, dict[str, str]] = {}
            for name in dir(aiplatform_v1.types):
                attr = getattr(aiplatform_v1.types, name)
                if isinstance(attr, type) and issubclass(attr, proto.Message):
                    _collect(attr, table)
            _BEHAVIORS = table
        return _BEHAVIORS.get(full_name, {})


# -- parse, clean, require, render ------------------------------------------------------------------------------
def parse(body: Any, message_class: type[Message], root: str) -> Message:
    """A request body as message ``message_class``; INVALID_ARGUMENT (Google's wording) at any depth."""
    out: list[Violation] = []
    check_message(body, message_class.DESCRIPTOR, root, out)
    if out:
        raise bad_request(out)
    message = message_class()
    try:
        json_format.ParseDict(body, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:  # anything the walker above did not foresee
        raise violation(root, f"Invalid JSON payload received. {str(exc).splitlines()[0]}") from None
    clear_output_only(message)
    return message


def clear_output_only(message: Message) -> None:
    """Drop OUTPUT_ONLY fields at every depth: Vertex AI ignores them in a create body."""
    table = behaviors(message.DESCRIPTOR.full_name)
    for field, value in message.ListFields():
        if table.get(field.name) == "OUTPUT_ONLY":
            message.ClearField(field.name)
            continue
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.full_name.startswith("google.protobuf."):
            continue
        if is_map(field):
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for entry in value.values():
                    clear_output_only(entry)
        elif field.is_repeated:
            for element in value:
                clear_output_only(element)
        else:
            clear_output_only(value)


def missing_required(message: Message, path: str) -> list[str]:
    """Paths of REQUIRED fields that are not set, in messages that are present."""
    missing: list[str] = []
    desc = message.DESCRIPTOR
    table = behaviors(desc.full_name)
    for name, behavior in table.items():
        if behavior != "REQUIRED" or f"{desc.full_name}.{name}" in _REQUIRED_EXEMPT:
            continue
        field = desc.fields_by_name.get(name)
        if field is None:
            continue
        if field.is_repeated:
            present = len(getattr(message, name)) > 0
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            present = message.HasField(name)
        else:
            present = getattr(message, name) != field.default_value
        if not present:
            missing.append(f"{path}.{name}")
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.full_name.startswith("google.protobuf."):
            continue
        if is_map(field):
            continue
        if field.is_repeated:
            for index, element in enumerate(value):
                missing += missing_required(element, f"{path}.{field.name}[{index}]")
        else:
            missing += missing_required(value, f"{path}.{field.name}")
    return missing


def require_all(message: Message, root: str) -> None:
    """INVALID_ARGUMENT naming every REQUIRED field of ``message`` (at ``root``) that is not set."""
    missing = missing_required(message, root)
    if missing:
        raise required_error(missing)


def tidy_numbers(value: Any) -> Any:
    """Integral doubles (how protobuf holds every JSON number in a Struct) back to JSON integers, as Google does."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: tidy_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [tidy_numbers(item) for item in value]
    return value


def render(message: Message, int_enums: bool = False) -> dict[str, Any]:
    """A message in Google's JSON mapping (camelCase, int64 as strings, enums by name unless ``int_enums``)."""
    return json_format.MessageToDict(message, use_integers_for_enums=int_enums)


def field_paths(desc: Descriptor, path: str) -> list[str]:
    """A dotted read-mask path (proto or JSON names) as JSON names; ValueError if it is not one. Below a
    ``google.protobuf.Struct`` field (``PipelineJob.pipeline_spec``) the parts are the Struct's keys, as sent: the
    SDK's simple list view asks for ``pipeline_spec.pipeline_info`` (python-aiplatform constants/pipeline.py)."""
    names: list[str] = []
    current: Descriptor | None = desc
    parts = path.split(".")
    for index, part in enumerate(parts):
        if current is None or not part:
            raise ValueError(path)
        field = field_of(current, part)
        if field is None:
            raise ValueError(path)
        names.append(field.json_name)
        current = None
        if field.type == FieldDescriptor.TYPE_MESSAGE and not is_map(field) and not field.is_repeated:
            full = field.message_type.full_name
            if full == "google.protobuf.Struct":
                rest = parts[index + 1 :]
                if not all(rest):
                    raise ValueError(path)
                return names + rest
            current = None if full.startswith("google.protobuf.") else field.message_type
    return names
