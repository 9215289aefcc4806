"""Translating Vertex AI failures into the contract's errors, with advice a platform engineer can act on."""

from __future__ import annotations

from ..core.errors import ApiError, UpstreamError


def api_error(err: UpstreamError, *, project: str, field: str | None = None, what: str = "") -> ApiError:
    detail = err.message[:500]
    if err.code == "PERMISSION_DENIED":
        return ApiError(
            "PERMISSION_DENIED",
            f"Vertex AI refused {err.method or 'the call'} in project {project}: {detail}. Grant the connector's "
            f"service account Vertex AI User (roles/aiplatform.user) on {project}, and make sure the job's worker "
            "service account may pull the container image (roles/artifactregistry.reader on its repository).",
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
