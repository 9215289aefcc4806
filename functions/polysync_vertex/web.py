"""HTTP plumbing shared by the HTTP entry points: size, signature, content type, JSON, errors in contract form."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from . import log
from .core import auth
from .core.errors import ApiError, invalid
from .core.request import MAX_BODY_BYTES, parse_json_object

Result = tuple[int, dict[str, Any]]


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    from flask import Response

    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def error_response(err: ApiError) -> Any:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return _response(err.http, err.body(), headers)


def _leave_body_unread(request: Any) -> None:
    """functions-framework reads the whole remaining body into memory after every response (its `read_request`
    hook). For a body that is refused or never used, give it an empty stream instead: the WSGI server (gunicorn)
    discards what is left unread without keeping it."""
    request.stream = io.BytesIO()


def _read_body(request: Any) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        _leave_body_unread(request)
        raise ApiError("PAYLOAD_TOO_LARGE", f"request body is larger than {MAX_BODY_BYTES} bytes")
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        _leave_body_unread(request)
        raise ApiError("PAYLOAD_TOO_LARGE", f"request body is larger than {MAX_BODY_BYTES} bytes")
    return bytes(data)


def handle(
    request: Any,
    method: str,
    secrets: Callable[[], tuple[str, ...]],
    action: Callable[[Any], Result],
) -> Any:
    """Run `action` on a verified request. For POST it receives the parsed JSON object, for GET the query args."""
    with log.context(httpRequestId=uuid.uuid4().hex[:12], path=request.path):
        try:
            if request.method != method:
                _leave_body_unread(request)
                raise ApiError("INVALID_ARGUMENT", f"use {method} for this endpoint", http=405)
            if method == "POST":
                payload = _read_body(request)
            else:
                _leave_body_unread(request)
                payload = request.query_string or b""
            auth.verify(request.headers.get(auth.HEADER), payload, secrets(), time.time())
            if method == "POST":
                content_type = (request.mimetype or "").lower()
                if content_type != "application/json":
                    raise ApiError("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
                arg: Any = parse_json_object(payload)
            else:
                arg = request.args
            status, body = action(arg)
            return _response(status, body)
        except ApiError as err:
            if err.http >= 500:
                log.error("request failed", status=err.status, detail=err.message)
            else:
                log.info("request rejected", status=err.status, detail=err.message, field=err.field)
            return error_response(err)
        except Exception as exc:  # noqa: BLE001 - the caller gets a generic 500, the log gets the cause
            incident = uuid.uuid4().hex[:12]
            log.error("unhandled error", incident=incident, error=repr(exc)[:2000])
            return _response(
                500, {"error": {"status": "INTERNAL", "message": f"internal error (incident {incident}); retry later"}}
            )


def single_arg(args: Any, name: str, *, required: bool = True) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise invalid(f"{name} is given more than once", name)
    if not values or values[0] == "":
        if required:
            raise invalid(f"query parameter {name} is required", name)
        return None
    return str(values[0])
