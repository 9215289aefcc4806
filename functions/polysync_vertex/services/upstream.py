"""Translating Vertex AI failures into the contract's errors, with advice a platform engineer can act on."""

from __future__ import annotations

import re

from ..core.errors import ApiError, UpstreamError

_URL = re.compile(r"(GET|POST|PUT|PATCH|DELETE) https?://\S+:? ?")


def clean_detail(message: str) -> str:
    """The upstream message without the client library's request line (`POST http://host/v1/...?%24alt=...: `):
    internal URLs are no business of the caller."""
    return _URL.sub("", message)[:500]


def api_error(err: UpstreamError, *, project: str, field: str | None = None, what: str = "") -> ApiError:
    detail = clean_detail(err.message)
    if err.code == "PERMISSION_DENIED":
        return ApiError(
            "PERMISSION_DENIED",
            f"Vertex AI refused {err.method or 'the call'} in project {project}: {detail}. Grant the function's "
            f"service account the custom role Terraform defines for it on {project} (exactly the aiplatform.* "
            "permissions that function calls, instead of the broad roles/aiplatform.user; `polysync-vertex doctor` "
            "names the missing permission), and "
            "make sure the job's own service account may pull its image or read its inputs "
            "(roles/artifactregistry.reader on the repository, storage read on the buckets).",
        )
    if err.code == "NOT_FOUND":
        return ApiError("NOT_FOUND", f"{what or 'resource'} not found in Vertex AI: {detail}", field)
    if err.code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return ApiError("INVALID_ARGUMENT", f"Vertex AI rejected the job: {detail}", field)
    if err.code == "RESOURCE_EXHAUSTED":
        return ApiError(
            "RESOURCE_EXHAUSTED",
            f"Vertex AI quota exhausted after retries: {detail}; retry later",
            retry_after=30,
        )
    if err.code == "UNAUTHENTICATED":
        return ApiError(
            "UNAVAILABLE",
            "the connector could not authenticate to Vertex AI; check its service account",
            retry_after=60,
        )
    return ApiError("UNAVAILABLE", f"Vertex AI is unavailable after retries ({err.code}): {detail}", retry_after=10)


def logging_error(err: UpstreamError, *, project: str, field: str | None = None) -> ApiError:
    """A failed Cloud Logging read (`status?logs=N`) in the contract's form."""
    detail = clean_detail(err.message)
    if err.code == "PERMISSION_DENIED":
        return ApiError(
            "PERMISSION_DENIED",
            f"Cloud Logging refused to list log entries in project {project}: {detail}. The status function's "
            f"service account needs logging.logEntries.list on {project} (Terraform grants it with the function's "
            "custom role; `polysync-vertex doctor` names what is missing).",
        )
    if err.code == "INVALID_ARGUMENT":
        return ApiError("INVALID_ARGUMENT", f"Cloud Logging refused the request: {detail}", field)
    if err.code == "RESOURCE_EXHAUSTED":
        return ApiError(
            "RESOURCE_EXHAUSTED",
            f"Cloud Logging's read quota (60 a minute per project) is used up: {detail}; retry later",
            retry_after=30,
        )
    return ApiError("UNAVAILABLE", f"Cloud Logging is unavailable ({err.code}): {detail}", retry_after=10)
