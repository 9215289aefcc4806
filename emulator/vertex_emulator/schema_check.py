"""Checking a JSON request body against a ``google.cloud.aiplatform_v1`` message descriptor, at every depth.

Unknown field, wrong JSON type, bad enum value, two members of one oneof: each is a :class:`Violation` with the
wording of Google's ESF JSON transcoder (``Invalid JSON payload received. Unknown name "foo" at
'custom_job.job_spec': Cannot find field.``, ``Invalid value at 'custom_job.job_spec.service_account'
(TYPE_STRING), 5``), answered as INVALID_ARGUMENT with a ``google.rpc.BadRequest`` field violation whose ``field``
is the dotted path (:func:`bad_request`). Used by :mod:`.schema` before it parses a body.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from .errors import ApiError

_INT_TYPES = {
    FieldDescriptor.TYPE_INT32: ("TYPE_INT32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("TYPE_SINT32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: ("TYPE_SFIXED32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: ("TYPE_INT64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("TYPE_SINT64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: ("TYPE_SFIXED64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: ("TYPE_UINT32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: ("TYPE_FIXED32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: ("TYPE_UINT64", 0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: ("TYPE_FIXED64", 0, 2**64 - 1),
}
_FLOAT_TYPES = {FieldDescriptor.TYPE_DOUBLE: "TYPE_DOUBLE", FieldDescriptor.TYPE_FLOAT: "TYPE_FLOAT"}
_INTEGER_TEXT = re.compile(r"^-?[0-9]+$")
_WRAPPERS = {
    "google.protobuf.DoubleValue": FieldDescriptor.TYPE_DOUBLE,
    "google.protobuf.FloatValue": FieldDescriptor.TYPE_FLOAT,
    "google.protobuf.Int64Value": FieldDescriptor.TYPE_INT64,
    "google.protobuf.UInt64Value": FieldDescriptor.TYPE_UINT64,
    "google.protobuf.Int32Value": FieldDescriptor.TYPE_INT32,
    "google.protobuf.UInt32Value": FieldDescriptor.TYPE_UINT32,
    "google.protobuf.BoolValue": FieldDescriptor.TYPE_BOOL,
    "google.protobuf.StringValue": FieldDescriptor.TYPE_STRING,
    "google.protobuf.BytesValue": FieldDescriptor.TYPE_BYTES,
}
# Fields whose REQUIRED annotation is not enforced: a client cannot send an empty string explicitly (proto3
# omits it), so `EnvVar.value = ""` arrives as "not set"; Vertex AI accepts an empty environment variable.


class Violation(Exception):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


def bad_request(violations: list[Violation], prefix: str = "") -> ApiError:
    """INVALID_ARGUMENT with a ``google.rpc.BadRequest`` detail listing every violation."""
    message = prefix + "\n".join(v.description for v in violations)
    return ApiError(
        "INVALID_ARGUMENT",
        message,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": v.field, "description": v.description} for v in violations],
            }
        ],
    )


def violation(field: str, description: str) -> ApiError:
    return bad_request([Violation(field, description)])


def required_error(fields: Iterable[str]) -> ApiError:
    """Vertex AI's wording for REQUIRED fields that are not set."""
    names = list(fields)
    listed = "".join(f"{i}.Field: {name}; Message: Required field is not set.\t" for i, name in enumerate(names, 1))
    return ApiError(
        "INVALID_ARGUMENT",
        f"List of found errors:\t{listed}",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": name, "description": "Required field is not set."} for name in names],
            }
        ],
    )


def _token(value: Any) -> str:
    """A JSON value as Google quotes it in "Invalid value" messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


# -- checking a JSON body against a descriptor ------------------------------------------------------------------
def field_of(desc: Descriptor, key: str) -> FieldDescriptor | None:
    field = desc.fields_by_name.get(key)
    if field is not None:
        return field
    for candidate in desc.fields:
        if candidate.json_name == key:
            return candidate
    return None


def is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and bool(field.message_type.GetOptions().map_entry)


def _real_oneof(field: FieldDescriptor) -> str | None:
    oneof = field.containing_oneof
    if oneof is None:
        return None
    if len(oneof.fields) == 1 and oneof.name == "_" + field.name:  # proto3 `optional`: a synthetic oneof
        return None
    return oneof.name


def _type_url(desc: Any) -> str:
    return f"type.googleapis.com/{desc.full_name}"


def _check_scalar(value: Any, field_type: int, enum_desc: Any, path: str, out: list[Violation]) -> None:
    def bad(type_name: str) -> None:
        out.append(Violation(path, f"Invalid value at '{path}' ({type_name}), {_token(value)}"))

    if field_type == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            bad("TYPE_STRING")
    elif field_type == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            bad("TYPE_BOOL")
    elif field_type in _INT_TYPES:
        type_name, low, high = _INT_TYPES[field_type]
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
            number = int(value)
        if number is None or not low <= number <= high:
            bad(type_name)
    elif field_type in _FLOAT_TYPES:
        ok = False
        if isinstance(value, int | float) and not isinstance(value, bool):
            ok = True
        elif isinstance(value, str):
            try:
                ok = value in ("NaN", "Infinity", "-Infinity") or math.isfinite(float(value))
            except ValueError:
                ok = False
        if not ok:
            bad(_FLOAT_TYPES[field_type])
    elif field_type == FieldDescriptor.TYPE_BYTES:
        try:
            if not isinstance(value, str):
                raise ValueError
            base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True)
        except (ValueError, binascii.Error):
            bad("TYPE_BYTES")
    elif field_type == FieldDescriptor.TYPE_ENUM:
        if isinstance(value, bool) or not (
            (isinstance(value, str) and value in enum_desc.values_by_name)
            or (isinstance(value, int) and -(2**31) <= value < 2**31)
        ):
            bad(_type_url(enum_desc))


def _check_well_known(value: Any, desc: Descriptor, path: str, out: list[Violation]) -> bool:
    """Check a well-known type; False if ``desc`` is not one."""
    name = desc.full_name
    if name in _WRAPPERS:
        _check_scalar(value, _WRAPPERS[name], None, path, out)
        return True
    if name == "google.protobuf.Value":
        return True
    expected: type | tuple[type, ...] | None = {
        "google.protobuf.Struct": dict,
        "google.protobuf.ListValue": list,
        "google.protobuf.Timestamp": str,
        "google.protobuf.Duration": str,
        "google.protobuf.FieldMask": str,
        "google.protobuf.Empty": dict,
        "google.protobuf.Any": dict,
    }.get(name)
    if expected is None:
        return False
    ok = isinstance(value, expected)
    if ok and name in ("google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.Any"):
        from google.protobuf import symbol_database

        message_class = symbol_database.Default().GetSymbol(name)
        try:
            json_format.ParseDict(value, message_class())
        except (json_format.ParseError, TypeError, ValueError, KeyError):
            ok = False
    if ok and name == "google.protobuf.Empty" and value:
        ok = False
    if not ok:
        out.append(Violation(path, f"Invalid value at '{path}' ({_type_url(desc)}), {_token(value)}"))
    return True


def check_message(value: Any, desc: Descriptor, path: str, out: list[Violation]) -> None:
    """Append every schema violation of ``value`` (a JSON value meant to be message ``desc``) to ``out``."""
    if _check_well_known(value, desc, path, out):
        return
    if not isinstance(value, dict):
        out.append(Violation(path, f"Invalid value at '{path}' ({_type_url(desc)}), {_token(value)}"))
        return
    oneofs: dict[str, str] = {}
    for key, item in value.items():
        field = field_of(desc, key) if isinstance(key, str) else None
        if field is None:
            out.append(
                Violation(
                    path, f"Invalid JSON payload received. Unknown name {_token(key)} at '{path}': Cannot find field."
                )
            )
            continue
        if item is None:
            continue  # JSON null: the field is not set
        where = f"{path}.{field.name}"
        oneof = _real_oneof(field)
        if oneof is not None:
            if oneof in oneofs:
                members = [f.name for f in field.containing_oneof.fields]
                listed = ", ".join(members[:-1]) + " or " + members[-1]
                out.append(
                    Violation(
                        where,
                        f"Invalid JSON payload received. Oneof field '{oneof}' is already set. Cannot set "
                        f"'{field.json_name}' at '{path}': exactly one of {listed} may be set.",
                    )
                )
                continue
            oneofs[oneof] = field.name
        _check_field(item, field, where, out)


def _check_field(item: Any, field: FieldDescriptor, where: str, out: list[Violation]) -> None:
    if is_map(field):
        if not isinstance(item, dict):
            out.append(Violation(where, f"Invalid value at '{where}' (Map), {_token(item)}"))
            return
        value_field = field.message_type.fields_by_name["value"]
        for key, entry in item.items():
            _check_single(entry, value_field, f"{where}[{_token(key)}]", out)
        return
    if field.is_repeated:
        if not isinstance(item, list):
            out.append(Violation(where, f"Invalid value at '{where}' ({_type_name(field)}), {_token(item)}"))
            return
        for index, element in enumerate(item):
            _check_single(element, field, f"{where}[{index}]", out)
        return
    _check_single(item, field, where, out)


def _type_name(field: FieldDescriptor) -> str:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _type_url(field.message_type)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _type_url(field.enum_type)
    if field.type in _INT_TYPES:
        return _INT_TYPES[field.type][0]
    if field.type in _FLOAT_TYPES:
        return _FLOAT_TYPES[field.type]
    return {FieldDescriptor.TYPE_BOOL: "TYPE_BOOL", FieldDescriptor.TYPE_BYTES: "TYPE_BYTES"}.get(
        field.type, "TYPE_STRING"
    )


def _check_single(item: Any, field: FieldDescriptor, where: str, out: list[Violation]) -> None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if item is None and field.message_type.full_name != "google.protobuf.Value":
            out.append(Violation(where, f"Invalid value at '{where}' ({_type_url(field.message_type)}), null"))
            return
        check_message(item, field.message_type, where, out)
    elif item is None:
        out.append(Violation(where, f"Invalid value at '{where}' ({_type_name(field)}), null"))
    else:
        _check_scalar(item, field.type, field.enum_type, where, out)
