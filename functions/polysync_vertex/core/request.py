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

from .errors import ApiError, invalid
from .names import JobName, parse_job_name

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}\Z")
DURATION_RE = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,9})?s\Z")
ACCELERATOR_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}\Z")
MACHINE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}\Z")
IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,1023}\Z")
SERVICE_ACCOUNT_RE = re.compile(r"^[a-z0-9-]{1,63}@[a-z0-9.-]{1,200}\Z")
NETWORK_RE = re.compile(r"^projects/[a-z0-9-]{1,64}/global/networks/[a-z0-9-]{1,63}\Z")

DIRECTIONS = ("Input", "InputOutput", "Output")
TYPES = ("String", "Number", "Boolean", "Date", "DateTime")

# The attributes `submit` accepts; exactly those the `templates` function yields.
ATTRIBUTES = {
    "machineType",
    "containerImageUri",
    "replicaCount",
    "acceleratorType",
    "acceleratorCount",
    "timeout",
    "serviceAccount",
    "network",
    "workerPoolCount",
    "poolType",
}


@dataclass(frozen=True)
class Parameter:
    name: str
    direction: str
    type: str
    value: str | None  # the env var value; None for Output parameters


@dataclass(frozen=True)
class SubmitRequest:
    request_id: str
    job_name: str
    template: JobName | None
    attributes: dict[str, Any]
    parameters: tuple[Parameter, ...]
    fingerprint: str
    warnings: tuple[str, ...] = field(default=())


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


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid("must be a whole number", path)
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise invalid("must be a whole number", path)
    if not low <= int(value) <= high:
        raise invalid(f"must be between {low} and {high}", path)
    return int(value)


def parse_attributes(raw: Any, accelerators: Collection[str] | None = None) -> dict[str, Any]:
    """Validate attributes. `accelerators`: the accelerator types Vertex AI knows (from the Vertex AI adapter);
    an unknown one is refused here, before anything is claimed or sent."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid("attributes must be an object", "attributes")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"attributes.{key}"
        if key not in ATTRIBUTES:
            raise invalid(f"unknown attribute '{key[:64]}'; supported: {', '.join(sorted(ATTRIBUTES))}", path)
        if value is None:
            continue
        if key in ("replicaCount", "workerPoolCount"):
            out[key] = _int(value, path, 1, 10000)
        elif key == "acceleratorCount":
            out[key] = _int(value, path, 0, 64)
        else:
            if not isinstance(value, str):
                raise invalid("must be a string", path)
            pattern = {
                "machineType": MACHINE_TYPE_RE,
                "containerImageUri": IMAGE_RE,
                "acceleratorType": ACCELERATOR_RE,
                "timeout": DURATION_RE,
                "serviceAccount": SERVICE_ACCOUNT_RE,
                "network": NETWORK_RE,
            }.get(key)
            if pattern is not None and not pattern.match(value):
                raise invalid(f"'{value[:100]}' is not a valid {key}", path)
            if key == "acceleratorType" and accelerators is not None and value not in accelerators:
                raise invalid(f"'{value}' is not a Vertex AI accelerator type: {', '.join(sorted(accelerators))}", path)
            if key == "poolType" and value not in ("container", "pythonPackage"):
                raise invalid("poolType must be 'container' or 'pythonPackage'", path)
            out[key] = value
    return out


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


def parse_parameters(raw: Any) -> tuple[tuple[Parameter, ...], tuple[str, ...]]:
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
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            raise invalid(
                f"parameter name '{str(name)[:64]}' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                f"{path}.name",
            )
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
            warnings.append(f"parameter {name} (Output) is not supported and was ignored")
            params.append(Parameter(name, direction, ptype, None))
            continue
        params.append(Parameter(name, direction, ptype, format_value(ptype, item.get("value"), f"{path}.value")))
    return tuple(params), tuple(warnings)


def parse_submit(body: dict[str, Any], accelerators: Collection[str] | None = None) -> SubmitRequest:
    request_id = body.get("requestId")
    if not isinstance(request_id, str) or not REQUEST_ID_RE.match(request_id):
        raise invalid("requestId is required: 1-128 characters of [A-Za-z0-9._:-]", "requestId")
    job_name = _string(body, "jobName", "jobName", required=True, max_len=512)
    assert job_name is not None
    external_id = body.get("externalId")
    template = parse_job_name(external_id, "externalId") if external_id not in (None, "") else None
    attributes = parse_attributes(body.get("attributes"), accelerators)
    if template is None:
        for key in ("machineType", "containerImageUri"):
            if key not in attributes:
                raise invalid(
                    f"attributes.{key} is required when no externalId (template) is given", f"attributes.{key}"
                )
    parameters, warnings = parse_parameters(body.get("parameters"))
    return SubmitRequest(request_id, job_name, template, attributes, parameters, fingerprint(body), warnings)
