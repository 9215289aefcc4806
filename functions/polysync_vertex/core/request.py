"""Parsing and validation of request bodies. Errors name the JSON path at fault.

A submit body becomes a `SubmitRequest`: its job kind resolved once (from the template's collection or `jobType`),
its attributes validated by that kind, its parameters parsed (`core/parameters.py`), and its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from . import kinds
from .errors import ApiError, invalid
from .names import JobResourceName
from .parameters import Parameter, output_names, parse_parameters

__all__ = ["Parameter", "SubmitRequest", "parse_json_object", "parse_submit"]

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")


@dataclass(frozen=True)
class SubmitRequest:
    """A parsed submit. `job_name` is Polysync's free-text name of the job (the display name's stem), not a
    Vertex AI resource name; `template` is the template's resource name, if any."""

    request_id: str
    job_name: str
    template: JobResourceName | None
    attributes: dict[str, Any]
    parameters: tuple[Parameter, ...]
    fingerprint: str
    warnings: tuple[str, ...] = field(default=())
    kind: kinds.JobKind = kinds.DEFAULT

    @property
    def output_names(self) -> tuple[str, ...]:
        """The parameters whose final values the run reports (Output and InputOutput), in request order."""
        return output_names(self.parameters)


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


def request_fingerprint(
    request_id: str,
    job_name: str,
    kind: kinds.JobKind,
    template: JobResourceName | None,
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


def parse_submit(
    body: dict[str, Any], accelerators: Collection[str] | None = None, *, outputs_file: bool = False
) -> SubmitRequest:
    """`outputs_file`: an outputs bucket is configured, so kinds whose jobs write their Output parameters to a file
    (`JobKind.outputs_via_file`) take them instead of ignoring them with a warning."""
    request_id = body.get("requestId")
    if not isinstance(request_id, str) or not REQUEST_ID_RE.match(request_id):
        raise invalid("requestId is required: 1-128 characters of [A-Za-z0-9._:-]", "requestId")
    job_name = _string(body, "jobName", "jobName", required=True, max_len=512)
    assert job_name is not None
    external_id = body.get("externalId")
    template: JobResourceName | None = None
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
        outputs_supported=kind.outputs_supported or (outputs_file and kind.outputs_via_file),
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
        kind,
    )
