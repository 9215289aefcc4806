"""Vertex AI Batch Prediction Jobs end to end (issue 15): submit, status, cancel, poll and templates through the real
handlers, against the Firestore and Pub/Sub emulators and our Vertex AI emulator, driven and checked with the
official `aiplatform_v1.JobServiceClient` over REST.

(`tests/integration/emulator/test_batch_prediction_jobs.py` tests the emulator's collection itself.)
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from polysync_vertex.services.poll import FINISHED_BATCH, LIST_PAGE_SIZE
from tests.conftest import PROJECT, pull_events
from tests.helpers import PARENT, job_client, stored_docs

JOB_TYPE = "Vertex AI Batch Prediction Job"
MODEL = f"{PARENT}/models/sentiment@3"
KMS_KEY = f"{PARENT}/keyRings/ring/cryptoKeys/batch-key"
SERVICE_ACCOUNT = "batch-runner@local-project.iam.gserviceaccount.com"
SCENARIO = "VERTEX_EMULATOR_SCENARIO"
STAY_PENDING = {"name": SCENARIO, "type": "String", "value": "PENDING"}
# Every field the contract clones from a Batch Prediction Job template ("Job types").
CLONED = (
    "model",
    "modelVersionId",
    "inputConfig",
    "outputConfig",
    "instanceConfig",
    "dedicatedResources",
    "manualBatchTuningParameters",
    "generateExplanation",
    "explanationSpec",
    "serviceAccount",
    "encryptionSpec",
    "disableContainerLogging",
)
GCS_INPUT = {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://batch-in/a.jsonl", "gs://batch-in-2/b.jsonl"]}}
GCS_OUTPUT = {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://batch-out/predictions"}}
BQ_INPUT = {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://local-project.reviews.instances"}}
BQ_OUTPUT = {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": "bq://local-project.predictions"}}


# -- helpers ---------------------------------------------------------------------------------------------------
def to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(type(message).pb(message))


def create_batch(client: Any, job: dict[str, Any], parent: str = PARENT) -> dict[str, Any]:
    from google.cloud.aiplatform_v1.types import BatchPredictionJob

    created = client.create_batch_prediction_job(
        parent=parent, batch_prediction_job=BatchPredictionJob.from_json(json.dumps(job))
    )
    return to_dict(created)


def get_batch(client: Any, name: str) -> dict[str, Any]:
    return to_dict(client.get_batch_prediction_job(name=name))


def list_batch(client: Any, filter: str = 'labels.managed-by="polysync-vertex"') -> list[dict[str, Any]]:
    pager = client.list_batch_prediction_jobs(request={"parent": PARENT, "filter": filter})
    return [to_dict(j) for j in pager]


def gcs_template(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "displayName": "score-reviews",
        "labels": {"team": "nlp", "cost-center": "cc-42"},
        "model": MODEL,
        "inputConfig": GCS_INPUT,
        "outputConfig": GCS_OUTPUT,
        "instanceConfig": {"instanceType": "object", "keyField": "id", "excludedFields": ["raw_text"]},
        "dedicatedResources": {
            "machineSpec": {
                "machineType": "n1-standard-8",
                "acceleratorType": "NVIDIA_TESLA_T4",
                "acceleratorCount": 1,
            },
            "startingReplicaCount": 2,
            "maxReplicaCount": 6,
        },
        "manualBatchTuningParameters": {"batchSize": 16},
        "generateExplanation": True,
        "explanationSpec": {
            "parameters": {"sampledShapleyAttribution": {"pathCount": 10}},
            "metadata": {"inputs": {"text": {"inputTensorName": "text"}}, "outputs": {"score": {}}},
        },
        "serviceAccount": SERVICE_ACCOUNT,
        "encryptionSpec": {"kmsKeyName": KMS_KEY},
        "disableContainerLogging": True,
        "modelParameters": {
            SCENARIO: "PENDING",
            "temperature": 0.2,
            "topK": 40,
            "mode": "careful",
            "stop": ["\n\n", "END"],
        },
    }
    job.update(overrides)
    return job


def bq_template(**overrides: Any) -> dict[str, Any]:
    return gcs_template(
        displayName="score-reviews-bq",
        model="publishers/google/models/text-bison@002",
        inputConfig=BQ_INPUT,
        outputConfig=BQ_OUTPUT,
        **overrides,
    )


def body(request_id: str, template: str | None = None, **overrides: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"requestId": request_id, "jobName": "score-reviews-nightly"}
    if template is not None:
        b["externalId"] = template
    b.update(overrides)
    return b


def standalone(request_id: str, **overrides: Any) -> dict[str, Any]:
    """A submit without a template: jobType and the three attributes a Batch Prediction Job needs."""
    b = body(
        request_id,
        jobType=JOB_TYPE,
        attributes={"model": MODEL, "inputConfig": GCS_INPUT, "outputConfig": GCS_OUTPUT},
        parameters=[STAY_PENDING],
    )
    b.update(overrides)
    return b


def submitted(call: Any, b: dict[str, Any]) -> dict[str, Any]:
    resp = call("submit", b)
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def status(call: Any, run_id: str) -> dict[str, Any]:
    resp = call("status", query=urllib.parse.urlencode({"runId": run_id}))
    assert resp.status_code == 200, resp.get_json()
    return dict(resp.get_json())


def batch_calls(vertex: Any) -> dict[str, int]:
    return {k: v for k, v in vertex.calls().items() if "BatchPredictionJob" in k and v}


@pytest.fixture
def client(vertex_server: Any) -> Any:
    return job_client(vertex_server.url)


# -- submit: clone fidelity --------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["gcs", "bigquery"])
def test_template_is_cloned_whole(call: Any, vertex: Any, client: Any, app: Any, variant: str) -> None:
    template = create_batch(client, gcs_template() if variant == "gcs" else bq_template())
    resp = submitted(call, body(f"clone-{variant}", template["name"]))
    run_id = resp["runId"]
    assert run_id.startswith(f"{PARENT}/batchPredictionJobs/")
    job_id = run_id.rsplit("/", 1)[1]
    assert resp["jobType"] == JOB_TYPE
    assert resp["status"] == "Running" and resp["vertexState"] == "JOB_STATE_PENDING"
    assert resp["warnings"] == []
    assert resp["consoleUrl"] == (
        f"https://console.cloud.google.com/vertex-ai/locations/us-central1/batch-predictions/{job_id}?project={PROJECT}"
    )
    assert resp["displayName"].startswith("score-reviews-nightly_") and resp["displayName"].endswith("Z")

    job = get_batch(client, run_id)
    for field in CLONED:
        assert field in template, field
        assert job[field] == template[field], field
    assert job["modelParameters"] == template["modelParameters"]
    assert job["displayName"] == resp["displayName"]
    labels = job["labels"]
    assert labels["team"] == "nlp" and labels["cost-center"] == "cc-42"
    assert labels["managed-by"] == "polysync-vertex" and labels["polysync-job"] == "score-reviews-nightly"
    assert labels["polysync-request"].startswith(f"clone-{variant}-")
    assert vertex.calls()["CreateBatchPredictionJob"] == 2  # the template and the run

    record = status(call, run_id)
    assert record["jobType"] == JOB_TYPE and record["sequence"] == 1 and record["error"] is None
    assert record["outputInfo"] is None and record["completionStats"] is None
    assert stored_docs(app) == {"requests": 1, "runs": 1}


def test_attributes_override_the_clone(call: Any, vertex: Any, client: Any) -> None:
    template = create_batch(client, gcs_template())
    other_model = f"{PARENT}/models/sentiment-v2"
    attributes = {
        "model": other_model,
        "inputConfig": BQ_INPUT,
        "outputConfig": BQ_OUTPUT,
        "machineType": "n1-highmem-16",
        "startingReplicaCount": 3,
        "maxReplicaCount": 10,
        "serviceAccount": "other-runner@local-project.iam.gserviceaccount.com",
    }
    resp = submitted(call, body("override-1", template["name"], attributes=attributes))
    job = get_batch(client, resp["runId"])
    assert job["model"] == other_model
    assert job["modelVersionId"] == "1"  # the template's version pin does not follow it to another model
    assert job["inputConfig"] == BQ_INPUT and job["outputConfig"] == BQ_OUTPUT
    assert job["serviceAccount"] == attributes["serviceAccount"]
    assert job["dedicatedResources"] == {
        # The machine type changes; the template's accelerator stays (as a Custom Job's pool 0 keeps its own).
        "machineSpec": {"machineType": "n1-highmem-16", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1},
        "startingReplicaCount": 3,
        "maxReplicaCount": 10,
    }
    for field in ("instanceConfig", "manualBatchTuningParameters", "explanationSpec", "encryptionSpec"):
        assert job[field] == template[field], field
    # Attributes equal to the template's are accepted as given (immutable per run in Polysync).
    same = {k: template[k] for k in ("model", "inputConfig", "outputConfig")}
    again = submitted(call, body("override-2", template["name"], attributes=same))
    job = get_batch(client, again["runId"])
    assert all(job[k] == template[k] for k in (*same, "modelVersionId", "dedicatedResources"))


def test_typed_parameters_merge_over_the_templates_model_parameters(
    call: Any, vertex: Any, vertex_server: Any, client: Any
) -> None:
    template = create_batch(client, gcs_template())
    params = [
        {"name": "temperature", "direction": "Input", "type": "Number", "value": "0.7"},
        {"name": "maxOutputTokens", "direction": "InputOutput", "type": "Number", "value": 256},
        {"name": "useCache", "direction": "Input", "type": "Boolean", "value": "TRUE"},
        {"name": "mode", "type": "String", "value": "fast"},
        {"name": "safety", "type": "JSON", "value": {"block": ["violence"], "threshold": 0.5}},
        {"name": "stop", "type": "JSON", "value": ["STOP"]},
        {"name": "SCORE", "direction": "Output", "type": "Number"},
        {"name": "LABEL", "direction": "Output", "type": "String"},
    ]
    resp = submitted(call, body("typed-1", template["name"], parameters=params))
    assert resp["warnings"] == [
        "parameter SCORE (Output) is not supported and was ignored",
        "parameter LABEL (Output) is not supported and was ignored",
    ]
    got = get_batch(client, resp["runId"])["modelParameters"]
    assert got == {
        SCENARIO: "PENDING",  # the template's own, untouched
        "topK": 40,
        "temperature": 0.7,  # Number given as text, sent as a number
        "maxOutputTokens": 256,
        "useCache": True,
        "mode": "fast",
        "safety": {"block": ["violence"], "threshold": 0.5},
        "stop": ["STOP"],  # replaces the template's array
    }
    assert type(got["useCache"]) is bool and isinstance(got["temperature"], float)
    assert "SCORE" not in got and "LABEL" not in got
    # On the wire (REST JSON): numbers are JSON numbers, booleans JSON booleans, objects objects.
    import requests

    raw = requests.get(f"{vertex_server.url}/v1/{resp['runId']}", timeout=10).json()["modelParameters"]
    assert raw["maxOutputTokens"] == 256 and raw["useCache"] is True and raw["safety"]["block"] == ["violence"]


def test_standalone_submit_needs_model_input_and_output(call: Any, vertex: Any, client: Any, app: Any) -> None:
    for missing in ("model", "inputConfig", "outputConfig"):
        b = standalone(f"alone-{missing}")
        del b["attributes"][missing]
        resp = call("submit", b)
        assert resp.status_code == 400, resp.get_json()
        error = resp.get_json()["error"]
        assert error["status"] == "INVALID_ARGUMENT" and error["field"] == f"attributes.{missing}"
        assert JOB_TYPE in error["message"]
    # Without jobType the default is a Custom Job, which knows none of these attributes.
    b = standalone("alone-no-type")
    del b["jobType"]
    assert call("submit", b).status_code == 400
    # A jobType that contradicts the template's collection.
    template = create_batch(client, gcs_template())
    resp = call("submit", body("alone-mismatch", template["name"], jobType="Vertex AI Custom Job"))
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "jobType"
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls()["CreateBatchPredictionJob"] == 1  # the template only

    resp = submitted(
        call,
        standalone(
            "alone-ok",
            attributes={
                "model": "publishers/google/models/gemini-1.5-flash-002",
                "inputConfig": BQ_INPUT,
                "outputConfig": {
                    "predictionsFormat": "bigquery",
                    "bigqueryDestination": {"outputUri": "bq://local-project"},
                },
                "machineType": "n1-standard-4",
                "startingReplicaCount": 1,
                "maxReplicaCount": 2,
            },
        ),
    )
    job = get_batch(client, resp["runId"])
    assert job["model"] == "publishers/google/models/gemini-1.5-flash-002"
    assert job["inputConfig"] == BQ_INPUT
    assert job["outputConfig"]["bigqueryDestination"] == {"outputUri": "bq://local-project"}
    assert job["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-standard-4"},
        "startingReplicaCount": 1,
        "maxReplicaCount": 2,
    }
    assert job["modelParameters"] == {SCENARIO: "PENDING"}
    assert set(job["labels"]) == {"managed-by", "polysync-request", "polysync-job", "polysync-shard"}
    assert resp["jobType"] == JOB_TYPE and status(call, resp["runId"])["jobType"] == JOB_TYPE


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"model": "models/sentiment"}, "attributes.model"),
        ({"model": 7}, "attributes.model"),
        ({"model": f"{PARENT}/models/a/b"}, "attributes.model"),
        ({"inputConfig": "gs://batch-in/a.jsonl"}, "attributes.inputConfig"),
        ({"inputConfig": {"gcsSource": {"uris": ["gs://batch-in/a.jsonl"]}}}, "attributes.inputConfig.instancesFormat"),
        ({"inputConfig": {**GCS_INPUT, "bigquerySource": BQ_INPUT["bigquerySource"]}}, "attributes.inputConfig"),
        (
            {"inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": []}}},
            "attributes.inputConfig.gcsSource.uris",
        ),
        (
            {"inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["s3://bucket/a"]}}},
            "attributes.inputConfig.gcsSource.uris[0]",
        ),
        (
            {
                "inputConfig": {
                    "instancesFormat": "bigquery",
                    "bigquerySource": {"inputUri": "bq://local-project.reviews"},
                }
            },
            "attributes.inputConfig.bigquerySource.inputUri",
        ),
        (
            {"inputConfig": {"instancesFormat": "jsonl", "bigquerySource": BQ_INPUT["bigquerySource"]}},
            "attributes.inputConfig.instancesFormat",
        ),
        ({"inputConfig": {**GCS_INPUT, "extra": 1}}, "attributes.inputConfig.extra"),
        ({"outputConfig": {"predictionsFormat": "jsonl"}}, "attributes.outputConfig"),
        (
            {"outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "/tmp/out"}}},
            "attributes.outputConfig.gcsDestination.outputUriPrefix",
        ),
        (
            {"outputConfig": {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": "bigquery://x"}}},
            "attributes.outputConfig.bigqueryDestination.outputUri",
        ),
        (
            {"outputConfig": {"predictionsFormat": "bigquery", "gcsDestination": GCS_OUTPUT["gcsDestination"]}},
            "attributes.outputConfig.predictionsFormat",
        ),
        ({"machineType": "N1 STANDARD"}, "attributes.machineType"),
        ({"startingReplicaCount": 0}, "attributes.startingReplicaCount"),
        ({"maxReplicaCount": "3"}, "attributes.maxReplicaCount"),
        ({"maxReplicaCount": 2.5}, "attributes.maxReplicaCount"),
        ({"startingReplicaCount": 5, "maxReplicaCount": 2}, "attributes.startingReplicaCount"),
        ({"startingReplicaCount": 8}, "attributes.startingReplicaCount"),  # above the template's maxReplicaCount 6
        ({"maxReplicaCount": 1}, "attributes.maxReplicaCount"),  # below the template's startingReplicaCount 2
        ({"serviceAccount": "not an account"}, "attributes.serviceAccount"),
        ({"containerImageUri": "us-docker.pkg.dev/p/r/i:1"}, "attributes.containerImageUri"),
    ],
)
def test_malformed_attributes_are_400_naming_the_field_and_write_nothing(
    call: Any, vertex: Any, client: Any, app: Any, attributes: dict[str, Any], field: str
) -> None:
    template = create_batch(client, gcs_template())
    vertex.reset_calls()
    resp = call("submit", body("malformed-1", template["name"], attributes=attributes))
    assert resp.status_code == 400, resp.get_json()
    error = resp.get_json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["field"] == field, error
    assert error["message"]
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls()["CreateBatchPredictionJob"] == 0
    assert list_batch(client) == []


def test_malformed_parameters_are_400(call: Any, vertex: Any, client: Any, app: Any) -> None:
    template = create_batch(client, gcs_template())
    for params, field in (
        ([{"name": "temperature", "type": "Number", "value": "hot"}], "parameters[0].value"),
        ([{"name": "useCache", "type": "Boolean", "value": "yes"}], "parameters[0].value"),
        ([{"name": "safety", "type": "JSON", "value": "{}"}], "parameters[0].value"),
        ([{"name": "a", "value": "1"}, {"name": "a", "value": "2"}], "parameters[1].name"),
    ):
        resp = call("submit", body("bad-params", template["name"], parameters=params))
        assert resp.status_code == 400 and resp.get_json()["error"]["field"] == field, resp.get_json()
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls()["CreateBatchPredictionJob"] == 1


@pytest.mark.parametrize(
    "model",
    [
        "projects/123456789012/locations/us-central1/models/8876543210",  # project number, as Vertex AI writes it
        f"{PARENT}/models/sentiment@golden",  # a version alias
        f"{PARENT}/publishers/google/models/gemini-1.5-flash-002",
        "publishers/google/models/gemini-1.5-flash-002",
    ],
)
def test_model_resource_name_forms_are_accepted(call: Any, vertex: Any, client: Any, model: str) -> None:
    resp = submitted(
        call,
        standalone("model-form", attributes={"model": model, "inputConfig": GCS_INPUT, "outputConfig": GCS_OUTPUT}),
    )
    assert get_batch(client, resp["runId"])["model"] == model


def test_replica_counts_without_a_machine_type_are_400(call: Any, vertex: Any, app: Any) -> None:
    b = standalone("no-machine")
    b["attributes"]["maxReplicaCount"] = 4
    resp = call("submit", b)
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "attributes.machineType"
    assert "machine" in resp.get_json()["error"]["message"]
    b["attributes"]["startingReplicaCount"] = 12  # above Vertex AI's default maximum of 10
    del b["attributes"]["maxReplicaCount"]
    b["attributes"]["machineType"] = "n1-standard-4"
    resp = call("submit", b)
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "attributes.startingReplicaCount"
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls()["CreateBatchPredictionJob"] == 0


# -- submit: exactly one job -------------------------------------------------------------------------------------
def test_fifty_concurrent_identical_submits_make_one_job(app: Any, vertex: Any, client: Any) -> None:
    template = create_batch(client, gcs_template())
    b = body("bp-concurrent-50", template["name"], attributes={"machineType": "n1-standard-4"})
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: app.submit.submit(json.loads(json.dumps(b))), range(50)))
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1 and codes.count(200) == 49
    assert len({json.dumps(r, sort_keys=True) for _, r in results}) == 1
    assert vertex.calls()["CreateBatchPredictionJob"] == 2  # the template and the one run
    jobs = list_batch(client)
    assert [j["name"] for j in jobs] == [results[0][1]["runId"]]
    assert stored_docs(app) == {"requests": 1, "runs": 1}


def test_replay_is_the_same_run_and_another_body_conflicts(call: Any, vertex: Any, client: Any, app: Any) -> None:
    template = create_batch(client, gcs_template())
    params = [{"name": "temperature", "type": "Number", "value": 1}]
    first = submitted(call, body("bp-replay", template["name"], parameters=params))
    # The same request as the connector understands it (Number 1 / "1.0"), keys in another order: a replay.
    same = body("bp-replay", template["name"], parameters=[{"value": "1.0", "type": "Number", "name": "temperature"}])
    again = call("submit", same)
    assert again.status_code == 200 and again.get_json() == first
    other = call("submit", body("bp-replay", template["name"], attributes={"machineType": "n1-standard-2"}))
    assert other.status_code == 409 and other.get_json()["error"]["field"] == "requestId"
    assert vertex.calls()["CreateBatchPredictionJob"] == 2
    assert stored_docs(app) == {"requests": 1, "runs": 1}


class Crash(BaseException):
    """Stands for the function instance dying (not an Exception: nothing may catch it)."""


def test_crash_between_create_and_record_leaves_one_job(settings: Any, vertex: Any, client: Any) -> None:
    from polysync_vertex import bootstrap
    from polysync_vertex.adapters.vertex import VertexJobs

    class DyingVertex(VertexJobs):
        def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            super().create(*args, **kwargs)
            raise Crash()

    template = create_batch(client, gcs_template())
    b = body("bp-crash-1", template["name"], parameters=[{"name": "temperature", "type": "Number", "value": 0.9}])
    dying = bootstrap.build(settings, vertex=DyingVertex(settings.vertex_endpoint))
    dying.submit.lease_margin = -settings.request_budget_seconds  # the dead attempt's lease expires at once
    with pytest.raises(Crash):
        dying.submit.submit(dict(b))
    assert vertex.calls()["CreateBatchPredictionJob"] == 2
    assert stored_docs(dying) == {"requests": 1, "runs": 0}  # claimed, job created, never recorded

    healthy = bootstrap.build(settings)
    code, resp = healthy.submit.submit(dict(b))
    assert code == 201 and resp["jobType"] == JOB_TYPE
    assert vertex.calls()["CreateBatchPredictionJob"] == 2  # found by its request label, not created again
    assert [j["name"] for j in list_batch(client)] == [resp["runId"]]
    assert get_batch(client, resp["runId"])["modelParameters"]["temperature"] == 0.9
    assert stored_docs(healthy) == {"requests": 1, "runs": 1}
    assert healthy.submit.submit(dict(b)) == (200, resp)


# -- poll: outputs, failures, cancel, events ---------------------------------------------------------------------
def _drive(app: Any, vertex: Any, run_id: str, path: tuple[str, ...]) -> None:
    for state in path:
        vertex.set_state(run_id, state)
        assert app.poll.poll(None)["changes"] == 1, state


@pytest.mark.parametrize("variant", ["gcs", "bigquery"])
def test_success_carries_output_info_and_completion_stats(
    call: Any, app: Any, vertex: Any, client: Any, status_subscription: str, variant: str
) -> None:
    template = create_batch(client, gcs_template() if variant == "gcs" else bq_template())
    params = [{"name": "VERTEX_EMULATOR_INSTANCE_COUNT", "type": "Number", "value": 40}]
    run_id = submitted(call, body(f"success-{variant}", template["name"], parameters=params))["runId"]
    _drive(app, vertex, run_id, ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"))
    assert app.poll.poll(None)["changes"] == 0  # nothing is recorded twice

    final = get_batch(client, run_id)
    assert final["outputInfo"] and final["completionStats"] == {"successfulCount": "40"}
    if variant == "gcs":
        assert final["outputInfo"]["gcsOutputDirectory"].startswith("gs://batch-out/predictions/prediction-sentiment-")
    else:
        assert final["outputInfo"]["bigqueryOutputDataset"] == "bq://local-project.predictions"
        assert final["outputInfo"]["bigqueryOutputTable"].startswith("predictions_")

    record = status(call, run_id)
    assert record["status"] == "Success" and record["vertexState"] == "JOB_STATE_SUCCEEDED"
    assert record["sequence"] == 4 and record["endTime"] and record["error"] is None
    assert record["outputInfo"] == final["outputInfo"]  # as Vertex AI reports them
    assert record["completionStats"] == final["completionStats"]
    assert record["jobType"] == JOB_TYPE

    events = pull_events(status_subscription, expect=3, max_wait=10)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2", f"{run_id}/3", f"{run_id}/4"]
    assert [e["data"]["vertexState"] for e in events] == [
        "JOB_STATE_QUEUED",
        "JOB_STATE_RUNNING",
        "JOB_STATE_SUCCEEDED",
    ]
    assert all(e["orderingKey"] == run_id and e["attributes"]["ce-subject"] == run_id for e in events)
    assert all(e["data"]["jobType"] == JOB_TYPE for e in events)
    terminal = events[-1]["data"]
    assert terminal["status"] == "Success" and terminal["previousVertexState"] == "JOB_STATE_RUNNING"
    assert terminal["outputInfo"] == final["outputInfo"] and terminal["completionStats"] == final["completionStats"]
    assert events[0]["data"]["outputInfo"] is None and events[0]["data"]["completionStats"] is None
    assert app.poll.poll(None)["runsSeen"] == 0  # ended and published: no longer polled


def test_events_carry_job_type_as_a_filterable_attribute(
    call: Any, app: Any, vertex: Any, client: Any, status_subscription: str
) -> None:
    """Contract, "Job types": "events also carry it [jobType] as a filterable attribute"."""
    run_id = submitted(call, standalone("job-type-attr"))["runId"]
    _drive(app, vertex, run_id, ("JOB_STATE_RUNNING",))
    events = pull_events(status_subscription, expect=1, max_wait=10)
    assert [e["attributes"].get("jobType") for e in events] == [JOB_TYPE]


def test_partial_failure_carries_counts_and_failures(
    call: Any, app: Any, vertex: Any, client: Any, status_subscription: str
) -> None:
    params = [
        STAY_PENDING,
        {"name": "VERTEX_EMULATOR_INSTANCE_COUNT", "type": "Number", "value": 50},
        {"name": "VERTEX_EMULATOR_FAILED_COUNT", "type": "Number", "value": 7},
    ]
    run_id = submitted(call, standalone("partial-1", parameters=params))["runId"]
    _drive(app, vertex, run_id, ("JOB_STATE_RUNNING", "JOB_STATE_PARTIALLY_SUCCEEDED"))
    final = get_batch(client, run_id)
    assert final["completionStats"] == {"successfulCount": "43", "failedCount": "7"}
    assert len(final["partialFailures"]) == 7

    record = status(call, run_id)
    # Not in the contract's JOB_STATE_* table, so "anything else -> Unknown"; it is final all the same.
    assert record["vertexState"] == "JOB_STATE_PARTIALLY_SUCCEEDED" and record["status"] == "Unknown"
    assert record["completionStats"] == final["completionStats"]
    assert record["outputInfo"] == final["outputInfo"] and record["outputInfo"]["gcsOutputDirectory"]
    assert record["partialFailures"] == final["partialFailures"]
    events = pull_events(status_subscription, expect=2, max_wait=10)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2", f"{run_id}/3"]
    terminal = events[-1]["data"]
    assert terminal["completionStats"] == final["completionStats"]
    assert terminal["partialFailures"] == final["partialFailures"]
    assert app.poll.poll(None)["runsSeen"] == 0  # final: the poller lets it go


def test_total_failure_records_the_error_and_counts(
    call: Any, app: Any, vertex: Any, client: Any, status_subscription: str
) -> None:
    run_id = submitted(call, standalone("failed-1"))["runId"]
    _drive(app, vertex, run_id, ("JOB_STATE_RUNNING", "JOB_STATE_FAILED"))
    record = status(call, run_id)
    assert record["status"] == "Failed" and record["error"]["code"] == 13 and record["error"]["message"]
    assert record["completionStats"] == {"failedCount": "100"}
    assert record["outputInfo"] is None
    events = pull_events(status_subscription, expect=2, max_wait=10)
    assert events[-1]["attributes"]["status"] == "Failed"
    assert events[-1]["data"]["error"] == record["error"]
    assert events[-1]["data"]["completionStats"] == {"failedCount": "100"}


def test_cancel_then_poll_publishes_cancelled(
    call: Any, app: Any, vertex: Any, client: Any, status_subscription: str
) -> None:
    run_id = submitted(call, standalone("bp-cancel-1"))["runId"]
    resp = call("cancel", {"runId": run_id})
    assert resp.status_code == 202, resp.get_json()
    cancelling = resp.get_json()
    assert cancelling["status"] == "Running" and cancelling["vertexState"] == "JOB_STATE_CANCELLING"
    assert cancelling["sequence"] == 2 and cancelling["jobType"] == JOB_TYPE
    assert get_batch(client, run_id)["state"] == "JOB_STATE_CANCELLING"
    again = call("cancel", {"runId": run_id})
    assert again.status_code == 202 and again.get_json()["sequence"] == 2  # harmless repeat
    assert vertex.calls()["CancelBatchPredictionJob"] == 2
    assert vertex.calls()["CancelCustomJob"] == 0
    app.poll.poll(None)  # publishes CANCELLING from the outbox
    vertex.set_state(run_id, "JOB_STATE_CANCELLED")
    assert app.poll.poll(None)["changes"] == 1
    events = pull_events(status_subscription, expect=2, max_wait=10)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2", f"{run_id}/3"]
    assert [e["attributes"]["status"] for e in events] == ["Running", "Cancelled"]
    terminal = events[-1]["data"]
    assert terminal["completionStats"] == {"incompleteCount": "100"} and terminal["outputInfo"] is None
    final = call("cancel", {"runId": run_id})
    assert final.status_code == 200 and final.get_json()["status"] == "Cancelled"
    assert vertex.calls()["CancelBatchPredictionJob"] == 2  # an ended run is not cancelled again


def test_cancel_of_a_foreign_batch_job_is_404(call: Any, vertex: Any, client: Any, app: Any) -> None:
    foreign = create_batch(client, gcs_template())
    resp = call("cancel", {"runId": foreign["name"]})
    assert resp.status_code == 404 and resp.get_json()["error"]["status"] == "NOT_FOUND"
    assert vertex.calls()["CancelBatchPredictionJob"] == 0
    assert get_batch(client, foreign["name"])["state"] == "JOB_STATE_PENDING"


def test_events_in_order_with_stable_ids_across_overlapping_pollers(
    settings: Any, call: Any, vertex: Any, client: Any, status_subscription: str
) -> None:
    from polysync_vertex import bootstrap

    apps = [bootstrap.build(settings) for _ in range(3)]
    run_ids = [submitted(call, standalone(f"order-{i}"))["runId"] for i in range(4)]
    path = ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED")
    for state in path:
        for run_id in run_ids:
            vertex.set_state(run_id, state)
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            summaries = list(pool.map(lambda a: a.poll.poll(None), apps))
        assert sum(s["changes"] for s in summaries) == len(run_ids)  # each change recorded once
    events = pull_events(status_subscription, expect=len(run_ids) * len(path), max_wait=15)
    per_run: dict[str, list[str]] = {}
    for e in events:
        per_run.setdefault(e["orderingKey"], []).append(e["attributes"]["ce-id"])
    for run_id in run_ids:
        ids = list(dict.fromkeys(per_run[run_id]))  # duplicates allowed, only ever with the same ce-id
        assert ids == [f"{run_id}/{n}" for n in (2, 3, 4)]
    terminal = [e for e in events if e["data"]["status"] == "Success"]
    assert {e["attributes"]["ce-id"] for e in terminal} == {f"{r}/4" for r in run_ids}
    assert all(e["data"]["outputInfo"]["gcsOutputDirectory"] for e in terminal)


@pytest.mark.parametrize(("variant", "cause"), [("template", "NVIDIA_TESLA_T4"), ("standalone", "machine or quota")])
def test_queued_too_long_names_the_accelerator_when_there_is_one(
    call: Any, app: Any, vertex: Any, client: Any, status_subscription: str, variant: str, cause: str
) -> None:
    import dataclasses

    app.poll.settings = dataclasses.replace(app.settings, queued_threshold_seconds=0)
    if variant == "template":
        b = body("queued-1", create_batch(client, gcs_template())["name"])
    else:
        b = standalone("queued-1")
    run_id = submitted(call, b)["runId"]
    vertex.set_state(run_id, "JOB_STATE_QUEUED")
    for _ in range(3):
        app.poll.poll(None)
    events = pull_events(status_subscription, expect=2, max_wait=10)
    alerts = [e for e in events if e["attributes"]["ce-type"] == "com.polysync.vertex.run.queued_too_long"]
    assert len(alerts) == 1 and alerts[0]["attributes"]["ce-id"] == f"{run_id}/queued_too_long"
    message = alerts[0]["data"]["message"]
    assert cause in message and "us-central1" in message
    if variant == "standalone":
        assert "NVIDIA" not in message


def test_a_model_parameter_the_template_offers_can_be_submitted(call: Any, vertex: Any, client: Any) -> None:
    """templates offers every modelParameters key as a parameter; submit must take each of them back."""
    job = create_batch(
        client, gcs_template(modelParameters={SCENARIO: "PENDING", "top-k": 40, "response.format": "json"})
    )
    names = {p["name"] for p in _templates(call, externalId=job["name"])["parameters"]}
    assert {"top-k", "response.format"} <= names
    params = [{"name": "top-k", "type": "Number", "value": 5}, {"name": "response.format", "value": "text"}]
    resp = submitted(call, body("dashed-name", job["name"], parameters=params))
    got = get_batch(client, resp["runId"])["modelParameters"]
    assert got["top-k"] == 5 and got["response.format"] == "text"


def test_deleted_batch_job_becomes_unknown_once(
    call: Any, app: Any, vertex: Any, client: Any, status_subscription: str
) -> None:
    run_id = submitted(call, standalone("bp-deleted"))["runId"]
    vertex.set_state(run_id, "JOB_STATE_CANCELLED")
    client.delete_batch_prediction_job(name=run_id).result()
    app.poll.poll(None)
    app.poll.poll(None)
    events = pull_events(status_subscription, expect=1, max_wait=10)
    assert len(events) == 1 and events[0]["attributes"]["status"] == "Unknown"
    assert "deleted" in events[0]["data"]["error"]["message"]
    record = status(call, run_id)
    assert record["status"] == "Unknown" and record["outputInfo"] is None
    assert app.poll.poll(None)["runsSeen"] == 0


# -- poll cost ---------------------------------------------------------------------------------------------------
def _seed_active_runs(app: Any, client: Any, count: int, prefix: str) -> list[str]:
    """`count` real running batch jobs and their run records, written straight to Firestore (fast)."""
    from polysync_vertex.core import kinds, runs
    from polysync_vertex.core.kinds import run_doc_id
    from polysync_vertex.core.labels import job_labels, request_key

    now = datetime.now(UTC)
    records = []
    for i in range(count):
        key = request_key(f"{prefix}-{i}")
        created = create_batch(
            client,
            {
                "displayName": f"{prefix}-{i}",
                "labels": job_labels(None, key, prefix),
                "model": MODEL,
                "inputConfig": GCS_INPUT,
                "outputConfig": GCS_OUTPUT,
                "modelParameters": {SCENARIO: "RUNNING"},
            },
        )
        _, name = kinds.parse_run_name(created["name"], "runId")
        run = runs.new_run(
            runs.RunOrigin(
                request_id=f"{prefix}-{i}",
                key=key,
                job_name=prefix,
                template=None,
                fingerprint="x",
                warnings=(),
            ),
            name,
            created,
            now,
        )
        run["recordedAt"] = runs.iso(now - timedelta(minutes=10))  # submitted a while ago
        records.append((run_doc_id(name), run))
    for start in range(0, len(records), 400):
        batch = app.store.client.batch()
        for doc_id, record in records[start : start + 400]:
            batch.set(app.store.runs.document(doc_id), record)
        batch.commit()
    return [r["runId"] for _, r in records]


def test_poll_cost_is_one_list_per_100_active_and_per_50_finished_and_no_get(
    app: Any, vertex: Any, client: Any, status_subscription: str
) -> None:
    total, finished = 230, 60
    run_ids = _seed_active_runs(app, client, total, "bp-scale")
    first = app.poll.poll(None)  # builds the poller's index (a full scan); the jobs were created RUNNING
    assert first["fullScan"] and first["runsSeen"] == total and first["changes"] == 0
    for run_id in run_ids[:finished]:
        vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    vertex.reset_calls()
    summary = app.poll.poll(None)
    calls = batch_calls(vertex)
    assert summary["runsSeen"] == total and summary["changes"] == finished
    expected = math.ceil((total - finished) / LIST_PAGE_SIZE) + math.ceil(finished / FINISHED_BATCH)
    assert calls.get("ListBatchPredictionJobs") == expected == 4, calls
    assert calls.get("GetBatchPredictionJob", 0) == 0, calls
    assert sum(vertex.calls().values()) == expected  # nothing else is asked of Vertex AI
    # The finished runs' outputs came from those list calls (read mask), not from a GET.
    done = app.runs.status(run_ids[0])[1]
    assert done["status"] == "Success" and done["outputInfo"]["gcsOutputDirectory"]
    assert done["completionStats"] == {"successfulCount": "100"}

    vertex.reset_calls()
    quiet = app.poll.poll(None)  # the 60 ended runs are published and gone; 170 remain in flight, unchanged
    assert quiet["changes"] == 0 and quiet["runsSeen"] == total - finished
    assert batch_calls(vertex) == {"ListBatchPredictionJobs": math.ceil((total - finished) / LIST_PAGE_SIZE)}


def test_orphan_batch_job_is_adopted(app: Any, vertex: Any, client: Any, status_subscription: str) -> None:
    """A create that landed after its submit gave up: the poller adopts it as the request's run."""
    from polysync_vertex.core.labels import job_labels, request_key

    known = _seed_active_runs(app, client, 1, "bp-known")[0]  # something active, so the location is polled
    key = request_key("bp-late-1")
    late = create_batch(
        client,
        {
            "displayName": "late",
            "labels": job_labels(None, key, "late"),
            "model": MODEL,
            "inputConfig": GCS_INPUT,
            "outputConfig": GCS_OUTPUT,
            "modelParameters": {SCENARIO: "PENDING"},
        },
    )
    summary = app.poll.poll(None)
    assert summary["adopted"] == 1, summary
    adopted = app.runs.status(late["name"])[1]
    assert adopted["jobType"] == JOB_TYPE and adopted["sequence"] == 1
    assert adopted["consoleUrl"].endswith(f"/batch-predictions/{late['name'].rsplit('/', 1)[1]}?project={PROJECT}")
    events = pull_events(status_subscription, expect=2, max_wait=10)
    assert f"{late['name']}/1" in {e["attributes"]["ce-id"] for e in events}
    from polysync_vertex.core.kinds import parse_run_name, run_doc_id

    assert "adopted" not in app.store.get_run(run_doc_id(parse_run_name(known, "runId")[1]))  # only the orphan is


# -- templates ---------------------------------------------------------------------------------------------------
def _templates(call: Any, **params: str) -> dict[str, Any]:
    resp = call("templates", query=urllib.parse.urlencode(params))
    assert resp.status_code == 200, resp.get_json()
    return dict(resp.get_json())


def test_template_of_a_gcs_batch_job(call: Any, vertex: Any, client: Any) -> None:
    job = create_batch(client, gcs_template())
    t = _templates(call, externalId=job["name"])
    assert t["externalId"] == job["name"] and t["displayName"] == "score-reviews" and t["jobType"] == JOB_TYPE
    assert t["attributes"] == {
        "model": MODEL,
        "inputConfig": GCS_INPUT,
        "outputConfig": GCS_OUTPUT,
        "machineType": "n1-standard-8",
        "startingReplicaCount": 2,
        "maxReplicaCount": 6,
        "serviceAccount": SERVICE_ACCOUNT,
    }
    params = {p["name"]: p for p in t["parameters"]}
    assert {n: (p["type"], p["direction"]) for n, p in params.items()} == {
        SCENARIO: ("String", "Input"),
        "temperature": ("Number", "Input"),
        "topK": ("Number", "Input"),
        "mode": ("String", "Input"),
        "stop": ("JSON", "Input"),
    }
    assert params["temperature"]["default"] == 0.2 and params["topK"]["default"] == 40
    assert type(params["topK"]["default"]) is int  # Vertex AI's Struct says 40.0; Polysync is shown 40
    assert params["stop"]["default"] == ["\n\n", "END"]
    assert sorted((link["type"], link["name"]) for link in t["links"]) == sorted(
        [
            ("gcp-ai-platform-model", MODEL),
            ("gcp-storage-bucket", "batch-in"),
            ("gcp-storage-bucket", "batch-in-2"),
            ("gcp-storage-bucket", "batch-out"),
            ("gcp-iam-service-account", SERVICE_ACCOUNT),
            ("gcp-cloud-kms-crypto-key", KMS_KEY),
        ]
    )


def test_template_of_a_bigquery_batch_job_with_boolean_and_object_parameters(
    call: Any, vertex: Any, client: Any
) -> None:
    job = create_batch(
        client,
        bq_template(
            modelParameters={"useCache": False, "safety": {"threshold": 0.5}, "n": 3},
            dedicatedResources={"machineSpec": {"machineType": "n1-standard-4"}, "startingReplicaCount": 1},
        ),
    )
    t = _templates(call, externalId=job["name"])
    assert t["attributes"]["model"] == "publishers/google/models/text-bison@002"
    assert t["attributes"]["inputConfig"] == BQ_INPUT and t["attributes"]["outputConfig"] == BQ_OUTPUT
    assert t["attributes"]["startingReplicaCount"] == 1 and "maxReplicaCount" not in t["attributes"]
    assert {p["name"]: (p["type"], p["default"]) for p in t["parameters"]} == {
        "useCache": ("Boolean", False),
        "safety": ("JSON", {"threshold": 0.5}),
        "n": ("Number", 3),
    }
    links = {(link["type"], link["name"]) for link in t["links"]}
    assert ("gcp-big-query-table", "bq://local-project.reviews.instances") in links
    assert ("gcp-big-query-table", "bq://local-project.predictions") in links
    assert ("gcp-ai-platform-model", "publishers/google/models/text-bison@002") in links
    assert not any(kind == "gcp-storage-bucket" for kind, _ in links)


def test_template_round_trip_reproduces_the_job(call: Any, vertex: Any, client: Any) -> None:
    """A template imported and submitted with its own attributes and parameters builds the template's job."""
    job = create_batch(client, gcs_template())
    t = _templates(call, externalId=job["name"])
    params = [
        {"name": p["name"], "type": p["type"], "direction": p["direction"], "value": p["default"]}
        for p in t["parameters"]
    ]
    run = submitted(call, body("round-trip", job["name"], attributes=t["attributes"], parameters=params))
    made = get_batch(client, run["runId"])
    for field in (*CLONED, "modelParameters"):
        assert made[field] == job[field], field


def test_template_list_covers_batch_jobs_and_leaves_out_runs(call: Any, vertex: Any, client: Any) -> None:
    gcs = create_batch(client, gcs_template())
    bq = create_batch(client, bq_template())
    run_id = submitted(call, body("listed-run", gcs["name"]))["runId"]
    listed = _templates(call, project=PROJECT, location="us-central1")
    by_id = {t["externalId"]: t for t in listed["templates"]}
    assert by_id[gcs["name"]]["jobType"] == JOB_TYPE and by_id[bq["name"]]["jobType"] == JOB_TYPE
    assert run_id not in by_id
    only = _templates(call, project=PROJECT, location="us-central1", jobType=JOB_TYPE)
    assert sorted(t["externalId"] for t in only["templates"]) == sorted([gcs["name"], bq["name"]])
    assert {t["jobType"] for t in only["templates"]} == {JOB_TYPE}
    with_runs = _templates(call, project=PROJECT, location="us-central1", jobType=JOB_TYPE, includeRuns="true")
    assert run_id in {t["externalId"] for t in with_runs["templates"]}
    filtered = _templates(
        call, project=PROJECT, location="us-central1", jobType=JOB_TYPE, filter='model_display_name="sentiment"'
    )
    assert [t["externalId"] for t in filtered["templates"]] == [gcs["name"]]
