"""Fuzzing the four HTTP functions from docs/openapi.yaml with valid signatures (Schemathesis + hypothesis).

Each generated request is serialised here, signed with the test secret and sent to the real handler. Whatever the
input: no 5xx, the response conforms to the spec (status code, content type, headers, body), every error is in the
contract's form, and a 4xx leaves nothing behind (no Firestore document, no CreateCustomJob / CancelCustomJob).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import example_body, stored_docs

PROJECT = "local-project"
LOCATION = "us-central1"
SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(str(SPEC))
WRITES = ("CreateCustomJob", "CancelCustomJob", "DeleteCustomJob")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ENDPOINTS = [("POST", "/submit"), ("POST", "/cancel"), ("GET", "/status"), ("GET", "/templates")]
FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _query_string(query: dict[str, Any] | None) -> str:
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "null" if value is None else str(value)

    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((str(key), text(item)))
    return urlencode(pairs)


def _steer(target: str, case: Any, run_id: str) -> None:
    """Point half the cases at what exists (an allowed project, a recorded run), so success paths are fuzzed too."""
    if target == "templates" and isinstance(case.query, dict) and "externalId" not in case.query:
        case.query.update(project=PROJECT, location=LOCATION)
    elif target == "status" and isinstance(case.query, dict):
        case.query["runId"] = run_id
    elif target == "cancel" and isinstance(case.body, dict):
        case.body["runId"] = run_id
    elif target == "submit" and isinstance(case.body, dict) and isinstance(case.body.get("attributes", {}), dict):
        # A Custom Job from the example's attributes and parameters (the unsteered half fuzzes job types and
        # parameters; a generated parameter list is rarely valid, so without this the success path went unreached).
        case.body.pop("externalId", None)
        case.body.pop("jobType", None)
        case.body["attributes"] = {**case.body.get("attributes", {}), **example_body()["attributes"]}
        case.body["parameters"] = example_body()["parameters"]


def _serialise_body(body: Any) -> bytes:
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, bytes):  # negative mode may send a body that is not JSON at all
        return body
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _assert_contract_error(resp: Any) -> None:
    body = resp.get_json(silent=True)
    assert isinstance(body, dict) and set(body) == {"error"}, resp.data[:500]
    error = body["error"]
    assert set(error) <= {"status", "message", "field"} and {"status", "message"} <= set(error), error
    assert isinstance(error["status"], str) and error["status"].isupper(), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error.get("field", ""), str), error


def _send_checked(call: Callable[..., Any], app: Any, vertex: Any, target: str, send: Callable[[], Any]) -> Any:
    """Send one request; check the guarantees that hold for any input. Returns the response."""
    before = stored_docs(app)
    vertex.reset_calls()
    resp = send()
    assert resp.status_code < 500, (target, resp.status_code, resp.data[:500])
    if resp.status_code >= 400:
        _assert_contract_error(resp)
        assert stored_docs(app) == before, (target, resp.get_json())
        calls = vertex.calls()
        assert not any(calls.get(m, 0) for m in WRITES), (target, resp.get_json(), calls)
    return resp


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[p.strip("/") for _, p in ENDPOINTS])
def test_every_endpoint_survives_generated_requests(
    method: str, path: str, call: Callable[..., Any], app: Any, vertex: Any
) -> None:
    operation = SCHEMA[path][method]
    target = path.strip("/")
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    statuses: list[int] = []
    seeded = call("submit", example_body("fuzz-seed")).get_json()["runId"]

    @FUZZ_SETTINGS
    @given(case=cases, steer=st.booleans())
    def fuzz(case: Any, steer: bool) -> None:
        if steer:
            _steer(target, case, seeded)
        if method == "POST":
            raw = _serialise_body(case.body)
            resp = _send_checked(call, app, vertex, target, lambda: call(target, raw=raw))
        else:
            query = _query_string(case.query)
            resp = _send_checked(call, app, vertex, target, lambda: call(target, query=query))
        statuses.append(resp.status_code)
        case.validate_response(resp, checks=CHECKS)

    fuzz()
    # The fuzzer reached both the validation and the success path of the endpoint.
    assert any(400 <= s < 500 for s in statuses) and any(s < 300 for s in statuses), statuses


# Values of every JSON type (and a few hostile strings) to put in one place of a valid request.
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\u202e", "..", "../x", "%2F", "projects/a/locations/b/customJobs/1/../2"]),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
SUBMIT_PATHS = [
    ("requestId",),
    ("jobName",),
    ("externalId",),
    ("attributes",),
    ("attributes", "machineType"),
    ("attributes", "containerImageUri"),
    ("attributes", "replicaCount"),
    ("attributes", "acceleratorCount"),
    ("attributes", "timeout"),
    ("attributes", "serviceAccount"),
    ("parameters",),
    ("parameters", 0),
    ("parameters", 0, "name"),
    ("parameters", 0, "type"),
    ("parameters", 0, "value"),
    ("parameters", 1, "direction"),
]


def test_submit_survives_one_hostile_value_in_a_valid_request(call: Callable[..., Any], app: Any, vertex: Any) -> None:
    """Closer to the deep validation than schema-driven data: a valid request with one place replaced."""
    statuses: list[int] = []
    counter = iter(range(10**6))

    @FUZZ_SETTINGS
    @given(where=st.sampled_from(SUBMIT_PATHS), value=JSON_VALUES)
    def fuzz(where: tuple[Any, ...], value: Any) -> None:
        body = example_body(f"mut-{next(counter)}")
        node: Any = body
        for step in where[:-1]:
            node = node[step]
        node[where[-1]] = value
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        resp = _send_checked(call, app, vertex, "submit", lambda: call("submit", raw=raw))
        assert resp.status_code in (200, 201, 400, 403, 404), (where, value, resp.get_json())
        statuses.append(resp.status_code)

    fuzz()
    assert 400 in statuses and (201 in statuses or 200 in statuses), statuses
