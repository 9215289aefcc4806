"""Errors in the contract's form, and the upstream (Vertex AI) failures the services translate."""

from __future__ import annotations

from typing import Any

# The one table of canonical codes (google.rpc.Code names, plus the HTTP-only ones the connector answers with) and
# HTTP statuses: (code, its HTTP status, other HTTP statuses that mean it). Google's mapping:
# https://cloud.google.com/apis/design/errors#handling_errors (and google/rpc/code.proto). Read in both directions:
# `HTTP_STATUS` (what an `ApiError` is answered with) and `code_of_http` (what an HTTP status from Vertex AI, Cloud
# Storage or the web framework means); of two codes on one status, the first row wins.
STATUS_TABLE: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("INVALID_ARGUMENT", 400, (411, 414, 431)),
    ("FAILED_PRECONDITION", 400, (417,)),
    ("UNAUTHENTICATED", 401, ()),
    ("PERMISSION_DENIED", 403, ()),
    ("NOT_FOUND", 404, ()),
    ("METHOD_NOT_ALLOWED", 405, ()),
    ("ALREADY_EXISTS", 409, ()),
    ("PAYLOAD_TOO_LARGE", 413, ()),
    ("UNSUPPORTED_MEDIA_TYPE", 415, ()),
    ("RESOURCE_EXHAUSTED", 429, ()),
    ("CANCELLED", 499, ()),
    ("INTERNAL", 500, ()),
    ("UNIMPLEMENTED", 501, ()),
    ("UNAVAILABLE", 503, (502,)),
    ("DEADLINE_EXCEEDED", 504, (408,)),
)
HTTP_STATUS: dict[str, int] = {code: http for code, http, _ in STATUS_TABLE}
_CODE_OF_HTTP: dict[int, str] = {}
for code, http, more in STATUS_TABLE:
    for status in (http, *more):
        _CODE_OF_HTTP.setdefault(status, code)
del code, http, more, status


def code_of_http(http: int, default: str) -> str:
    """The canonical code an HTTP status means; `default` for one the table does not name."""
    return _CODE_OF_HTTP.get(http, default)


class ApiError(Exception):
    """An error answered to the caller as `{"error": {"status", "message", "field"}}`."""

    def __init__(
        self,
        status: str,
        message: str,
        field: str | None = None,
        *,
        http: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.http = http if http is not None else HTTP_STATUS.get(status, 500)
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


def invalid(message: str, field: str | None = None) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message, field)


class StoreUnavailable(ApiError):
    """The run store (Firestore) timed out or was unavailable (after its retries). Raised by the store adapter;
    answered as UNAVAILABLE with Retry-After: every store write is create-if-absent or conditional, so the
    caller's retry is safe."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self, method: str = "") -> None:
        super().__init__(
            "UNAVAILABLE",
            "the run store (Firestore) did not answer in time; retry the same request",
            retry_after=self.RETRY_AFTER_SECONDS,
        )
        self.method = method


class UpstreamError(Exception):
    """A Vertex AI call that failed for good (after retries). `code` is the canonical status name."""

    TRANSIENT = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "UNKNOWN"})

    def __init__(self, code: str, message: str, *, method: str = "") -> None:
        super().__init__(f"{method}: {code}: {message}" if method else f"{code}: {message}")
        self.code = code
        self.message = message
        self.method = method

    @property
    def transient(self) -> bool:
        return self.code in self.TRANSIENT
