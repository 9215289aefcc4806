"""Vertex AI Pipeline Jobs end to end (issue 14): submit, status, cancel, poll, events and templates through the real
function handlers, the Firestore and Pub/Sub emulators and our Vertex AI emulator, read back with the official
`aiplatform_v1.PipelineServiceClient` over REST."""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import LOCATION, PROJECT, pull_events
from tests.helpers import PARENT, stored_docs, wait_for

PIPELINE = "Vertex AI Pipeline Job"
MANAGED = 'labels.managed-by="polysync-vertex"'
KMS = f"projects/{PROJECT}/locations/{LOCATION}/keyRings/ring/cryptoKeys/key"
SERVICE_ACCOUNT = f"pipelines@{PROJECT}.iam.gserviceaccount.com"
NETWORK = "projects/123456/global/networks/vpc"
BILLING = "vertex-ai-pipelines-run-billing-id"

# A KFP IR pipelineSpec declaring one input of each KFP parameter type (STRING three times: String, Date, DateTime)
# and two outputs.
SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "train-pipeline"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.7.0",
    "root": {
        "dag": {"tasks": {"train": {"taskInfo": {"name": "train"}}, "evaluate": {"taskInfo": {"name": "evaluate"}}}},
        "inputDefinitions": {
            "parameters": {
                "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 5},
                "rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1},
                "fast": {"parameterType": "BOOLEAN", "defaultValue": False},
                "name": {"parameterType": "STRING", "defaultValue": "spec-default"},
                "day": {"parameterType": "STRING", "isOptional": True},
                "at": {"parameterType": "STRING", "isOptional": True},
                "config": {"parameterType": "STRUCT", "isOptional": True},
                "layers": {"parameterType": "LIST", "isOptional": True},
            }
        },
        "outputDefinitions": {
            "parameters": {
                "accuracy": {"parameterType": "NUMBER_DOUBLE"},
                "model_uri": {"parameterType": "STRING"},
            }
        },
    },
}
DECLARED = "at, config, day, epochs, fast, layers, name, rate"


# -- official client helpers -----------------------------------------------------------------------------------
def pipeline_client(url: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import PipelineServiceClient

    return PipelineServiceClient(
        transport="rest", client_options={"api_endpoint": url}, credentials=AnonymousCredentials()
    )


def to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(type(message).pb(message))


def get_pipeline(client: Any, name: str) -> dict[str, Any]:
    return to_dict(client.get_pipeline_job(name=name))


def list_pipelines(client: Any, filter: str = MANAGED, parent: str = PARENT) -> list[dict[str, Any]]:
    return [to_dict(j) for j in client.list_pipeline_jobs(request={"parent": parent, "filter": filter})]


def create_pipeline(
    client: Any, job: dict[str, Any], job_id: str | None = None, parent: str = PARENT
) -> dict[str, Any]:
    from google.cloud.aiplatform_v1.types import PipelineJob

    request: dict[str, Any] = {"parent": parent, "pipeline_job": PipelineJob.from_json(json.dumps(job))}
    if job_id:
        request["pipeline_job_id"] = job_id
    return to_dict(client.create_pipeline_job(request=request))


def template_job(scenario: str = "PENDING", outputs: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A pipeline run to use as template: every cloned field set; its scenario (and output values) are emulator
    control parameters, cloned with its runtimeConfig into every run made from it."""
    values: dict[str, Any] = {"epochs": 3, "name": "template-value", "VERTEX_EMULATOR_SCENARIO": scenario}
    if outputs is not None:
        values["VERTEX_EMULATOR_OUTPUTS"] = json.dumps(outputs)
    job: dict[str, Any] = {
        "displayName": "train-template",
        "pipelineSpec": copy.deepcopy(SPEC),
        "runtimeConfig": {
            "gcsOutputDirectory": "gs://pipeline-root/runs",
            "parameterValues": values,
            "failurePolicy": "PIPELINE_FAILURE_POLICY_FAIL_FAST",
        },
        "serviceAccount": SERVICE_ACCOUNT,
        "network": NETWORK,
        "reservedIpRanges": ["range-a"],
        "encryptionSpec": {"kmsKeyName": KMS},
        "labels": {"team": "vision", "vertex-ai-pipelines-extra": "managed"},
    }
    job.update(overrides)
    return job


@pytest.fixture
def pipelines(vertex_server: Any) -> Any:
    return pipeline_client(vertex_server.url)


@pytest.fixture
def template(pipelines: Any, vertex: Any) -> dict[str, Any]:
    """A template pipeline run; the emulator's call counters start after it."""
    created = create_pipeline(pipelines, template_job())
    vertex.reset_calls()
    return created


def body_for(template: dict[str, Any] | None, request_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"requestId": request_id, "jobName": "nightly-pipeline"}
    if template is not None:
        body["externalId"] = template["name"]
    body.update(overrides)
    return body


def submit(app: Any, body: dict[str, Any]) -> dict[str, Any]:
    code, resp = app.submit.submit(body)
    assert code == 201, resp
    return resp


def doc_id(run_id: str) -> str:
    from polysync_vertex.core.kinds import parse_run_name, run_doc_id

    return run_doc_id(parse_run_name(run_id, "runId")[1])


def events_of(sub: str, expect: int) -> list[dict[str, Any]]:
    return pull_events(sub, expect=expect, max_wait=10)


# -- submit: clone, attributes, parameters ----------------------------------------------------------------------
def test_clone_fidelity_labels_id_and_console_url(
    call: Any, vertex: Any, pipelines: Any, template: dict[str, Any]
) -> None:
    from polysync_vertex.core.kinds import PIPELINE as KIND
    from polysync_vertex.core.labels import request_key

    assert template["labels"][BILLING]  # Vertex AI (the emulator) labelled the template run
    resp = call("submit", body_for(template, "clone-1"))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    job_id = KIND.job_id(request_key("clone-1"))
    assert body["runId"] == f"{PARENT}/pipelineJobs/{job_id}"  # pipelineJobId derived from the request key
    assert body["jobType"] == PIPELINE
    assert body["warnings"] == []
    assert body["status"] == "Running" and body["vertexState"].startswith("PIPELINE_STATE_")
    assert body["consoleUrl"] == (
        f"https://console.cloud.google.com/vertex-ai/locations/{LOCATION}/pipelines/runs/{job_id}?project={PROJECT}"
    )
    job = get_pipeline(pipelines, body["runId"])
    assert job["displayName"] == body["displayName"] and body["displayName"].startswith("nightly-pipeline_")
    for field in ("pipelineSpec", "runtimeConfig", "serviceAccount", "network", "reservedIpRanges", "encryptionSpec"):
        assert job[field] == template[field], field
    labels = job["labels"]
    assert labels["team"] == "vision"
    assert "vertex-ai-pipelines-extra" not in labels  # Vertex-managed template labels are not cloned
    assert labels[BILLING] != template["labels"][BILLING]  # Vertex AI gives the run its own
    assert labels["managed-by"] == "polysync-vertex" and labels["polysync-request"] == request_key("clone-1")
    assert labels["polysync-job"] == "nightly-pipeline"

    status = call("status", query=urlencode({"runId": body["runId"]}))
    assert status.status_code == 200
    record = status.get_json()
    for key in body:
        assert record[key] == body[key], key
    assert record["jobType"] == PIPELINE and record["outputs"] is None


def test_attributes_override_the_clone(call: Any, vertex: Any, pipelines: Any, template: dict[str, Any]) -> None:
    attributes = {
        "gcsOutputDirectory": "gs://other-root/pipelines",
        "serviceAccount": f"other@{PROJECT}.iam.gserviceaccount.com",
        "network": "projects/123456/global/networks/other",
    }
    resp = call("submit", body_for(template, "override-1", attributes=attributes))
    assert resp.status_code == 201, resp.get_json()
    job = get_pipeline(pipelines, resp.get_json()["runId"])
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://other-root/pipelines"
    assert job["runtimeConfig"]["parameterValues"] == template["runtimeConfig"]["parameterValues"]
    assert job["runtimeConfig"]["failurePolicy"] == "PIPELINE_FAILURE_POLICY_FAIL_FAST"
    assert job["serviceAccount"] == attributes["serviceAccount"] and job["network"] == attributes["network"]
    assert job["pipelineSpec"] == template["pipelineSpec"] and job["encryptionSpec"] == template["encryptionSpec"]
    # templateUri comes from the template and cannot be changed; unknown attributes are refused.
    for attrs, field in (
        ({"templateUri": "https://us-central1-kfp.pkg.dev/p/r/other/v1"}, "attributes.templateUri"),
        ({"machineType": "n1-standard-4"}, "attributes.machineType"),
    ):
        resp = call("submit", body_for(template, "override-2", attributes=attrs))
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["error"]["field"] == field


def test_template_uri_template_is_cloned(call: Any, vertex: Any, pipelines: Any) -> None:
    uri = "https://us-central1-kfp.pkg.dev/local-project/pipelines/train/sha256:abc"
    tmpl = create_pipeline(
        pipelines,
        {
            "displayName": "from-registry",
            "templateUri": uri,
            "runtimeConfig": {"gcsOutputDirectory": "gs://pipeline-root/x", "parameterValues": {"epochs": 2}},
        },
    )
    resp = call("submit", body_for(tmpl, "uri-1", parameters=[{"name": "epochs", "type": "Number", "value": 7}]))
    assert resp.status_code == 201, resp.get_json()
    job = get_pipeline(pipelines, resp.get_json()["runId"])
    assert job["templateUri"] == uri and "pipelineSpec" not in job
    assert job["runtimeConfig"] == {"gcsOutputDirectory": "gs://pipeline-root/x", "parameterValues": {"epochs": 7}}


def test_typed_parameters_of_every_type(call: Any, vertex: Any, pipelines: Any, template: dict[str, Any]) -> None:
    params = [
        {"name": "epochs", "direction": "Input", "type": "Number", "value": "12"},  # spelt as a string
        {"name": "rate", "direction": "Input", "type": "Number", "value": 0.25},
        {"name": "fast", "direction": "Input", "type": "Boolean", "value": "TRUE"},
        {"name": "name", "direction": "InputOutput", "type": "String", "value": "résumé ✓"},
        {"name": "day", "direction": "Input", "type": "Date", "value": "2026-11-22"},
        {"name": "at", "direction": "Input", "type": "DateTime", "value": "2026-11-22T08:15:00Z"},
        {"name": "config", "direction": "Input", "type": "JSON", "value": {"a": 1, "b": [True, None, "x"]}},
        {"name": "layers", "direction": "Input", "type": "JSON", "value": [64, 32, {"k": "v"}]},
        {"name": "accuracy", "direction": "Output", "type": "Number"},
    ]
    resp = call("submit", body_for(template, "typed-1", parameters=params))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["warnings"] == []  # Output parameters of a pipeline are supported
    values = get_pipeline(pipelines, resp.get_json()["runId"])["runtimeConfig"]["parameterValues"]
    assert values == {
        "epochs": 12,
        "rate": 0.25,
        "fast": True,
        "name": "résumé ✓",
        "day": "2026-11-22",
        "at": "2026-11-22T08:15:00Z",
        "config": {"a": 1, "b": [True, None, "x"]},
        "layers": [64, 32, {"k": "v"}],
        "VERTEX_EMULATOR_SCENARIO": "PENDING",  # the template's values stay unless a parameter replaces them
    }
    assert isinstance(values["fast"], bool) and isinstance(values["name"], str)
    assert "accuracy" not in values  # an Output parameter is read back, never sent


@pytest.mark.parametrize(
    ("param", "field", "needle"),
    [
        ({"name": "EPOCHS", "type": "Number", "value": 3}, "parameters[1].name", DECLARED),
        (
            {"name": "unknown", "direction": "InputOutput", "type": "String", "value": "x"},
            "parameters[1].name",
            DECLARED,
        ),
        ({"name": "epochs", "type": "Number", "value": 2.5}, "parameters[1].value", "integer"),
        ({"name": "epochs", "type": "String", "value": "ten"}, "parameters[1].value", "integer"),
        ({"name": "rate", "type": "Boolean", "value": True}, "parameters[1].value", "number"),
        ({"name": "fast", "type": "Number", "value": 1}, "parameters[1].value", "boolean"),
        ({"name": "name", "type": "Number", "value": 5}, "parameters[1].value", "string"),
        ({"name": "config", "type": "JSON", "value": [1, 2]}, "parameters[1].value", "struct"),
        ({"name": "layers", "type": "JSON", "value": {"a": 1}}, "parameters[1].value", "list"),
        ({"name": "day", "type": "Date", "value": "22/11/2026"}, "parameters[1].value", "Date"),
        ({"name": "config", "type": "JSON", "value": "{}"}, "parameters[1].value", "JSON"),
    ],
)
def test_undeclared_or_ill_typed_parameter_is_400_and_writes_nothing(
    call: Any, vertex: Any, app: Any, template: dict[str, Any], param: dict[str, Any], field: str, needle: str
) -> None:
    params = [{"name": "at", "type": "DateTime", "value": "2026-11-22T08:15:00+01:00"}, param]
    resp = call("submit", body_for(template, "bad-param-1", parameters=params))
    assert resp.status_code == 400, resp.get_json()
    error = resp.get_json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["field"] == field
    assert needle in error["message"], error["message"]
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls().get("CreatePipelineJob", 0) == 0


def test_without_external_id_needs_template_uri_and_output_directory(
    call: Any, vertex: Any, app: Any, pipelines: Any
) -> None:
    uri = "gs://pipeline-templates/train/pipeline.json"
    for attributes, field in (
        ({"gcsOutputDirectory": "gs://root/x"}, "attributes.templateUri"),
        ({"templateUri": uri}, "attributes.gcsOutputDirectory"),
        ({}, "attributes.templateUri"),
        ({"templateUri": "ftp://x/y", "gcsOutputDirectory": "gs://root/x"}, "attributes.templateUri"),
        ({"templateUri": uri, "gcsOutputDirectory": "/tmp/x"}, "attributes.gcsOutputDirectory"),
    ):
        resp = call("submit", body_for(None, "no-template-1", jobType=PIPELINE, attributes=attributes))
        assert resp.status_code == 400, (attributes, resp.get_json())
        assert resp.get_json()["error"]["field"] == field
    resp = call("submit", body_for(None, "no-template-1", jobType="Vertex AI Pipeline"))
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "jobType"
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls().get("CreatePipelineJob", 0) == 0

    attributes = {
        "templateUri": uri,
        "gcsOutputDirectory": "gs://root/x",
        "serviceAccount": SERVICE_ACCOUNT,
        "network": NETWORK,
    }
    params = [
        {"name": "epochs", "type": "Number", "value": 4},
        {"name": "config", "type": "JSON", "value": {"a": [1]}},
        {"name": "VERTEX_EMULATOR_SCENARIO", "type": "String", "value": "PENDING"},
    ]
    resp = call("submit", body_for(None, "no-template-1", jobType=PIPELINE, attributes=attributes, parameters=params))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["jobType"] == PIPELINE and "/pipelineJobs/psv-" in body["runId"]
    job = get_pipeline(pipelines, body["runId"])
    assert job["templateUri"] == uri
    assert job["runtimeConfig"] == {
        "gcsOutputDirectory": "gs://root/x",
        "parameterValues": {"epochs": 4, "config": {"a": [1]}, "VERTEX_EMULATOR_SCENARIO": "PENDING"},
    }
    assert job["serviceAccount"] == SERVICE_ACCOUNT and job["network"] == NETWORK
    # The template's collection decides the type; a contradicting jobType is refused.
    tmpl = create_pipeline(pipelines, template_job())
    resp = call("submit", body_for(tmpl, "typed-2", jobType="Vertex AI Custom Job"))
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "jobType"


def test_replay_answers_the_same_run_and_another_body_conflicts(
    call: Any, vertex: Any, app: Any, template: dict[str, Any]
) -> None:
    params = [{"name": "epochs", "type": "Number", "value": 9}]
    first = call("submit", body_for(template, "replay-1", parameters=params))
    assert first.status_code == 201, first.get_json()
    for spelling in (9, 9.0, "9"):  # the same request, however the Number is spelt
        again = call("submit", body_for(template, "replay-1", parameters=[{**params[0], "value": spelling}]))
        assert again.status_code == 200, again.get_json()
        assert again.get_json() == first.get_json()
    other = call("submit", body_for(template, "replay-1", parameters=[{**params[0], "value": 10}]))
    assert other.status_code == 409 and other.get_json()["error"]["status"] == "ALREADY_EXISTS"
    assert vertex.calls().get("CreatePipelineJob") == 1
    assert stored_docs(app) == {"requests": 1, "runs": 1}


# -- exactly once -----------------------------------------------------------------------------------------------
def test_fifty_concurrent_identical_submits_make_one_job(
    settings: Any, vertex: Any, pipelines: Any, template: dict[str, Any]
) -> None:
    from polysync_vertex import bootstrap

    body = body_for(template, "concurrent-50", parameters=[{"name": "epochs", "type": "Number", "value": 2}])
    apps = [bootstrap.build(settings) for _ in range(50)]  # 50 function instances
    for a in apps:  # each instance's Firestore channel is up before the burst (a cold start is not under test)
        a.store.get_request("warm-up")
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda a: a.submit.submit(copy.deepcopy(body)), apps))
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1 and codes.count(200) == 49, codes
    assert len({r["runId"] for _, r in results}) == 1
    assert vertex.calls().get("CreatePipelineJob") == 1
    assert [j["name"] for j in list_pipelines(pipelines)] == [results[0][1]["runId"]]
    assert stored_docs(apps[0]) == {"requests": 1, "runs": 1}


def lost_response_vertex(endpoint: str, *, blind: bool = False, unreadable: bool = False) -> Any:
    """A Vertex AI client whose first create reaches Vertex AI but whose response is lost (a timeout); with
    `blind`, label lookups never see the job either (a list index lagging behind); with `unreadable`, reading it by
    its name fails too (Vertex AI unavailable for reads while the request lasts)."""
    from polysync_vertex.adapters.vertex import VertexJobs
    from polysync_vertex.core.errors import UpstreamError

    class LostResponse(VertexJobs):
        lost = 0

        def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            created = super().create(*args, **kwargs)
            if self.lost == 0:
                self.lost += 1
                raise UpstreamError("DEADLINE_EXCEEDED", "the response did not arrive", method="CreatePipelineJob")
            return created

        def find_by_label(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
            return None if blind else super().find_by_label(*args, **kwargs)

        def get(self, name: str, deadline: float) -> dict[str, Any]:
            if unreadable and "/pipelineJobs/psv-" in name:  # the run's job, not the template
                raise UpstreamError("UNAVAILABLE", "reads are failing", method="GetPipelineJob")
            return super().get(name, deadline)

    return LostResponse(endpoint)


def test_lost_create_response_results_in_one_job_and_one_run(
    settings: Any, vertex: Any, pipelines: Any, template: dict[str, Any]
) -> None:
    from polysync_vertex import bootstrap

    app = bootstrap.build(settings, vertex=lost_response_vertex(settings.vertex_endpoint))
    code, body = app.submit.submit(body_for(template, "lost-1"))
    assert code == 201
    assert vertex.calls().get("CreatePipelineJob") == 1  # found by its label, never created again
    assert [j["name"] for j in list_pipelines(pipelines)] == [body["runId"]]
    assert stored_docs(app) == {"requests": 1, "runs": 1}
    assert app.submit.submit(body_for(template, "lost-1")) == (200, body)


def test_lost_create_response_unseen_by_labels_is_resolved_by_already_exists(
    settings: Any, vertex: Any, pipelines: Any, template: dict[str, Any]
) -> None:
    """Even when the label lookup cannot see the job, the retry's create answers ALREADY_EXISTS (the id is derived
    from the request key) and the existing job becomes the run."""
    from polysync_vertex import bootstrap
    from polysync_vertex.core.errors import ApiError

    short = dataclasses.replace(settings, request_budget_seconds=4)
    first = bootstrap.build(short, vertex=lost_response_vertex(short.vertex_endpoint, blind=True, unreadable=True))
    first.submit.lease_margin = -short.request_budget_seconds  # the attempt's lease ends with it
    with pytest.raises(ApiError) as err:
        first.submit.submit(body_for(template, "lost-2"))
    assert err.value.http == 503 and err.value.retry_after  # outcome unknown: the claim is kept
    assert stored_docs(first) == {"requests": 1, "runs": 0}
    assert len(list_pipelines(pipelines)) == 1

    retry = bootstrap.build(settings, vertex=lost_response_vertex(settings.vertex_endpoint, blind=True))
    retry.vertex.lost = 1  # its create answers normally
    code, body = retry.submit.submit(body_for(template, "lost-2"))
    assert code == 201
    assert vertex.calls().get("CreatePipelineJob") == 2  # the second create answered ALREADY_EXISTS
    jobs = list_pipelines(pipelines)
    assert [j["name"] for j in jobs] == [body["runId"]]
    assert stored_docs(retry) == {"requests": 1, "runs": 1}
    assert retry.submit.submit(body_for(template, "lost-2")) == (200, body)


def test_a_takeover_that_finds_its_job_already_ended_reads_the_outputs_with_one_get(
    settings: Any, vertex: Any, pipelines: Any
) -> None:
    """A takeover finds the dead attempt's job by a label list, which carries no jobDetail ("Not available in the
    list view", v1 PipelineJob.job_detail); a job that already ended is recorded final at once, so its outputs are
    read from the root task by one GET (found by the chaos run: outputs None for such a run)."""
    from polysync_vertex import bootstrap
    from polysync_vertex.core.errors import ApiError

    tmpl = create_pipeline(pipelines, template_job(outputs={"accuracy": 0.7, "model_uri": "gs://models/taken"}))
    short = dataclasses.replace(settings, request_budget_seconds=4)
    first = bootstrap.build(short, vertex=lost_response_vertex(short.vertex_endpoint, blind=True, unreadable=True))
    first.submit.lease_margin = -short.request_budget_seconds  # the attempt's lease ends with it
    with pytest.raises(ApiError):
        first.submit.submit(body_for(tmpl, "taken-1", parameters=OUTPUT_PARAMS))
    (job,) = list_pipelines(pipelines)
    vertex.set_state(job["name"], "PIPELINE_STATE_SUCCEEDED")
    vertex.reset_calls()
    code, body = bootstrap.build(settings).submit.submit(body_for(tmpl, "taken-1", parameters=OUTPUT_PARAMS))
    assert code == 201 and body["runId"] == job["name"] and body["status"] == "Success"
    # the template, then the finished job whole
    assert vertex.calls().get("GetPipelineJob") == 2 and not vertex.calls().get("CreatePipelineJob")
    run = bootstrap.build(settings).runs.status(job["name"])[1]
    assert run["outputs"] == {"epochs": 10, "accuracy": 0.7, "model_uri": "gs://models/taken"}


def test_create_rejected_by_vertex_writes_nothing(call: Any, vertex: Any, app: Any, template: dict[str, Any]) -> None:
    vertex.add_fault(method="CreatePipelineJob", http_status=403, status="PERMISSION_DENIED", ratio=1.0)
    resp = call("submit", body_for(template, "denied-1"))
    vertex.clear_faults()
    assert resp.status_code == 403, resp.get_json()
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert call("submit", body_for(template, "denied-1")).status_code == 201


# -- poll: outputs, errors, cancel, events ------------------------------------------------------------------------
OUTPUT_PARAMS = [
    {"name": "epochs", "direction": "InputOutput", "type": "Number", "value": 10},
    {"name": "rate", "direction": "Input", "type": "Number", "value": 0.5},
    {"name": "accuracy", "direction": "Output", "type": "Number"},
    {"name": "model_uri", "direction": "Output", "type": "String"},
]


def test_outputs_on_success_in_status_and_the_terminal_event(
    call: Any, vertex: Any, app: Any, pipelines: Any, status_subscription: str
) -> None:
    outputs = {"accuracy": 0.91, "model_uri": "gs://models/m-1"}
    tmpl = create_pipeline(pipelines, template_job(outputs=outputs))
    resp = call("submit", body_for(tmpl, "outputs-1", parameters=OUTPUT_PARAMS))
    assert resp.status_code == 201, resp.get_json()
    run_id = resp.get_json()["runId"]
    assert resp.get_json()["warnings"] == []
    for state in ("PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"):
        vertex.set_state(run_id, state)
        assert app.poll.tick()["changes"] == 1
    expected = {"epochs": 10, "accuracy": 0.91, "model_uri": "gs://models/m-1"}
    record = call("status", query=urlencode({"runId": run_id})).get_json()
    assert record["status"] == "Success" and record["vertexState"] == "PIPELINE_STATE_SUCCEEDED"
    assert record["outputs"] == expected and record["error"] is None
    events = events_of(status_subscription, expect=2)
    assert [e["data"]["vertexState"] for e in events] == ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"]
    assert events[0]["data"]["outputs"] is None
    assert events[-1]["data"]["outputs"] == expected


def test_outputs_of_a_run_that_ended_between_ticks(
    call: Any, vertex: Any, app: Any, pipelines: Any, status_subscription: str
) -> None:
    """Ended on its own (scenario) before the first tick: read by the full scan's finished-jobs list; and one that
    ends after it: read by the update_time walk."""
    outputs = {"accuracy": 0.5, "model_uri": "gs://models/m-2"}
    fast = create_pipeline(pipelines, template_job(scenario="RUNNING:1,SUCCEEDED", outputs=outputs))
    slow = create_pipeline(pipelines, template_job(scenario="PENDING", outputs=outputs))
    a = submit(app, body_for(fast, "between-1", parameters=OUTPUT_PARAMS))["runId"]
    b = submit(app, body_for(slow, "between-2", parameters=OUTPUT_PARAMS))["runId"]
    wait_for(lambda: get_pipeline(pipelines, a)["state"] == "PIPELINE_STATE_SUCCEEDED", what="the scenario to end")
    first = app.poll.tick()
    assert first["fullScan"] and first["changes"] == 1
    vertex.set_state(b, "PIPELINE_STATE_SUCCEEDED")
    second = app.poll.tick()
    assert not second["fullScan"] and second["changes"] == 1
    expected = {"epochs": 10, "accuracy": 0.5, "model_uri": "gs://models/m-2"}
    for run_id in (a, b):
        assert app.runs.status(run_id)[1]["outputs"] == expected, run_id
    events = events_of(status_subscription, expect=2)
    assert {e["attributes"]["ce-subject"]: e["data"]["outputs"] for e in events} == {a: expected, b: expected}


def test_outputs_come_from_the_root_task_with_one_get_only_for_runs_that_declared_outputs(
    vertex: Any, app: Any, pipelines: Any, status_subscription: str
) -> None:
    """The list view carries no jobDetail ("Not available in the list view", v1 PipelineJob.job_detail): a run that
    declared Output/InputOutput parameters costs one GET when it ends, a run without outputs none (issue 23)."""
    outputs = {"accuracy": 0.25, "model_uri": "gs://models/root-task"}
    tmpl = create_pipeline(pipelines, template_job(outputs=outputs))
    with_outputs = submit(app, body_for(tmpl, "root-task-1", parameters=OUTPUT_PARAMS))["runId"]
    without = submit(app, body_for(tmpl, "root-task-2"))["runId"]
    assert app.poll.tick()["fullScan"]
    for run_id in (with_outputs, without):
        vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    vertex.reset_calls()
    assert app.poll.tick()["changes"] == 2
    assert vertex.calls()["GetPipelineJob"] == 1  # the run with outputs only
    job = get_pipeline(pipelines, with_outputs)
    assert "accuracy" not in job["runtimeConfig"]["parameterValues"]  # not where the connector reads them
    assert app.runs.status(with_outputs)[1]["outputs"] == {"epochs": 10, **outputs}
    assert app.runs.status(without)[1]["outputs"] == {}


def test_failure_gives_error_in_outputs(
    call: Any, vertex: Any, app: Any, template: dict[str, Any], status_subscription: str
) -> None:
    run_id = submit(app, body_for(template, "failed-1", parameters=OUTPUT_PARAMS))["runId"]
    vertex.set_state(run_id, "PIPELINE_STATE_RUNNING")
    app.poll.tick()
    vertex.set_state(run_id, "PIPELINE_STATE_FAILED")
    app.poll.tick()
    record = call("status", query=urlencode({"runId": run_id})).get_json()
    assert record["status"] == "Failed" and record["vertexState"] == "PIPELINE_STATE_FAILED"
    assert record["error"]["code"] == 9 and "DAG failed" in record["error"]["message"]
    assert record["outputs"]["_error"] == record["error"]["message"]
    assert record["outputs"]["accuracy"] is None and record["outputs"]["model_uri"] is None
    assert record["outputs"]["epochs"] == 10  # InputOutput: its (input) value in the final job
    events = events_of(status_subscription, expect=2)
    assert events[-1]["attributes"]["status"] == "Failed"
    assert events[-1]["data"]["outputs"] == record["outputs"]


def test_cancel_cancelling_then_cancelled(
    call: Any, vertex: Any, app: Any, pipelines: Any, template: dict[str, Any], status_subscription: str
) -> None:
    run_id = submit(app, body_for(template, "cancel-1", parameters=OUTPUT_PARAMS))["runId"]
    vertex.set_state(run_id, "PIPELINE_STATE_RUNNING")
    app.poll.tick()
    resp = call("cancel", {"runId": run_id})
    assert resp.status_code == 202, resp.get_json()
    run = resp.get_json()
    assert run["status"] == "Running" and run["vertexState"] == "PIPELINE_STATE_CANCELLING"
    assert run["jobType"] == PIPELINE
    assert get_pipeline(pipelines, run_id)["state"] == "PIPELINE_STATE_CANCELLING"
    again = call("cancel", {"runId": run_id})
    assert again.status_code == 202 and again.get_json()["sequence"] == run["sequence"]  # harmless
    assert app.poll.tick()["changes"] == 0
    vertex.set_state(run_id, "PIPELINE_STATE_CANCELLED")
    assert app.poll.tick()["changes"] == 1
    done = call("cancel", {"runId": run_id})
    assert done.status_code == 200
    final = done.get_json()
    assert final["status"] == "Cancelled" and final["vertexState"] == "PIPELINE_STATE_CANCELLED"
    assert final["error"]["code"] == 1
    assert final["outputs"]["_error"] == final["error"]["message"]
    events = events_of(status_subscription, expect=3)
    assert [e["data"]["vertexState"] for e in events] == [
        "PIPELINE_STATE_RUNNING",
        "PIPELINE_STATE_CANCELLING",
        "PIPELINE_STATE_CANCELLED",
    ]
    assert [e["attributes"]["status"] for e in events] == ["Running", "Running", "Cancelled"]
    resp = call("cancel", {"runId": f"{PARENT}/pipelineJobs/psv-not-ours"})
    assert resp.status_code == 404


def test_events_in_order_with_stable_ce_id_and_job_type(
    settings: Any, vertex: Any, template: dict[str, Any], status_subscription: str
) -> None:
    from polysync_vertex import bootstrap

    pollers = [bootstrap.build(settings) for _ in range(3)]
    run_ids = [submit(pollers[0], body_for(template, f"events-{i}"))["runId"] for i in range(3)]
    path = ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_PAUSED", "PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"]
    for state in path:
        for run_id in run_ids:
            vertex.set_state(run_id, state)
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            summaries = list(pool.map(lambda a: a.poll.tick(), pollers))
        assert sum(s["changes"] for s in summaries) == len(run_ids)  # each change recorded once
    events = events_of(status_subscription, expect=len(run_ids) * len(path))
    by_run: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_run.setdefault(e["orderingKey"], []).append(e)
    assert set(by_run) == set(run_ids)
    for run_id, got in by_run.items():
        ids = [e["attributes"]["ce-id"] for e in got]
        unique = list(dict.fromkeys(ids))  # duplicates may arrive, only ever with the same ce-id
        assert unique == [f"{run_id}/{n}" for n in range(2, 2 + len(path))]
        firsts = [got[ids.index(i)] for i in unique]
        assert [e["data"]["vertexState"] for e in firsts] == path
        assert [e["attributes"]["status"] for e in firsts] == ["Running", "Running", "Running", "Success"]
        assert [e["data"]["previousVertexState"] for e in firsts][0].startswith("PIPELINE_STATE_")
        for e in got:
            assert e["attributes"]["ce-subject"] == run_id
            assert e["attributes"]["ce-source"] == f"//polysync-vertex/{PROJECT}/{LOCATION}"
            assert e["data"]["jobType"] == PIPELINE


def test_events_carry_job_type_as_a_filterable_attribute(
    app: Any, vertex: Any, template: dict[str, Any], status_subscription: str
) -> None:
    """Contract, "Job types": every event carries jobType, also as a filterable attribute."""
    run_id = submit(app, body_for(template, "event-type-1"))["runId"]
    vertex.set_state(run_id, "PIPELINE_STATE_RUNNING")
    app.poll.tick()
    (event,) = events_of(status_subscription, expect=1)
    assert event["data"]["jobType"] == PIPELINE
    assert event["attributes"].get("jobType") == PIPELINE


def test_queued_too_long_names_quota_without_an_accelerator(
    app: Any, vertex: Any, template: dict[str, Any], status_subscription: str
) -> None:
    app.poll.settings = dataclasses.replace(app.settings, queued_threshold_seconds=0)
    run_id = submit(app, body_for(template, "queued-1"))["runId"]
    vertex.set_state(run_id, "PIPELINE_STATE_QUEUED")
    for _ in range(3):
        app.poll.tick()
    events = events_of(status_subscription, expect=2)
    alerts = [e for e in events if e["attributes"]["ce-type"].endswith("queued_too_long")]
    assert len(alerts) == 1 and alerts[0]["attributes"]["ce-id"] == f"{run_id}/queued_too_long"
    message = alerts[0]["data"]["message"]
    assert LOCATION in message and "quota" in message and "accelerator" not in message


# -- poll cost -----------------------------------------------------------------------------------------------------
def seed_active_pipelines(app: Any, pipelines: Any, n: int, prefix: str = "scale", with_outputs: int = 0) -> list[str]:
    """n PENDING pipeline jobs in the emulator (created as the connector would) with their run records; the first
    `with_outputs` declare an Output parameter `accuracy` (NUMBER_DOUBLE, scripted 0.5)."""
    from polysync_vertex.core import runs
    from polysync_vertex.core.kinds import PIPELINE as KIND
    from polysync_vertex.core.kinds import parse_run_name, run_doc_id
    from polysync_vertex.core.labels import job_labels, request_key

    now = datetime.now(UTC)
    spec = {"pipelineInfo": {"name": "scale"}, "root": {"inputDefinitions": {"parameters": {}}}}

    def one(i: int) -> tuple[str, dict[str, Any]]:
        key = request_key(f"{prefix}-{i}")
        declares = i < with_outputs
        values: dict[str, Any] = {"VERTEX_EMULATOR_SCENARIO": "PENDING"}
        job_spec: dict[str, Any] = spec
        if declares:
            values["VERTEX_EMULATOR_OUTPUTS"] = json.dumps({"accuracy": 0.5})
            outputs = {"parameters": {"accuracy": {"parameterType": "NUMBER_DOUBLE"}}}
            job_spec = {**spec, "root": {**spec["root"], "outputDefinitions": outputs}}
        job = {
            "displayName": f"{prefix}-{i}",
            "labels": job_labels(None, key, prefix),
            "pipelineSpec": job_spec,
            "runtimeConfig": {"gcsOutputDirectory": "gs://root/x", "parameterValues": values},
        }
        created = create_pipeline(pipelines, job, job_id=KIND.job_id(key))
        _, name = parse_run_name(created["name"], "runId")
        record = runs.new_run(
            runs.RunOrigin(
                request_id=f"{prefix}-{i}",
                key=key,
                job_name=prefix,
                template=None,
                fingerprint="x",
                warnings=(),
                output_names=("accuracy",) if declares else (),
            ),
            name,
            created,
            now,
        )
        record["recordedAt"] = runs.iso(now - timedelta(minutes=10))
        return run_doc_id(name), record

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        records = list(pool.map(one, range(n)))
    for start in range(0, len(records), 400):
        batch = app.store.client.batch()
        for doc, record in records[start : start + 400]:
            batch.set(app.store.runs.document(doc), record)
        batch.commit()
    return [r["runId"] for _, r in records]


def test_update_time_polling_cost(
    app: Any, vertex: Any, pipelines: Any, status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N active pipelines, few changes: after the first (full-scan) tick a tick lists only what changed since the
    previous one: ListPipelineJobs calls = 1 per location + 1 per 100 changed."""
    # No margin: each tick lists exactly what changed since the previous one started (the production margin of
    # the update_time margin lists a change again in the ticks inside it; measured in docs/benchmarks.md).
    monkeypatch.setattr(app.poll.tuning, "update_time_margin", 0)
    n = 500
    run_ids = seed_active_pipelines(app, pipelines, n)
    vertex.reset_calls()
    first = app.poll.tick()
    full = vertex.calls()
    assert first["fullScan"] and first["runsSeen"] == n and first["changes"] == 0
    assert full.get("ListPipelineJobs") == math.ceil(n / 100)  # the non-final walk, pages of 100

    measured: dict[int, int] = {}
    for changed in (0, 5, 150):
        for run_id in run_ids[:changed]:
            vertex.set_state(run_id, "PIPELINE_STATE_RUNNING" if changed != 150 else "PIPELINE_STATE_PAUSED")
        vertex.reset_calls()
        summary = app.poll.tick()
        calls = vertex.calls()
        measured[changed] = calls.get("ListPipelineJobs", 0)
        assert not summary["fullScan"] and summary["runsSeen"] == n
        assert summary["changes"] == changed
        assert calls.get("ListPipelineJobs") == 1 + changed // 100, (changed, calls)
        assert calls.get("GetPipelineJob", 0) == 0
        assert sum(calls.values()) == calls["ListPipelineJobs"]
    print(f"ListPipelineJobs per tick with {n} active: full scan {full.get('ListPipelineJobs')}, by changed {measured}")
    for run_id in run_ids[:3]:
        assert app.runs.status(run_id)[1]["vertexState"] == "PIPELINE_STATE_PAUSED"


def test_update_time_polling_spans_locations(
    app: Any, vertex: Any, pipelines: Any, template: dict[str, Any], status_subscription: str
) -> None:
    """One update_time walk per (project, location) with active pipelines."""
    other = create_pipeline(pipelines, template_job(), parent=f"projects/{PROJECT}/locations/europe-west4")
    a = submit(app, body_for(template, "loc-1"))["runId"]
    b = submit(app, body_for(other, "loc-2"))["runId"]
    assert "/europe-west4/" in b
    assert app.poll.tick()["fullScan"]
    vertex.set_state(b, "PIPELINE_STATE_RUNNING")
    vertex.reset_calls()
    summary = app.poll.tick()
    assert summary["locations"] == 2 and summary["changes"] == 1
    assert vertex.calls().get("ListPipelineJobs") == 2
    assert app.runs.status(a)[1]["vertexState"] == "PIPELINE_STATE_PENDING"
    assert app.runs.status(b)[1]["vertexState"] == "PIPELINE_STATE_RUNNING"


# -- templates -----------------------------------------------------------------------------------------------------
def test_pipeline_template_parameters_links_and_round_trip(
    call: Any, vertex: Any, pipelines: Any, template: dict[str, Any]
) -> None:
    resp = call("templates", query=urlencode({"externalId": template["name"]}))
    assert resp.status_code == 200, resp.get_json()
    t = resp.get_json()
    assert t["externalId"] == template["name"] and t["jobType"] == PIPELINE
    assert t["displayName"] == "train-template"
    assert t["attributes"] == {
        "gcsOutputDirectory": "gs://pipeline-root/runs",
        "serviceAccount": SERVICE_ACCOUNT,
        "network": NETWORK,
    }
    assert t["pipelineName"] == "train-pipeline"
    # Declared order is not kept by Vertex AI (pipelineSpec is a Struct, its keys come back sorted).
    assert sorted(t["parameters"], key=lambda p: (p["direction"], p["name"])) == [
        {"name": "at", "type": "String", "direction": "Input", "default": None},
        {"name": "config", "type": "JSON", "direction": "Input", "default": None},
        {"name": "day", "type": "String", "direction": "Input", "default": None},
        {"name": "epochs", "type": "Number", "direction": "Input", "default": 3},  # the template's value
        {"name": "fast", "type": "Boolean", "direction": "Input", "default": False},  # the spec's default
        {"name": "layers", "type": "JSON", "direction": "Input", "default": None},
        {"name": "name", "type": "String", "direction": "Input", "default": "template-value"},
        {"name": "rate", "type": "Number", "direction": "Input", "default": 0.1},
        {"name": "accuracy", "type": "Number", "direction": "Output", "default": None},
        {"name": "model_uri", "type": "String", "direction": "Output", "default": None},
    ]
    assert json.dumps(next(p for p in t["parameters"] if p["name"] == "epochs")["default"]) == "3"  # an integer
    assert t["links"] == [
        {"type": "gcp-cloud-kms-crypto-key", "name": KMS},
        {"type": "gcp-compute-network", "name": NETWORK},
        {"type": "gcp-iam-service-account", "name": SERVICE_ACCOUNT},
        {"type": "gcp-storage-bucket", "name": "pipeline-root"},
    ]
    # Polysync submits what it imported: the template's attributes and its parameter schema with values.
    params = [
        {"name": p["name"], "type": p["type"], "direction": p["direction"], "value": p["default"]}
        for p in t["parameters"]
        if p["default"] is not None or p["direction"] == "Output"
    ]
    for p in params:
        if p["direction"] == "Output":
            p.pop("value")
    resp = call("submit", body_for(template, "import-1", attributes=t["attributes"], parameters=params))
    assert resp.status_code == 201, resp.get_json()
    job = get_pipeline(pipelines, resp.get_json()["runId"])
    assert job["runtimeConfig"]["parameterValues"] == {
        **template["runtimeConfig"]["parameterValues"],
        "rate": 0.1,
        "fast": False,
    }


def test_template_of_a_finished_run_with_outputs_can_be_submitted(call: Any, vertex: Any, pipelines: Any) -> None:
    """A succeeded run's runtimeConfig is its inputs as created (its outputs are on its root task, issue 23); a run
    cloned from it sends no output back as an input (the pipeline does not declare them: Vertex AI would refuse)."""
    tmpl = create_pipeline(pipelines, template_job(outputs={"accuracy": 0.7, "model_uri": "gs://m/1"}))
    vertex.set_state(tmpl["name"], "PIPELINE_STATE_SUCCEEDED")
    finished = get_pipeline(pipelines, tmpl["name"])
    assert "accuracy" not in finished["runtimeConfig"]["parameterValues"]
    t = call("templates", query=urlencode({"externalId": tmpl["name"]})).get_json()
    assert {p["name"]: p["direction"] for p in t["parameters"]}["accuracy"] == "Output"
    resp = call("submit", body_for(tmpl, "from-finished-1", parameters=OUTPUT_PARAMS))
    assert resp.status_code == 201, resp.get_json()
    values = get_pipeline(pipelines, resp.get_json()["runId"])["runtimeConfig"]["parameterValues"]
    assert "accuracy" not in values and "model_uri" not in values
    assert values["epochs"] == 10


def test_templates_list_pipelines_with_custom_jobs_and_job_type_narrows(
    call: Any, vertex: Any, vertex_server: Any, pipelines: Any, app: Any
) -> None:
    from tests.helpers import create_template, job_client

    custom = create_template(
        job_client(vertex_server.url),
        {
            "displayName": "custom-template",
            "jobSpec": {
                "workerPoolSpecs": [
                    {
                        "machineSpec": {"machineType": "n1-standard-4"},
                        "replicaCount": "1",
                        "containerSpec": {
                            "imageUri": "us-docker.pkg.dev/p/r/i:1",
                            "env": [{"name": "MODE", "value": "fast"}],
                        },
                    }
                ]
            },
        },
    )
    made = [create_pipeline(pipelines, template_job(displayName=f"pipeline-{i}")) for i in range(3)]
    submit(app, body_for(made[0], "a-run-1"))  # the connector's own run is not a template
    base = {"project": PROJECT, "location": LOCATION}
    listed = call("templates", query=urlencode(base)).get_json()
    by_type: dict[str, list[str]] = {}
    for t in listed["templates"]:
        by_type.setdefault(t["jobType"], []).append(t["externalId"])
    assert by_type["Vertex AI Custom Job"] == [custom["name"]]
    assert sorted(by_type[PIPELINE]) == sorted(m["name"] for m in made)
    custom_t = next(t for t in listed["templates"] if t["externalId"] == custom["name"])
    assert custom_t["parameters"] == [{"name": "MODE", "type": "String", "direction": "Input", "default": "fast"}]
    only = call("templates", query=urlencode({**base, "jobType": PIPELINE})).get_json()
    assert {t["jobType"] for t in only["templates"]} == {PIPELINE} and len(only["templates"]) == 3
    # Paged across the types: pages of 2 walk custom, then pipelines, each template exactly once.
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = call("templates", query=urlencode({**base, "pageSize": 2, "pageToken": token})).get_json()
        seen.extend(t["externalId"] for t in page["templates"])
        token = page["nextPageToken"]
        if not token:
            break
    assert sorted(seen) == sorted([custom["name"], *(m["name"] for m in made)])
    runs_too = call("templates", query=urlencode({**base, "jobType": PIPELINE, "includeRuns": "true"})).get_json()
    assert len(runs_too["templates"]) == 4


def test_legacy_pipeline_values_go_to_runtime_config_parameters(call: Any, vertex: Any, pipelines: Any) -> None:
    """A KFP v1-era pipeline (schemaVersion 2.0.0, inputs typed INT / DOUBLE / STRING) takes its values in the
    deprecated `runtimeConfig.parameters`, as the KFP SDK sends them."""
    spec = {
        "pipelineInfo": {"name": "legacy"},
        "schemaVersion": "2.0.0",
        "root": {
            "inputDefinitions": {"parameters": {"n": {"type": "INT"}, "x": {"type": "DOUBLE"}, "s": {"type": "STRING"}}}
        },
    }
    tmpl = create_pipeline(
        pipelines,
        {
            "displayName": "legacy-template",
            "pipelineSpec": spec,
            "runtimeConfig": {
                "gcsOutputDirectory": "gs://pipeline-root/legacy",
                "parameters": {"s": {"stringValue": "t"}},
            },
        },
    )
    t = call("templates", query=urlencode({"externalId": tmpl["name"]})).get_json()
    assert {p["name"]: (p["type"], p["default"]) for p in t["parameters"]} == {
        "n": ("Number", None),
        "s": ("String", "t"),
        "x": ("Number", None),
    }
    params = [{"name": "n", "type": "Number", "value": 3}, {"name": "x", "type": "Number", "value": 0.5}]
    resp = call("submit", body_for(tmpl, "legacy-1", parameters=params))
    assert resp.status_code == 201, resp.get_json()
    runtime = get_pipeline(pipelines, resp.get_json()["runId"])["runtimeConfig"]
    assert runtime["parameters"] == {"n": {"intValue": "3"}, "x": {"doubleValue": 0.5}, "s": {"stringValue": "t"}}
    assert "parameterValues" not in runtime


def test_adopted_pipeline_run_gets_its_outputs(
    settings: Any, vertex: Any, pipelines: Any, status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create that landed after its request gave up is adopted by the poller; on success the adopted run carries
    the request's outputs like any other run (contract: Outputs; orphans adopted)."""
    from polysync_vertex import bootstrap
    from polysync_vertex.core.errors import ApiError

    tmpl = create_pipeline(pipelines, template_job(outputs={"accuracy": 0.8, "model_uri": "gs://models/late"}))
    short = dataclasses.replace(settings, request_budget_seconds=4)
    gave_up = bootstrap.build(short, vertex=lost_response_vertex(short.vertex_endpoint, blind=True, unreadable=True))
    with pytest.raises(ApiError) as err:
        gave_up.submit.submit(body_for(tmpl, "adopted-1", parameters=OUTPUT_PARAMS))
    assert err.value.http == 503, err.value.message
    (job,) = list_pipelines(pipelines)
    from polysync_vertex.services.poll import index as poll_index

    monkeypatch.setattr(poll_index, "SWEEP_SECONDS", 0)  # the orphan sweep on every tick (no run is active here)
    poller = bootstrap.build(settings)
    assert sum(poller.poll.tick()["adopted"] for _ in range(3)) == 1
    vertex.set_state(job["name"], "PIPELINE_STATE_SUCCEEDED")
    poller.poll.tick()
    run = poller.runs.status(job["name"])[1]
    assert run["status"] == "Success" and run["jobType"] == PIPELINE
    assert run["outputs"] == {"epochs": 10, "accuracy": 0.8, "model_uri": "gs://models/late"}


def test_a_deleted_pipeline_is_found_by_the_next_full_scan(
    app: Any,
    vertex: Any,
    pipelines: Any,
    template: dict[str, Any],
    status_subscription: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between full scans only changed jobs are listed: a deleted job does not show there; the healing full scan
    finds it gone and the run becomes Unknown, once."""
    from polysync_vertex.services.poll import index as poll_index

    run_id = submit(app, body_for(template, "deleted-1"))["runId"]
    assert app.poll.tick()["fullScan"]
    vertex.set_state(run_id, "PIPELINE_STATE_CANCELLED")
    pipelines.delete_pipeline_job(name=run_id).result()
    assert app.poll.tick()["changes"] == 0  # the update_time walk cannot show a job that is gone
    monkeypatch.setattr(poll_index, "FULL_SCAN_SECONDS", 0)
    summary = app.poll.tick()
    assert summary["fullScan"] and summary["changes"] == 1
    run = app.runs.status(run_id)[1]
    assert run["status"] == "Unknown" and "deleted" in run["error"]["message"]
    (event,) = events_of(status_subscription, expect=1)
    assert event["attributes"]["status"] == "Unknown"


# -- issue 23: outputs typed by the pipeline's declared parameterType ---------------------------------------------
TYPED_SPEC: dict[str, Any] = {
    **copy.deepcopy(SPEC),
    "root": {
        **copy.deepcopy(SPEC["root"]),
        "outputDefinitions": {
            "parameters": {
                "count": {"parameterType": "NUMBER_INTEGER"},
                "loss": {"parameterType": "NUMBER_DOUBLE"},
                "label": {"parameterType": "STRING"},
                "ok": {"parameterType": "BOOLEAN"},
                "metrics": {"parameterType": "STRUCT"},
                "sizes": {"parameterType": "LIST"},
            }
        },
    },
}
TYPED_PARAMS = [
    {"name": "epochs", "direction": "InputOutput", "type": "Number", "value": 7},
    {"name": "count", "direction": "Output", "type": "Number"},
    {"name": "loss", "direction": "Output", "type": "Number"},
    {"name": "label", "direction": "Output", "type": "String"},
    {"name": "ok", "direction": "Output", "type": "Boolean"},
    {"name": "metrics", "direction": "Output", "type": "JSON"},
    {"name": "sizes", "direction": "Output", "type": "JSON"},
]


def test_outputs_are_typed_by_the_declared_parameter_type(
    vertex: Any, app: Any, pipelines: Any, status_subscription: str
) -> None:
    """The root task's metadata is a Struct (every number a double, pipeline_outputs.py): NUMBER_INTEGER comes back
    an integer, NUMBER_DOUBLE a float (2.0 stays 2.0), STRING, BOOLEAN as they are, STRUCT / LIST as JSON; the
    InputOutput `epochs` the pipeline did not write keeps its submitted value."""
    scripted = {
        "count": 42,
        "loss": 2.0,
        "label": "best",
        "ok": True,
        "metrics": {"auc": 0.75, "n": 3},
        "sizes": [1, 2.5],
    }
    tmpl = create_pipeline(pipelines, template_job(outputs=scripted, pipelineSpec=copy.deepcopy(TYPED_SPEC)))
    run_id = submit(app, body_for(tmpl, "typed-1", parameters=TYPED_PARAMS))["runId"]
    vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    vertex.reset_calls()
    assert app.poll.tick()["changes"] == 1
    assert vertex.calls()["GetPipelineJob"] == 1
    tasks = get_pipeline(pipelines, run_id)["jobDetail"]["taskDetails"]
    root = next(t for t in tasks if t["execution"]["schemaTitle"] == "system.Run")
    assert root["execution"]["metadata"]["output:count"] == 42.0  # a double in the Struct
    outputs = app.runs.status(run_id)[1]["outputs"]
    assert outputs == {"epochs": 7, **scripted}
    assert type(outputs["count"]) is int and type(outputs["epochs"]) is int
    assert type(outputs["loss"]) is float and type(outputs["ok"]) is bool
    assert outputs["metrics"] == {"auc": 0.75, "n": 3} and outputs["sizes"] == [1, 2.5]
    event = events_of(status_subscription, expect=1)[-1]
    assert event["data"]["outputs"] == outputs
    assert (
        json.dumps(event["data"]["outputs"]["loss"]) == "2.0" and json.dumps(event["data"]["outputs"]["count"]) == "42"
    )


def test_a_failed_run_names_its_failed_task_in_record_status_and_event(
    call: Any, vertex: Any, app: Any, pipelines: Any, status_subscription: str
) -> None:
    """failedTasks [{name, state, error}] at top level of the record, status and the terminal event; the error
    message (and outputs._error) begins with the first failed task's name (issue 23 item 3)."""
    job = template_job()
    job["runtimeConfig"]["parameterValues"]["VERTEX_EMULATOR_FAIL_TASK"] = "evaluate"
    tmpl = create_pipeline(pipelines, job)
    run_id = submit(app, body_for(tmpl, "failed-task-1", parameters=OUTPUT_PARAMS))["runId"]
    vertex.set_state(run_id, "PIPELINE_STATE_FAILED")
    assert app.poll.tick()["changes"] == 1
    record = call("status", query=urlencode({"runId": run_id})).get_json()
    assert record["status"] == "Failed"
    assert [(t["name"], t["state"]) for t in record["failedTasks"]] == [("evaluate", "FAILED")]
    assert record["failedTasks"][0]["error"] and set(record["failedTasks"][0]) == {"name", "state", "error"}
    assert record["error"]["message"].startswith("evaluate: ") and "DAG failed" in record["error"]["message"]
    assert record["outputs"]["_error"] == record["error"]["message"]
    stored = app.store.runs.document(doc_id(run_id)).get().to_dict()
    assert stored["failedTasks"] == record["failedTasks"]
    event = events_of(status_subscription, expect=1)[-1]
    assert event["data"]["failedTasks"] == record["failedTasks"]
    assert event["data"]["error"]["message"] == record["error"]["message"]


def test_a_successful_run_has_no_failed_tasks(vertex: Any, app: Any, template: dict[str, Any]) -> None:
    run_id = submit(app, body_for(template, "no-failed-task-1"))["runId"]
    vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    vertex.reset_calls()
    assert app.poll.tick()["changes"] == 1
    assert vertex.calls().get("GetPipelineJob", 0) == 0  # no outputs declared: no GET
    assert app.runs.status(run_id)[1]["failedTasks"] is None


def test_pipeline_template_links_each_executor_image(call: Any, vertex: Any, pipelines: Any) -> None:
    """Every deploymentSpec.executors.*.container.image is a gcp-artifact-registry-docker-image link, verbatim
    (core/links.py: other registries' images are named the same way), once each (issue 23 item 4)."""
    ar = f"us-central1-docker.pkg.dev/{PROJECT}/train/trainer:1.2"
    spec = copy.deepcopy(SPEC)
    spec["deploymentSpec"] = {
        "executors": {
            "exec-train": {"container": {"image": ar, "command": ["python", "train.py"]}},
            "exec-evaluate": {"container": {"image": "gcr.io/ml-images/eval@sha256:" + "a" * 64}},
            "exec-again": {"container": {"image": ar}},
            "exec-importer": {"importer": {"artifactUri": {"constant": "gs://data/x"}}},
        }
    }
    created = create_pipeline(pipelines, template_job(pipelineSpec=spec))
    resp = call("templates", query=urlencode({"externalId": created["name"]}))
    assert resp.status_code == 200, resp.get_json()
    images = [link["name"] for link in resp.get_json()["links"] if link["type"] == "gcp-artifact-registry-docker-image"]
    assert images == sorted([ar, "gcr.io/ml-images/eval@sha256:" + "a" * 64])


# -- issue 23 item 2: the finished jobs' GETs are bounded per tick, a failed one retried once ---------------------
def test_a_failed_get_is_retried_next_tick_then_the_event_goes_out_with_outputs(
    vertex: Any, app: Any, pipelines: Any, status_subscription: str
) -> None:
    outputs = {"accuracy": 0.5, "model_uri": "gs://models/retry"}
    tmpl = create_pipeline(pipelines, template_job(outputs=outputs))
    run_id = submit(app, body_for(tmpl, "get-retry-1", parameters=OUTPUT_PARAMS))["runId"]
    assert app.poll.tick()["fullScan"]
    vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    vertex.add_fault(method="GetPipelineJob", http_status=403, status="PERMISSION_DENIED", count=1)
    app.poll.tick()
    run = app.runs.status(run_id)[1]
    assert run["vertexState"] != "PIPELINE_STATE_SUCCEEDED"  # not recorded without its outputs
    vertex.reset_calls()
    app.poll.tick()
    assert vertex.calls()["GetPipelineJob"] == 1
    run = app.runs.status(run_id)[1]
    assert run["status"] == "Success" and run["outputs"] == {"epochs": 10, **outputs}
    events = events_of(status_subscription, expect=1)
    assert [e["data"]["outputs"] for e in events] == [run["outputs"]]


def test_a_get_failing_twice_records_the_final_state_with_outputs_error(
    vertex: Any, app: Any, pipelines: Any, status_subscription: str
) -> None:
    tmpl = create_pipeline(pipelines, template_job(outputs={"accuracy": 0.5, "model_uri": "gs://m"}))
    run_id = submit(app, body_for(tmpl, "get-retry-2", parameters=OUTPUT_PARAMS))["runId"]
    assert app.poll.tick()["fullScan"]
    vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    vertex.add_fault(method="GetPipelineJob", http_status=403, status="PERMISSION_DENIED", count=2)
    app.poll.tick()
    assert app.runs.status(run_id)[1]["status"] != "Success"
    app.poll.tick()  # at most one more tick
    run = app.runs.status(run_id)[1]
    assert run["status"] == "Success"
    assert run["outputs"]["accuracy"] is None and "could not be read" in run["outputs"]["_error"]
    events = events_of(status_subscription, expect=1)
    assert events[-1]["data"]["vertexState"] == "PIPELINE_STATE_SUCCEEDED"
    assert events[-1]["data"]["outputs"] == run["outputs"]


def test_gets_of_finished_jobs_are_bounded_per_tick(vertex: Any, app: Any, pipelines: Any) -> None:
    tmpl = create_pipeline(pipelines, template_job(outputs={"accuracy": 0.5, "model_uri": "gs://m"}))
    ids = [submit(app, body_for(tmpl, f"bounded-{i}", parameters=OUTPUT_PARAMS))["runId"] for i in range(3)]
    assert app.poll.tick()["fullScan"]
    for run_id in ids:
        vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    app.poll.outputs_reads_per_tick = 2
    vertex.reset_calls()
    assert app.poll.tick()["changes"] == 2
    assert vertex.calls()["GetPipelineJob"] == 2
    vertex.reset_calls()
    assert app.poll.tick()["changes"] == 1  # the third, next tick (its index entry remembers the finished job)
    assert vertex.calls()["GetPipelineJob"] == 1
    assert all(app.runs.status(r)[1]["outputs"]["accuracy"] == 0.5 for r in ids)


def test_poll_cost_500_active_pipelines_10_finished_with_outputs(
    app: Any, vertex: Any, pipelines: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted calls (issue 23): 500 active Pipeline Jobs, 10 of them declared outputs and finish, 10 without
    outputs finish too. The tick lists what changed (update_time walk) and GETs only the 10 with outputs: no GET per
    active run, none for a run without outputs. Figure in docs/benchmarks.md."""
    monkeypatch.setattr(app.poll.tuning, "update_time_margin", 0)
    run_ids = seed_active_pipelines(app, pipelines, 500, prefix="cost23", with_outputs=10)
    assert app.poll.tick()["fullScan"]
    for run_id in run_ids[:20]:  # 10 with outputs, 10 without
        vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    vertex.reset_calls()
    summary = app.poll.tick()
    calls = {k: v for k, v in vertex.calls().items() if v}
    assert summary["changes"] == 20 and not summary["fullScan"]
    assert calls == {"ListPipelineJobs": 1, "GetPipelineJob": 10}, calls
    assert [app.runs.status(r)[1]["outputs"] for r in run_ids[:11]] == [{"accuracy": 0.5}] * 10 + [{}]
