"""docs/openapi.yaml: a valid OpenAPI 3.1 document, in step with the code, and what the real handlers answer.

Every response of a set of real calls (each success and each error kind of every function, runs of all three job
types, a healthy and an unhealthy `health`) is validated against the spec's schema for its operation and status code,
with its declared headers (Retry-After on the errors 429/503).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.helpers import PARENT, create_template, example_body, job_client

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
ENDPOINTS = {"submit": ("/submit", "post"), "cancel": ("/cancel", "post"), "status": ("/status", "get")}
ENDPOINTS["templates"] = ("/templates", "get")
ENDPOINTS["health"] = ("/health", "get")
PIPELINE = "Vertex AI Pipeline Job"
BATCH = "Vertex AI Batch Prediction Job"
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
# A compiled KFP pipeline (IR) as a template: typed inputs (the emulator's scenario and outputs knobs declared, since
# the connector refuses undeclared parameter names) and one output parameter.
PIPELINE_TEMPLATE_JOB = {
    "displayName": "spec-pipeline",
    "labels": {"team": "ml"},
    "pipelineSpec": {
        "pipelineInfo": {"name": "spec-train"},
        "root": {
            "inputDefinitions": {
                "parameters": {
                    "epochs": {"parameterType": "NUMBER_INTEGER"},
                    "lr": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1},
                    "config": {"parameterType": "STRUCT"},
                    "VERTEX_EMULATOR_SCENARIO": {"parameterType": "STRING"},
                    "VERTEX_EMULATOR_OUTPUTS": {"parameterType": "STRING"},
                }
            },
            "outputDefinitions": {"parameters": {"score": {"parameterType": "NUMBER_DOUBLE"}}},
            "dag": {"tasks": {}},
        },
        "schemaVersion": "2.1.0",
        "sdkVersion": "kfp-2.7.0",
    },
    "runtimeConfig": {"gcsOutputDirectory": "gs://pipeline-root/spec", "parameterValues": {"epochs": 3}},
}
BATCH_TEMPLATE_JOB = {
    "displayName": "spec-batch",
    "labels": {"team": "ml"},
    "model": "projects/local-project/locations/us-central1/models/spec-model",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://batch-in/x.jsonl"]}},
    "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://batch-out/p"}},
    "modelParameters": {"temperature": 0.5},
}
FAST = "PENDING:1,RUNNING:1,SUCCEEDED"  # scaled by the emulator's time factor (0.02): a fraction of a second


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


def _vertex_clients(url: str) -> tuple[Any, Any]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import JobServiceClient, PipelineServiceClient

    opts = {"api_endpoint": url}
    return (
        PipelineServiceClient(transport="rest", client_options=opts, credentials=AnonymousCredentials()),
        JobServiceClient(transport="rest", client_options=opts, credentials=AnonymousCredentials()),
    )


def create_pipeline_template(url: str, job: dict[str, Any], job_id: str) -> str:
    from google.cloud.aiplatform_v1.types import PipelineJob

    pipelines, _ = _vertex_clients(url)
    created = pipelines.create_pipeline_job(
        parent=PARENT, pipeline_job=PipelineJob.from_json(json.dumps(job)), pipeline_job_id=job_id
    )
    return str(created.name)


def create_batch_template(url: str, job: dict[str, Any]) -> str:
    from google.cloud.aiplatform_v1.types import BatchPredictionJob

    _, jobs = _vertex_clients(url)
    created = jobs.create_batch_prediction_job(
        parent=PARENT, batch_prediction_job=BatchPredictionJob.from_json(json.dumps(job))
    )
    return str(created.name)


def poll_until_final(call: Callable[..., Any], run_id: str, timeout: float = 30.0) -> None:
    """Run poll ticks (the real poll service) until the run's recorded status is final."""
    from polysync_vertex import bootstrap

    deadline = time.monotonic() + timeout
    while True:
        bootstrap.app().poll.poll(None)
        run = call("status", query=urlencode({"runId": run_id})).get_json()
        if run["status"] != "Running":
            return
        assert time.monotonic() < deadline, f"{run_id} still {run['vertexState']}"
        time.sleep(0.1)


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
        "/health": {"get"},
    }
    scheme = spec["components"]["securitySchemes"]["polysyncSignature"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Polysync-Signature")
    assert "HMAC-SHA256" in scheme["description"] and "300 s" in scheme["description"]
    assert spec["security"] == [{"polysyncSignature": []}]
    for name in ("SubmitRequest", "SubmitResponse", "Run", "Template", "TemplateList", "Error", "HealthReport"):
        assert name in spec["components"]["schemas"], name
    success = {"submit": {"200", "201"}, "cancel": {"200", "202"}, "status": {"200"}, "templates": {"200"}}
    success["health"] = {"200", "503"}
    for target, (path, method) in ENDPOINTS.items():
        responses = spec["paths"][path][method]["responses"]
        assert success[target] <= set(responses), target
        assert {"400", "401", "500"} | ({"404"} if target != "health" else set()) <= set(responses), target
        for code, response in responses.items():
            response = _resolve(spec, response)
            schema = response["content"]["application/json"]["schema"]
            if code in success[target]:  # health's 503 is its report, not an error
                assert _errors(spec, schema, {"error": {"status": "UNAVAILABLE", "message": "m"}}), (target, code)
                assert "Retry-After" not in (response.get("headers") or {}), (target, code)
            elif int(code) >= 400:
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
    health = spec["paths"]["/health"]["get"]
    assert [p["name"] for p in health["parameters"]] == ["deep"]
    check = {"name": "firestore", "ok": False, "message": "m"}
    for code, ok in (("200", True), ("503", False)):
        schema = _resolve(spec, health["responses"][code])["content"]["application/json"]["schema"]
        assert not _errors(spec, schema, {"ok": ok, "checks": [{**check, "ok": ok}]}), code
        assert _errors(spec, schema, {"ok": not ok, "checks": [{**check, "ok": not ok}]}), code


def test_spec_is_in_step_with_the_code(spec: dict[str, Any]) -> None:
    from polysync_vertex.core import attributes as attrs
    from polysync_vertex.core import kinds, links, names, parameters, request, runs
    from polysync_vertex.core.kinds import batch_attributes as batch_attrs
    from polysync_vertex.core.kinds import custom, pipeline
    from polysync_vertex.services import health

    schemas = spec["components"]["schemas"]

    def same(pattern: str, code: re.Pattern[str]) -> None:
        assert pattern.removesuffix("$") == code.pattern.removesuffix("\\Z"), (pattern, code.pattern)

    props = schemas["SubmitRequest"]["properties"]
    same(props["requestId"]["pattern"], request.REQUEST_ID_RE)
    same(schemas["Parameter"]["properties"]["name"]["pattern"], parameters.ENV_NAME_RE)
    assert set(schemas["Parameter"]["properties"]["direction"]["enum"]) == set(parameters.DIRECTIONS)
    assert set(schemas["Parameter"]["properties"]["type"]["enum"]) == set(parameters.TYPES)
    attributes = schemas["Attributes"]["properties"]
    assert set(attributes) == custom.ATTRIBUTES
    for key, regex in (
        ("machineType", attrs.MACHINE_TYPE_RE),
        ("containerImageUri", attrs.IMAGE_RE),
        ("acceleratorType", attrs.ACCELERATOR_RE),
        ("timeout", attrs.DURATION_RE),
        ("serviceAccount", attrs.SERVICE_ACCOUNT_RE),
        ("network", attrs.NETWORK_RE),
    ):
        same(attributes[key]["pattern"], regex)
    # One name schema per job kind, each with the kind's collection and id pattern; JobName is one of them.
    name_schemas = {"customJobs": "CustomJobName", "pipelineJobs": "PipelineJobName"}
    name_schemas["batchPredictionJobs"] = "BatchPredictionJobName"
    assert set(name_schemas) == set(kinds.BY_COLLECTION)
    assert [s["$ref"].rsplit("/", 1)[1] for s in schemas["JobName"]["oneOf"]] == list(name_schemas.values())
    for collection, schema_name in name_schemas.items():
        job_name = schemas[schema_name]["pattern"]
        id_re = kinds.BY_COLLECTION[collection].id_pattern
        for part in (names.PROJECT_RE, names.LOCATION_RE):
            assert part.pattern.strip("^").removesuffix("\\Z") in job_name, part.pattern
        assert job_name.endswith(f"/{collection}/{id_re.pattern.strip('^').removesuffix(chr(92) + 'Z')}$"), job_name
    assert schemas["JobType"]["enum"] == [k.job_type for k in kinds.KINDS]
    # Each kind's attribute set, with the code's patterns.
    for schema_name, kind in (
        ("Attributes", kinds.CUSTOM),
        ("PipelineJobAttributes", kinds.PIPELINE),
        ("BatchPredictionJobAttributes", kinds.BATCH),
    ):
        assert set(schemas[schema_name]["properties"]) == set(kind.attributes), schema_name
    pipeline_attributes = schemas["PipelineJobAttributes"]["properties"]
    for key, regex in (
        ("gcsOutputDirectory", attrs.GCS_URI_RE),
        ("serviceAccount", attrs.SERVICE_ACCOUNT_RE),
        ("network", attrs.NETWORK_RE),
        ("templateUri", pipeline.TEMPLATE_URI_RE),
    ):
        same(pipeline_attributes[key]["pattern"], regex)
    batch_attributes = schemas["BatchPredictionJobAttributes"]["properties"]
    same(batch_attributes["model"]["pattern"], batch_attrs.MODEL_RE)
    same(batch_attributes["machineType"]["pattern"], attrs.MACHINE_TYPE_RE)
    same(batch_attributes["serviceAccount"]["pattern"], attrs.SERVICE_ACCOUNT_RE)
    same(schemas["GcsUri"]["pattern"], attrs.GCS_URI_RE)
    same(schemas["BigQueryTableUri"]["pattern"], batch_attrs.BQ_TABLE_RE)
    same(schemas["BigQueryDestinationUri"]["pattern"], batch_attrs.BQ_DESTINATION_RE)
    for config, fmt in (("inputConfig", "instancesFormat"), ("outputConfig", "predictionsFormat")):
        same(batch_attributes[config]["properties"][fmt]["pattern"], batch_attrs.FORMAT_RE)
    # Responses: the fields `public()` answers, in its order; the kinds' output fields on Run.
    assert tuple(schemas["SubmitResponse"]["required"]) == (*runs.SUBMIT_FIELDS, "jobType")
    assert set(schemas["SubmitResponse"]["properties"]) == {*runs.SUBMIT_FIELDS, "jobType"}
    assert tuple(schemas["Run"]["required"]) == (*runs.PUBLIC_FIELDS, "jobType")
    output_fields = {f for k in kinds.KINDS for f in k.output_fields}
    assert output_fields == {"outputs", "failedTasks", "outputInfo", "completionStats", "partialFailures"}
    # diagnostics: a Failed run's; logs: status?logs=N's (issue 25).
    assert set(schemas["Run"]["properties"]) == {*runs.PUBLIC_FIELDS, "jobType", *output_fields, "diagnostics", "logs"}
    for kind in kinds.KINDS:
        record = {f: None for f in runs.PUBLIC_FIELDS} | {"jobType": kind.job_type}
        assert set(runs.public(record)) == {*runs.PUBLIC_FIELDS, "jobType", *kind.output_fields}, kind.job_type
    for state in (*kinds.CUSTOM.states.status, *kinds.PIPELINE.states.status, kinds.PIPELINE.states.deleted):
        assert not _errors(spec, {"$ref": "#/components/schemas/VertexState"}, state), state
    # Links: core/links' LINK_* constants, and the BigQuery table link the Batch Prediction kind names itself.
    link_types = {v for k, v in vars(links).items() if k.startswith("LINK_")} | {"gcp-big-query-table"}
    assert set(schemas["Link"]["properties"]["type"]["enum"]) == link_types
    assert set(schemas["TemplateParameter"]["properties"]["type"]["enum"]) == set(parameters.TYPES)
    check_name = schemas["HealthCheck"]["properties"]["name"]["pattern"]
    assert f"({'|'.join(health.FUNCTIONS)})" in check_name
    assert f"({'|'.join(k.collection for k in kinds.KINDS)})" in check_name
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
        "jobType": "Vertex AI Custom Job",
    }
    response = {"$ref": "#/components/schemas/SubmitResponse"}
    assert not _errors(spec, response, contract_response)
    assert _errors(spec, response, {**contract_response, "extra": 1})
    assert _errors(spec, response, {k: v for k, v in contract_response.items() if k != "jobType"})
    # The other job types' examples, and what the per-type rules refuse.
    request = {"$ref": "#/components/schemas/SubmitRequest"}
    pipeline_example, batch_example = spec["components"]["schemas"]["SubmitRequest"]["examples"]
    assert not _errors(spec, request, pipeline_example)
    assert not _errors(spec, request, batch_example)
    assert _errors(spec, request, {**pipeline_example, "attributes": {"machineType": "n1-standard-4"}})
    assert _errors(spec, request, {**batch_example, "attributes": {"templateUri": "gs://b-1/p.json"}})
    assert _errors(spec, request, {**batch_example, "jobType": "Vertex AI Training Job"})
    assert _errors(spec, request, example_body(attributes=batch_example["attributes"]))
    bigquery = {"bigquerySource": {"inputUri": "bq://my-proj.ds.table"}}
    for fmt, ok in (("bigquery", True), ("jsonl", False)):
        attributes = {**batch_example["attributes"], "inputConfig": {"instancesFormat": fmt, **bigquery}}
        assert bool(_errors(spec, request, {**batch_example, "attributes": attributes})) != ok, fmt
    json_param = {"name": "config", "type": "JSON", "value": "{}"}
    assert _errors(spec, request, {**pipeline_example, "parameters": [json_param]})
    assert not _errors(spec, request, {**pipeline_example, "parameters": [{**json_param, "value": [1, {"a": 2}]}]})
    health = spec["components"]["schemas"]["HealthReport"]
    assert not _errors(spec, {"$ref": "#/components/schemas/HealthReport"}, health["example"])
    run = {"$ref": "#/components/schemas/Run"}
    base = {**contract_response, "jobName": "nightly-train", "sequence": 1, "error": None, "lastPolled": None}
    base |= {"createTime": None, "startTime": None, "endTime": None, "updateTime": None}
    assert not _errors(spec, run, base)
    assert _errors(spec, run, {**base, "outputs": None})  # a Custom Job run has no outputs
    assert _errors(spec, run, {**base, "jobType": PIPELINE})  # a Pipeline Job run always has them
    assert not _errors(spec, run, {**base, "jobType": PIPELINE, "outputs": None})
    assert _errors(spec, run, {**base, "jobType": BATCH, "outputInfo": None})
    batch_run = {**base, "jobType": BATCH, "outputInfo": None, "completionStats": None, "partialFailures": None}
    assert not _errors(spec, run, batch_run)


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

    expected = {(t, c) for t in ENDPOINTS if t != "health" for c in (200, 400, 401, 404)}
    expected |= {("submit", c) for c in (201, 403, 409, 413, 415)} | {("cancel", c) for c in (202, 413, 415)}
    expected |= {("templates", 403)}
    assert expected <= checked.seen


def test_pipeline_and_batch_prediction_runs_conform(
    checked: Any, call: Any, spec: dict[str, Any], vertex: Any, vertex_server: Any
) -> None:
    """Submit (from a template and from attributes), status until final (outputs, outputInfo / completionStats),
    cancel and templates of the two other job types, each answer checked against the spec."""
    pipeline_template = create_pipeline_template(vertex_server.url, PIPELINE_TEMPLATE_JOB, "spec-pipeline-tpl")
    batch_template = create_batch_template(vertex_server.url, BATCH_TEMPLATE_JOB)

    # Pipeline Job: typed parameters, an Output read back from the final job.
    body = {
        "requestId": "spec-p-1",
        "jobName": "spec-pipeline",
        "externalId": pipeline_template,
        "parameters": [
            {"name": "epochs", "type": "Number", "value": 5},
            {"name": "config", "type": "JSON", "value": {"layers": [64, 32]}},
            {"name": "VERTEX_EMULATOR_SCENARIO", "value": FAST},
            {"name": "VERTEX_EMULATOR_OUTPUTS", "value": json.dumps({"score": 0.93})},
            {"name": "score", "direction": "Output", "type": "Number"},
        ],
    }
    created = checked("submit", body, expect=201).get_json()
    assert created["jobType"] == PIPELINE and "/pipelineJobs/psv-" in created["runId"]
    assert created["warnings"] == [] and list(created)[-2:] == ["warnings", "jobType"]
    assert checked("submit", body, expect=200).get_json() == created
    pending = checked("status", query=urlencode({"runId": created["runId"]}), expect=200).get_json()
    assert pending["outputs"] is None
    poll_until_final(call, created["runId"])
    final = checked("status", query=urlencode({"runId": created["runId"]}), expect=200).get_json()
    assert (final["status"], final["vertexState"]) == ("Success", "PIPELINE_STATE_SUCCEEDED")
    assert final["outputs"] == {"score": 0.93}
    run_schema = {"$ref": "#/components/schemas/Run"}
    assert _errors(spec, run_schema, {**final, "outputInfo": None})  # the per-type rules do bite
    undeclared = {**body, "requestId": "spec-p-2", "parameters": [{"name": "nope", "value": "x"}]}
    assert checked("submit", undeclared, expect=400).get_json()["error"]["field"] == "parameters[0].name"
    wrong_type = {**body, "requestId": "spec-p-3", "jobType": BATCH}
    assert checked("submit", wrong_type, expect=400).get_json()["error"]["field"] == "jobType"
    running = {
        **body,
        "requestId": "spec-p-4",
        "parameters": [{"name": "VERTEX_EMULATOR_SCENARIO", "value": "PENDING:1,RUNNING"}],
    }
    running_id = checked("submit", running, expect=201).get_json()["runId"]
    cancelled = checked("cancel", {"runId": running_id}, expect=202).get_json()
    assert (cancelled["vertexState"], cancelled["outputs"]) == ("PIPELINE_STATE_CANCELLING", None)
    assert checked("cancel", {"runId": created["runId"]}, expect=200).get_json()["outputs"] == {"score": 0.93}
    unknown_pipeline = PARENT + "/pipelineJobs/no-such-pipeline"
    checked("status", query=urlencode({"runId": unknown_pipeline}), expect=404)
    checked("status", query=urlencode({"runId": PARENT + "/pipelineJobs/Not_An_Id"}), expect=400)

    # Batch Prediction Job: from the template, and from attributes with jobType.
    batch_body = {
        "requestId": "spec-b-1",
        "jobName": "spec-batch",
        "externalId": batch_template,
        "attributes": {"machineType": "n1-standard-2", "startingReplicaCount": 1, "maxReplicaCount": 2},
        "parameters": [
            {"name": "temperature", "type": "Number", "value": 0.2},
            {"name": "VERTEX_EMULATOR_SCENARIO", "value": FAST},
            {"name": "PREDICTIONS", "direction": "Output", "type": "String"},
        ],
    }
    batch_run = checked("submit", batch_body, expect=201).get_json()
    assert batch_run["jobType"] == BATCH and "/batchPredictionJobs/" in batch_run["runId"]
    assert batch_run["warnings"] == ["parameter PREDICTIONS (Output) is not supported and was ignored"]
    pending = checked("status", query=urlencode({"runId": batch_run["runId"]}), expect=200).get_json()
    assert (pending["outputInfo"], pending["completionStats"], pending["partialFailures"]) == (None, None, None)
    poll_until_final(call, batch_run["runId"])
    final = checked("status", query=urlencode({"runId": batch_run["runId"]}), expect=200).get_json()
    assert final["status"] == "Success" and final["outputInfo"]["gcsOutputDirectory"].startswith("gs://batch-out/p/")
    assert final["completionStats"]["successfulCount"] == "100"
    no_template = {
        "requestId": "spec-b-2",
        "jobName": "spec-batch",
        "jobType": BATCH,
        "attributes": {k: BATCH_TEMPLATE_JOB[k] for k in ("model", "inputConfig", "outputConfig")},
        "parameters": [{"name": "VERTEX_EMULATOR_SCENARIO", "value": "PENDING:1,RUNNING"}],
    }
    other = checked("submit", no_template, expect=201).get_json()
    cancelled = checked("cancel", {"runId": other["runId"]}, expect=202).get_json()
    assert cancelled["vertexState"] == "JOB_STATE_CANCELLING" and cancelled["completionStats"] is None
    missing = {**no_template, "requestId": "spec-b-3", "attributes": {"model": BATCH_TEMPLATE_JOB["model"]}}
    assert checked("submit", missing, expect=400).get_json()["error"]["field"] == "attributes.inputConfig"
    checked(
        "submit", {**batch_body, "requestId": "spec-b-4", "externalId": PARENT + "/batchPredictionJobs/9"}, expect=404
    )

    # templates of each type, by externalId and listed by jobType.
    one = checked("templates", query=urlencode({"externalId": pipeline_template}), expect=200).get_json()
    assert (one["jobType"], one["pipelineName"]) == (PIPELINE, "spec-train") and "workerPools" not in one
    assert {"name": "score", "type": "Number", "direction": "Output", "default": None} in one["parameters"]
    one = checked("templates", query=urlencode({"externalId": batch_template}), expect=200).get_json()
    assert one["jobType"] == BATCH and "workerPools" not in one and "pipelineName" not in one
    template_schema = {"$ref": "#/components/schemas/Template"}
    assert _errors(spec, template_schema, {**one, "workerPools": 1})
    assert _errors(spec, template_schema, {**one, "attributes": {"templateUri": "gs://b-1/p.json"}})
    assert one["parameters"] == [{"name": "temperature", "type": "Number", "direction": "Input", "default": 0.5}]
    listing = {"project": "local-project", "location": "us-central1"}
    for job_type, template in ((PIPELINE, pipeline_template), (BATCH, batch_template)):
        page = checked("templates", query=urlencode({**listing, "jobType": job_type}), expect=200).get_json()
        assert [t["externalId"] for t in page["templates"]] == [template], job_type
    every = checked("templates", query=urlencode({**listing, "all": "true"}), expect=200).get_json()
    assert {t["jobType"] for t in every["templates"]} == {PIPELINE, BATCH}
    checked("templates", query=urlencode({**listing, "jobType": "Vertex AI Training Job"}), expect=400)
    assert {("submit", 201), ("submit", 200), ("status", 200), ("cancel", 202), ("templates", 200)} <= checked.seen


def test_health_conforms(checked: Any, vertex: Any) -> None:
    healthy = checked("health", query="", expect=200).get_json()
    names = [c["name"] for c in healthy["checks"]]
    assert names[:3] == ["webhook-secret", "firestore", "status-topic"]
    assert "vertex-permissions:local-project:submit" in names
    assert any(c.get("skipped") for c in healthy["checks"])  # the Pub/Sub emulator cannot test IAM
    deep = checked("health", query="deep=true", expect=200).get_json()
    assert "vertex-list:local-project:us-central1:pipelineJobs" in [c["name"] for c in deep["checks"]]
    checked("health", query="deep=false", expect=200)
    checked("health", query="deep=maybe", expect=400)
    checked("health", query="deep=true&deep=false", expect=400)
    checked("health", query="deep=true", secret="wrong", expect=401)
    try:
        vertex.deny_permissions("local-project", ["aiplatform.pipelineJobs.create"])
        report = checked("health", query="", expect=503).get_json()
        failed = [c for c in report["checks"] if not c["ok"] and not c.get("skipped")]
        assert [c["name"] for c in failed] == ["vertex-permissions:local-project:submit"]
        assert "aiplatform.pipelineJobs.create" in failed[0]["message"]
    finally:
        vertex.reset_permissions()
    vertex.add_fault(method="ListBatchPredictionJobs", http_status=403, status="PERMISSION_DENIED", ratio=1.0)
    try:
        report = checked("health", query="deep=true", expect=503).get_json()
        failed = {c["name"] for c in report["checks"] if not c["ok"] and not c.get("skipped")}
        assert failed == {
            f"vertex-list:{p}:{loc}:batchPredictionJobs"
            for p in ("local-project", "other-project")
            for loc in ("us-central1", "europe-west4")
        }
    finally:
        vertex.clear_faults()
    assert {("health", c) for c in (200, 400, 401, 503)} <= checked.seen


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
