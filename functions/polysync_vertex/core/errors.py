"""Errors in the contract's form, and the upstream (Vertex AI) failures the services translate."""

from __future__ import annotations

from typing import Any

# HTTP status for each canonical code the connector answers with.
HTTP_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "ALREADY_EXISTS": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
}


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
