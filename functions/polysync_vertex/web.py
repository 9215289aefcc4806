"""HTTP plumbing shared by the HTTP entry points: size, signature, content type, JSON, errors in contract form."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import log
from .core import auth
from .core.errors import ApiError, code_of_http, invalid
from .core.request import MAX_BODY_BYTES, parse_json_object

if TYPE_CHECKING:
    from .services.template_query import TemplateQuery

Result = tuple[int, dict[str, Any]]


class _FramingError(Exception):
    """A body that could not be read: answered before authentication, with `Connection: close`."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


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


def framing_error(detail: str) -> ApiError:
    """The answer to a request whose body cannot be read as HTTP framed it: 400, and the connection is closed
    (what is left on it cannot be trusted to start the next request)."""
    return ApiError(
        "INVALID_ARGUMENT",
        f"the request body could not be read ({detail}): send it whole, with one valid Content-Length or "
        "valid chunked Transfer-Encoding",
    )


def _read_body(request: Any) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        _leave_body_unread(request)
        raise ApiError("PAYLOAD_TOO_LARGE", f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = request.stream.read(MAX_BODY_BYTES + 1)
    except Exception as exc:  # noqa: BLE001 - whatever the WSGI server raises for broken framing is the client's
        # gunicorn: InvalidChunkSize, ChunkMissingTerminator, NoMoreData; werkzeug: ClientDisconnected; a socket
        # read timeout (the local stack's slow-client bound): TimeoutError. None of them is a server fault.
        _leave_body_unread(request)
        raise _FramingError(framing_error(type(exc).__name__)) from exc
    if length is not None and len(data) < length:  # gunicorn hands over what came before the client closed
        _leave_body_unread(request)
        raise _FramingError(framing_error(f"{len(data)} of the {length} bytes Content-Length announced"))
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
        except _FramingError as framing:
            log.info("request rejected", status=framing.error.status, detail=framing.error.message)
            return _response(framing.error.http, framing.error.body(), {"Connection": "close"})
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


# -- framework answers in the contract's form --------------------------------------------------------------------
def canonical_status(http: int) -> str:
    """The canonical code for an HTTP status the framework or the WSGI server answers with."""
    return code_of_http(http, "INVALID_ARGUMENT" if 400 <= http < 500 else "INTERNAL")


def framework_error_body(http: int, message: str) -> dict[str, Any]:
    return {"error": {"status": canonical_status(http), "message": message}}


def install_error_handlers(app: Any | None = None) -> Any:
    """Answer what Flask / functions-framework answer on their own (the 404 of `/favicon.ico` and `/robots.txt`,
    405, a 400 from werkzeug) as JSON in the contract's error form. `app` defaults to the Flask app being set up
    (functions-framework executes main.py inside its app context). Idempotent; 500s keep functions-framework's
    crash handler (registered for code 500, which Flask prefers over this class-wide handler)."""
    import flask
    from werkzeug.exceptions import HTTPException

    target = app if app is not None else flask.current_app._get_current_object()  # type: ignore[attr-defined]
    if getattr(target, "_polysync_error_handlers", False):
        return target

    def handler(exc: HTTPException) -> Any:
        http = int(exc.code or 500)
        if http == 404:
            message = f"no such resource: {flask.request.path}; the function is served at /"
        else:
            message = str(exc.description or exc.name)
        headers = {"Connection": "close"} if http in (400, 408, 411, 413, 431) else None
        return _response(http, framework_error_body(http, message), headers)

    target.register_error_handler(HTTPException, handler)
    target._polysync_error_handlers = True
    return target


def single_arg(args: Any, name: str, *, required: bool = True) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise invalid(f"{name} is given more than once", name)
    if not values or values[0] == "":
        if required:
            raise invalid(f"query parameter {name} is required", name)
        return None
    return str(values[0])


# -- query arguments ---------------------------------------------------------------------------------------------
def parse_flag(name: str, value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise invalid(f"{name} must be true or false", name)
    return lowered == "true"


def parse_page_size(value: str | None, maximum: int) -> int:
    if value is None:
        return maximum
    # ASCII digits only: str.isdigit() also accepts other scripts' digits and superscripts ("²"), which int() refuses.
    digits = value.lstrip("0")
    if not (value.isascii() and value.isdigit()) or not digits:
        raise invalid(f"pageSize must be a whole number from 1 to {maximum}", "pageSize")
    # Larger values are lowered; without converting thousands of digits (int() refuses over 4,300 of them).
    return maximum if len(digits) > 3 else min(int(digits), maximum)


def templates_query(args: Any) -> TemplateQuery:
    """The `templates` function's query string as the service's query (unknown parameters are ignored)."""
    from .services.template_query import MAX_PAGE_SIZE, TemplateQuery

    def arg(name: str) -> str | None:
        return single_arg(args, name, required=False)

    return TemplateQuery(
        external_id=arg("externalId"),
        project=arg("project"),
        location=arg("location"),
        job_type=arg("jobType"),
        filter=arg("filter") or "",
        page_size=parse_page_size(arg("pageSize"), MAX_PAGE_SIZE),
        page_token=arg("pageToken") or "",
        walk_all=parse_flag("all", arg("all")),
        include_runs=parse_flag("includeRuns", arg("includeRuns")),
    )
