"""core.errors.STATUS_TABLE, the one table of canonical codes and HTTP statuses, read in each direction its users
read it: what an ApiError is answered with, what the framework's own answers say, what Vertex AI's and Cloud
Storage's HTTP errors mean."""

from __future__ import annotations

import pytest

from polysync_vertex.core.errors import ApiError, code_of_http
from polysync_vertex.web import canonical_status


@pytest.mark.parametrize(
    ("code", "http"),
    [
        ("INVALID_ARGUMENT", 400),
        ("FAILED_PRECONDITION", 400),
        ("UNAUTHENTICATED", 401),
        ("PERMISSION_DENIED", 403),
        ("NOT_FOUND", 404),
        ("METHOD_NOT_ALLOWED", 405),
        ("ALREADY_EXISTS", 409),
        ("PAYLOAD_TOO_LARGE", 413),
        ("UNSUPPORTED_MEDIA_TYPE", 415),
        ("RESOURCE_EXHAUSTED", 429),
        ("INTERNAL", 500),
        ("UNAVAILABLE", 503),
    ],
)
def test_an_api_error_is_answered_with_its_codes_http_status(code: str, http: int) -> None:
    assert ApiError(code, "m").http == http


@pytest.mark.parametrize(
    ("http", "code"),
    [(400, "INVALID_ARGUMENT"), (405, "METHOD_NOT_ALLOWED"), (408, "DEADLINE_EXCEEDED"), (411, "INVALID_ARGUMENT")]
    + [(413, "PAYLOAD_TOO_LARGE"), (417, "FAILED_PRECONDITION"), (431, "INVALID_ARGUMENT"), (418, "INVALID_ARGUMENT")]
    + [(503, "UNAVAILABLE"), (505, "INTERNAL")],
)
def test_the_frameworks_answers_name_their_code(http: int, code: str) -> None:
    assert canonical_status(http) == code


@pytest.mark.parametrize(
    ("http", "code"),
    [(400, "INVALID_ARGUMENT"), (409, "ALREADY_EXISTS"), (429, "RESOURCE_EXHAUSTED"), (499, "CANCELLED")]
    + [(500, "INTERNAL"), (502, "UNAVAILABLE"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"), (418, "UNKNOWN")],
)
def test_an_upstream_http_status_means_its_code(http: int, code: str) -> None:
    assert code_of_http(http, "UNKNOWN") == code
