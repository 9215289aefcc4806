"""Parsing and validation of request bodies and query strings. Errors name the JSON path at fault."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import kinds
from .attributes import ATTRIBUTES, parse_attributes
from .errors import ApiError, invalid
from .names import JobName

__all__ = ["ATTRIBUTES", "Parameter", "SubmitRequest", "parse_attributes", "parse_json_object", "parse_submit"]

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}\Z")
DIRECTIONS = ("Input", "InputOutput", "Output")
TYPES = ("String", "Number", "Boolean", "Date", "DateTime", "JSON")


@dataclass(frozen=True)
class Parameter:
    name: str
    direction: str
    type: str
    value: str | None  # the value as text (a Custom Job's env var value); None for Output parameters
    typed: Any = field(
        default=None, compare=False
    )  # the value as typed JSON (Number -> int/float, Boolean -> bool, JSON -> object/array)


@dataclass(frozen=True)
class SubmitRequest:
    request_id: str
    job_name: str
    template: JobName | None
    attributes: dict[str, Any]
    parameters: tuple[Parameter, ...]
    fingerprint: str
    warnings: tuple[str, ...] = field(default=())
    job_type: str = "Vertex AI Custom Job"

    @property
    def kind(self) -> kinds.JobKind:
        return kinds.by_type(self.job_type)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError("PAYLOAD_TOO_LARGE", f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise invalid(f"request body is not valid UTF-8 JSON: {str(exc)[:200]}") from None
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    if _depth(body, MAX_DEPTH) > MAX_DEPTH:
        raise invalid(f"request body is nested deeper than {MAX_DEPTH} levels")
    try:
        # JSON may spell lone surrogates (\ud800) that no later step (hash, Firestore, Vertex AI) can encode.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("request body contains invalid Unicode (a lone surrogate escape)") from None
    return body


def fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _string(body: dict[str, Any], key: str, path: str, *, required: bool, max_len: int = 1024) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise invalid(f"{key} is required", path)
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{key} must be a non-empty string", path)
    if len(value) > max_len:
        raise invalid(f"{key} is longer than {max_len} characters", path)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise invalid(f"{key} contains control characters", path)
    return value


def format_number(value: Any, path: str) -> str:
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise invalid("Number parameter value is not a number", path) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid("Number parameter value must be a number", path)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise invalid("Number parameter value must be finite", path)
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def typed_value(ptype: str, value: Any, path: str) -> Any:
    """The parameter's value as typed JSON, normalised: the same value however it was spelled
    (Number 3, 3.0 and "3" are all 3; Boolean "TRUE" is true)."""
    if value is None:
        raise invalid("value is required for Input and InputOutput parameters", path)
    if ptype == "Number":
        text = format_number(value, path)
        number = float(text)
        return int(text) if number.is_integer() and "e" not in text and "." not in text else number
    if ptype == "Boolean":
        return format_value("Boolean", value, path) == "true"
    if ptype == "JSON":
        if not isinstance(value, dict | list):
            raise invalid("JSON parameter value must be a JSON object or array", path)
        return value
    return format_value(ptype, value, path)


def format_value(ptype: str, value: Any, path: str) -> str:
    if value is None:
        raise invalid("value is required for Input and InputOutput parameters", path)
    if ptype == "Number":
        return format_number(value, path)
    if ptype == "Boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower()
        raise invalid("Boolean parameter value must be true or false", path)
    if ptype == "JSON":
        if not isinstance(value, dict | list):
            raise invalid("JSON parameter value must be a JSON object or array", path)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not isinstance(value, str):
        raise invalid(f"{ptype} parameter value must be a string", path)
    if ptype == "Date":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise invalid("Date parameter value must be an ISO 8601 date (YYYY-MM-DD)", path) from None
    if ptype == "DateTime":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise invalid("DateTime parameter value must be ISO 8601 (e.g. 2026-11-22T08:15:00Z)", path) from None
        return value
    if len(value) > 32768:
        raise invalid("String parameter value is longer than 32768 characters", path)
    return value


def parse_parameters(
    raw: Any,
    *,
    outputs_supported: bool = False,
    name_pattern: re.Pattern[str] = ENV_NAME_RE,
    name_rule: str = "a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
) -> tuple[tuple[Parameter, ...], tuple[str, ...]]:
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        raise invalid("parameters must be an array", "parameters")
    params: list[Parameter] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"parameters[{i}]"
        if not isinstance(item, dict):
            raise invalid("each parameter must be an object", path)
        name = item.get("name")
        if not isinstance(name, str) or not name_pattern.match(name):
            raise invalid(f"parameter name '{str(name)[:64]}' is not {name_rule}", f"{path}.name")
        if name in seen:
            raise invalid(f"parameter {name} is given more than once", f"{path}.name")
        seen.add(name)
        direction = item.get("direction", "Input")
        if direction not in DIRECTIONS:
            raise invalid(f"parameter {name}: direction must be one of {', '.join(DIRECTIONS)}", f"{path}.direction")
        ptype = item.get("type", "String")
        if ptype not in TYPES:
            raise invalid(f"parameter {name}: type must be one of {', '.join(TYPES)}", f"{path}.type")
        if direction == "Output":
            if not outputs_supported:
                warnings.append(f"parameter {name} (Output) is not supported and was ignored")
            params.append(Parameter(name, direction, ptype, None))
            continue
        value = item.get("value")
        text = format_value(ptype, value, f"{path}.value")
        params.append(Parameter(name, direction, ptype, text, typed_value(ptype, value, f"{path}.value")))
    return tuple(params), tuple(warnings)


def request_fingerprint(
    request_id: str,
    job_name: str,
    kind: kinds.JobKind,
    template: JobName | None,
    attributes: dict[str, Any],
    parameters: tuple[Parameter, ...],
) -> str:
    """The idempotency fingerprint: of the request as the connector understands it, after parsing. Two bodies
    that build the same job (keys reordered, Number 3 / 3.0 / "3", unknown top-level fields) replay; a body that
    builds another job is a conflict."""
    understood = {
        "requestId": request_id,
        "jobName": job_name,
        "jobType": kind.job_type,
        "externalId": template.resource_name if template else None,
        "attributes": attributes,
        "parameters": [[p.name, p.direction, p.type, p.typed] for p in parameters],
    }
    return fingerprint(understood)


def parse_submit(body: dict[str, Any], accelerators: Collection[str] | None = None) -> SubmitRequest:
    request_id = body.get("requestId")
    if not isinstance(request_id, str) or not REQUEST_ID_RE.match(request_id):
        raise invalid("requestId is required: 1-128 characters of [A-Za-z0-9._:-]", "requestId")
    job_name = _string(body, "jobName", "jobName", required=True, max_len=512)
    assert job_name is not None
    external_id = body.get("externalId")
    template: JobName | None = None
    if external_id not in (None, ""):
        kind, template = kinds.parse_run_name(external_id, "externalId")
        if body.get("jobType") is not None and kinds.by_type(body.get("jobType")) is not kind:
            raise invalid(f"jobType {body.get('jobType')} does not match the template, a {kind.job_type}", "jobType")
    else:
        kind = kinds.by_type(body.get("jobType"))
    attributes = kind.parse_attributes(body.get("attributes"), accelerators)
    if template is None:
        for key in kind.required_without_template:
            if key not in attributes:
                raise invalid(
                    f"attributes.{key} is required for a {kind.job_type} when no externalId (template) is given",
                    f"attributes.{key}",
                )
    parameters, warnings = parse_parameters(
        body.get("parameters"),
        outputs_supported=kind.outputs_supported,
        name_pattern=kind.parameter_name,
        name_rule=kind.parameter_name_rule,
    )
    return SubmitRequest(
        request_id,
        job_name,
        template,
        attributes,
        parameters,
        request_fingerprint(request_id, job_name, kind, template, attributes, parameters),
        warnings,
        kind.job_type,
    )
