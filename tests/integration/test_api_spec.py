"""docs/openapi.yaml: a valid OpenAPI 3.1 document, in step with the code, and what the real handlers answer.

Every response of a set of real calls (each success and each error kind of every function) is validated against the
spec's schema for its operation and status code, with its declared headers (Retry-After on 429/503).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.helpers import create_template, example_body, job_client

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
ENDPOINTS = {"submit": ("/submit", "post"), "cancel": ("/cancel", "post"), "status": ("/status", "get")}
ENDPOINTS["templates"] = ("/templates", "get")
CONTRACT_ERRORS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}
TEMPLATE_JOB = {
    "displayName": "spec-template",
    "labels": {"team": "ml"},
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "containerSpec": {"imageUri": "us-docker.pkg.dev/local-project/t/job:1", "args": ["gs://b-1/x"]},
            }
        ],
        "baseOutputDirectory": {"outputUriPrefix": "gs://out-bucket/runs"},
    },
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


def _resolve(spec: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """Follow an OpenAPI (not JSON Schema) `$ref`, e.g. to #/components/responses/X."""
    while "$ref" in obj:
        node: Any = spec
        for part in obj["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    # The spec's components are the root document, so "#/components/schemas/X" references resolve.
    return Draft202012Validator(
        {**schema, "components": spec["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _errors(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    found = _validator(spec, schema).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def check_response(spec: dict[str, Any], target: str, resp: Any) -> None:
    """Assert that `resp` of function `target` is what the spec declares for its status code."""
    path, method = ENDPOINTS[target]
    responses = spec["paths"][path][method]["responses"]
    code = str(resp.status_code)
    assert code in responses, f"{target} answered {code}, which the spec does not declare: {resp.data[:300]!r}"
    declared = _resolve(spec, responses[code])
    assert resp.mimetype == "application/json", (target, code, resp.mimetype)
    schema = declared["content"]["application/json"]["schema"]
    body = json.loads(resp.data)
    problems = _errors(spec, schema, body)
    assert not problems, f"{target} {code}: {problems} in {body}"
    for name, header in (declared.get("headers") or {}).items():
        header = _resolve(spec, header)
        value = resp.headers.get(name)
        if header.get("required"):
            assert value is not None, f"{target} {code}: header {name} missing"
        if value is not None:
            assert not _errors(spec, header["schema"], value), (target, code, name, value)


# -- the document ----------------------------------------------------------------------------------------------
def test_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    assert spec["openapi"].startswith("3.1.")
    validate(spec)


def test_spec_declares_the_contract(spec: dict[str, Any]) -> None:
    assert {p: set(ops) for p, ops in spec["paths"].items()} == {
        "/submit": {"post"},
        "/cancel": {"post"},
        "/status": {"get"},
        "/templates": {"get"},
    }
    scheme = spec["components"]["securitySchemes"]["polysyncSignature"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Polysync-Signature")
    assert "HMAC-SHA256" in scheme["description"] and "300 s" in scheme["description"]
    assert spec["security"] == [{"polysyncSignature": []}]
    for name in ("SubmitRequest", "SubmitResponse", "Run", "Template", "TemplateList", "Error"):
        assert name in spec["components"]["schemas"], name
    success = {"submit": {"200", "201"}, "cancel": {"200", "202"}, "status": {"200"}, "templates": {"200"}}
    for target, (path, method) in ENDPOINTS.items():
        responses = spec["paths"][path][method]["responses"]
        assert success[target] <= set(responses), target
        assert {"400", "401", "404", "500"} <= set(responses), target
        for code, response in responses.items():
            response = _resolve(spec, response)
            schema = response["content"]["application/json"]["schema"]
            if int(code) >= 400:
                status = CONTRACT_ERRORS.get(int(code), "INTERNAL")
                error = {"error": {"status": status, "message": "m", "field": "f"}}
                assert not _errors(spec, schema, error), (target, code)
                wrong = {"error": {"status": "NOT_A_CODE", "message": "m"}}
                assert _errors(spec, schema, wrong), (target, code)
                assert ("Retry-After" in (response.get("headers") or {})) == (int(code) in (429, 503)), (target, code)
    for target in ("submit", "cancel"):
        path, method = ENDPOINTS[target]
        assert {"413", "415", "429", "503", "403"} <= set(spec["paths"][path][method]["responses"])
    assert "409" in spec["paths"]["/submit"]["post"]["responses"]


def test_spec_is_in_step_with_the_code(spec: dict[str, Any]) -> None:
    from polysync_vertex.core import names, request, runs, templates

    schemas = spec["components"]["schemas"]

    def same(pattern: str, code: re.Pattern[str]) -> None:
        assert pattern.removesuffix("$") == code.pattern.removesuffix("\\Z"), (pattern, code.pattern)

    props = schemas["SubmitRequest"]["properties"]
    same(props["requestId"]["pattern"], request.REQUEST_ID_RE)
    same(schemas["Parameter"]["properties"]["name"]["pattern"], request.ENV_NAME_RE)
    assert set(schemas["Parameter"]["properties"]["direction"]["enum"]) == set(request.DIRECTIONS)
    assert set(schemas["Parameter"]["properties"]["type"]["enum"]) == set(request.TYPES)
    attributes = schemas["Attributes"]["properties"]
    assert set(attributes) == request.ATTRIBUTES
    for key, regex in (
        ("machineType", request.MACHINE_TYPE_RE),
        ("containerImageUri", request.IMAGE_RE),
        ("acceleratorType", request.ACCELERATOR_RE),
        ("timeout", request.DURATION_RE),
        ("serviceAccount", request.SERVICE_ACCOUNT_RE),
        ("network", request.NETWORK_RE),
    ):
        same(attributes[key]["pattern"], regex)
    job_name = schemas["CustomJobName"]["pattern"]
    for part in (names.PROJECT_RE, names.LOCATION_RE, names.JOB_ID_RE):
        assert part.pattern.strip("^").removesuffix("\\Z") in job_name, part.pattern
    assert tuple(schemas["SubmitResponse"]["required"]) == runs.SUBMIT_FIELDS
    assert set(schemas["SubmitResponse"]["properties"]) == set(runs.SUBMIT_FIELDS)
    assert tuple(schemas["Run"]["required"]) == runs.PUBLIC_FIELDS
    assert set(schemas["Run"]["properties"]) == set(runs.PUBLIC_FIELDS)
    link_types = {v for k, v in vars(templates).items() if k.startswith("LINK_")}
    assert set(schemas["Link"]["properties"]["type"]["enum"]) == link_types
    assert request.MAX_BODY_BYTES == 256 * 1024


def test_examples_conform(spec: dict[str, Any]) -> None:
    submit = spec["paths"]["/submit"]["post"]["requestBody"]["content"]["application/json"]
    assert not _errors(spec, submit["schema"], submit["example"])
    assert not _errors(spec, submit["schema"], example_body())
    assert not _errors(spec, {"$ref": "#/components/schemas/Error"}, spec["components"]["schemas"]["Error"]["example"])
    # The contract's own submit response example.
    contract_response = {
        "runId": "projects/my-proj/locations/us-central1/customJobs/987",
        "requestId": "run-2026-11-22-0001",
        "displayName": "nightly-train_20261122T081500Z",
        "status": "Running",
        "vertexState": "JOB_STATE_PENDING",
        "consoleUrl": "https://console.cloud.google.com/vertex-ai/locations/us-central1/training/987?project=my-proj",
        "warnings": ["parameter SCORE (Output) is not supported and was ignored"],
    }
    assert not _errors(spec, {"$ref": "#/components/schemas/SubmitResponse"}, contract_response)
    assert _errors(spec, {"$ref": "#/components/schemas/SubmitResponse"}, {**contract_response, "extra": 1})


# -- the real handlers against the document ------------------------------------------------------------------------
@pytest.fixture
def checked(call: Callable[..., Any], spec: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Like `call`, but every response is checked against the spec; records which (function, code) were seen."""
    seen: set[tuple[str, int]] = set()

    def do(target: str, *args: Any, expect: int, **kwargs: Any) -> Any:
        resp = call(target, *args, **kwargs)
        assert resp.status_code == expect, (target, resp.status_code, resp.get_json())
        check_response(spec, target, resp)
        seen.add((target, expect))
        return resp

    do.seen = seen  # type: ignore[attr-defined]
    yield do


def test_successes_and_client_errors_conform(checked: Any, vertex: Any, vertex_server: Any) -> None:
    template = create_template(job_client(vertex_server.url), TEMPLATE_JOB)
    created = checked("submit", example_body("spec-1"), expect=201).get_json()
    checked("submit", example_body("spec-1"), expect=200)
    checked("submit", example_body("spec-1", jobName="other"), expect=409)
    checked("submit", example_body("spec-2", externalId=template["name"]), expect=201)
    checked("submit", example_body("bad id"), expect=400)
    checked("submit", raw=b"{", expect=400)
    checked("submit", example_body("spec-3"), secret="wrong", expect=401)
    forbidden = "projects/forbidden-proj/locations/us-central1/customJobs/1"
    checked("submit", example_body("spec-4", externalId=forbidden), expect=403)
    unknown = "projects/local-project/locations/us-central1/customJobs/999999"
    checked("submit", example_body("spec-5", externalId=unknown), expect=404)
    checked("submit", raw=b" " * (256 * 1024 + 1), expect=413)
    checked("submit", example_body("spec-6"), content_type="text/plain", expect=415)

    run_id = created["runId"]
    checked("status", query=urlencode({"runId": run_id}), expect=200)
    checked("status", query="runId=x", expect=400)
    checked("status", query="", expect=400)
    checked("status", query=urlencode({"runId": run_id}), secret="wrong", expect=401)
    checked("status", query=urlencode({"runId": unknown}), expect=404)

    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    cancelled = checked("cancel", {"runId": run_id}, expect=202).get_json()
    assert cancelled["vertexState"] == "JOB_STATE_CANCELLING"
    other = checked("submit", example_body("spec-7"), expect=201).get_json()["runId"]
    vertex.set_state(other, "JOB_STATE_SUCCEEDED")
    assert checked("cancel", {"runId": other}, expect=200).get_json()["status"] == "Success"
    checked("cancel", {"runId": "nope"}, expect=400)
    checked("cancel", {"runId": run_id}, secret="wrong", expect=401)
    checked("cancel", {"runId": unknown}, expect=404)
    checked("cancel", raw=b"x" * (256 * 1024 + 1), expect=413)
    checked("cancel", {"runId": run_id}, content_type="application/x-www-form-urlencoded", expect=415)

    one = checked("templates", query=urlencode({"externalId": template["name"]}), expect=200).get_json()
    assert one["externalId"] == template["name"] and one["links"]
    page = checked("templates", query="project=local-project&location=us-central1&pageSize=1", expect=200).get_json()
    assert len(page["templates"]) == 1 and "truncated" not in page
    walked = checked("templates", query="project=local-project&location=us-central1&all=true", expect=200)
    assert walked.get_json()["truncated"] is False
    checked("templates", query="project=local-project", expect=400)
    checked("templates", query="project=local-project&location=us-central1", secret="wrong", expect=401)
    checked("templates", query="project=forbidden-proj&location=us-central1", expect=403)
    checked("templates", query=urlencode({"externalId": unknown}), expect=404)

    expected = {(t, c) for t in ENDPOINTS for c in (200, 400, 401, 404)}
    expected |= {("submit", c) for c in (201, 403, 409, 413, 415)} | {("cancel", c) for c in (202, 413, 415)}
    expected |= {("templates", 403)}
    assert expected <= checked.seen


def test_upstream_errors_conform(checked: Any, call: Any, vertex: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from polysync_vertex import bootstrap

    run_id = call("submit", example_body("spec-up")).get_json()["runId"]
    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    monkeypatch.setenv("PSV_REQUEST_BUDGET_SECONDS", "1")
    bootstrap.app.cache_clear()
    listing = "project=local-project&location=us-central1"
    for http_status, status in ((429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE"), (403, "PERMISSION_DENIED")):
        vertex.clear_faults()
        vertex.add_fault(method="*", http_status=http_status, status=status, ratio=1.0)
        resp = checked("submit", example_body(f"spec-up-{http_status}"), expect=http_status)
        assert resp.get_json()["error"]["status"] == status
        checked("cancel", {"runId": run_id}, expect=http_status)
        checked("templates", query=listing, expect=http_status)
    vertex.clear_faults()
    for target in ("submit", "cancel", "templates"):
        assert {(target, c) for c in (403, 429, 503)} <= checked.seen


def test_internal_error_conforms(checked: Any, monkeypatch: pytest.MonkeyPatch, app: Any) -> None:
    from polysync_vertex import bootstrap

    def broken(doc_id: str) -> None:
        raise RuntimeError("store exploded")

    monkeypatch.setattr(bootstrap.app().store, "get_run", broken)
    resp = checked("status", query="runId=projects/local-project/locations/us-central1/customJobs/1", expect=500)
    assert "store exploded" not in resp.get_json()["error"]["message"]  # the cause goes to the log only
