"""batchPredictionJobs through the official ``JobServiceClient`` over REST."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import empty_pb2, struct_pb2

from vertex_emulator import AdminClient, EmulatorServer

from .support import error_of

pytestmark = pytest.mark.timeout(120)
MODEL = "projects/test-project/locations/us-central1/models/sentiment@3"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def batch_job(
    scenario: str | None = None,
    bigquery: bool = False,
    model: str = MODEL,
    params: dict[str, Any] | None = None,
    display_name: str = "batch",
    output_uri: str = "bq://out-project",
) -> v1.BatchPredictionJob:
    values = dict(params or {})
    if scenario is not None:
        values["VERTEX_EMULATOR_SCENARIO"] = scenario
    job = v1.BatchPredictionJob(display_name=display_name, model=model)
    if bigquery:
        job.input_config = v1.BatchPredictionJob.InputConfig(
            instances_format="bigquery", bigquery_source=v1.BigQuerySource(input_uri="bq://p.dataset.instances")
        )
        job.output_config = v1.BatchPredictionJob.OutputConfig(
            predictions_format="bigquery", bigquery_destination=v1.BigQueryDestination(output_uri=output_uri)
        )
    else:
        job.input_config = v1.BatchPredictionJob.InputConfig(
            instances_format="jsonl", gcs_source=v1.GcsSource(uris=["gs://bucket/in/a.jsonl"])
        )
        job.output_config = v1.BatchPredictionJob.OutputConfig(
            predictions_format="jsonl", gcs_destination=v1.GcsDestination(output_uri_prefix="gs://bucket/out/")
        )
    if values:
        value = struct_pb2.Value()
        value.struct_value.update(values)
        job.model_parameters = value
    return job


def wait_final(client: v1.JobServiceClient, name: str) -> v1.BatchPredictionJob:
    deadline = time.monotonic() + 20
    while True:
        job = client.get_batch_prediction_job(name=name)
        if job.end_time:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job did not end; last {job.state.name}")
        time.sleep(0.01)


def test_success_to_gcs_has_output_info_and_completion_stats(
    client: v1.JobServiceClient, emulator: EmulatorServer, parent: str
) -> None:
    sent = batch_job("PENDING:1,RUNNING:1,SUCCEEDED", params={"temperature": 0.5, "VERTEX_EMULATOR_INSTANCE_COUNT": 40})
    sent.dedicated_resources = v1.BatchDedicatedResources(
        machine_spec=v1.MachineSpec(machine_type="n1-standard-4"), starting_replica_count=1, max_replica_count=3
    )
    sent.manual_batch_tuning_parameters = v1.ManualBatchTuningParameters(batch_size=16)
    job = client.create_batch_prediction_job(parent=parent, batch_prediction_job=sent)
    assert re.fullmatch(rf"{parent}/batchPredictionJobs/\d+", job.name)
    assert job.state == v1.JobState.JOB_STATE_PENDING and not job.output_info.gcs_output_directory
    assert job.model_version_id == "3" and job.dedicated_resources == sent.dedicated_resources
    done = wait_final(client, job.name)
    assert done.state == v1.JobState.JOB_STATE_SUCCEEDED and not done.error.message
    assert re.fullmatch(rf"gs://bucket/out/prediction-sentiment-{STAMP}", done.output_info.gcs_output_directory)
    assert done.completion_stats.successful_count == 40 and done.completion_stats.failed_count == 0
    assert done.model_parameters["temperature"] == 0.5
    raw = requests.get(f"{emulator.url}/v1/{job.name}", timeout=10).json()
    assert raw["completionStats"] == {"successfulCount": "40"}  # int64 as a JSON string
    assert raw["manualBatchTuningParameters"] == {"batchSize": 16}


def test_success_to_bigquery_derives_dataset_and_table(client: v1.JobServiceClient, parent: str) -> None:
    job = client.create_batch_prediction_job(parent=parent, batch_prediction_job=batch_job("SUCCEEDED", bigquery=True))
    info = wait_final(client, job.name).output_info
    bq_stamp = r"\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d_\d{3}Z"
    assert re.fullmatch(rf"bq://out-project\.prediction_sentiment_{bq_stamp}", info.bigquery_output_dataset)
    assert re.fullmatch(rf"predictions_{bq_stamp}", info.bigquery_output_table)
    given = client.create_batch_prediction_job(
        parent=parent, batch_prediction_job=batch_job("SUCCEEDED", bigquery=True, output_uri="bq://proj.ds")
    )
    assert wait_final(client, given.name).output_info.bigquery_output_dataset == "bq://proj.ds"


@pytest.mark.parametrize(
    ("scenario", "params", "state", "failed", "partial"),
    [
        ("RUNNING:0,PARTIALLY_SUCCEEDED", {}, "JOB_STATE_PARTIALLY_SUCCEEDED", 10, 10),
        ("RUNNING:0,PARTIALLY_SUCCEEDED", {"VERTEX_EMULATOR_FAILED_COUNT": 3}, "JOB_STATE_PARTIALLY_SUCCEEDED", 3, 3),
        ("RUNNING:0,SUCCEEDED", {"VERTEX_EMULATOR_FAILED_COUNT": 2}, "JOB_STATE_SUCCEEDED", 2, 0),
        ("RUNNING:0,FAILED", {}, "JOB_STATE_FAILED", 100, 20),
    ],
)
def test_partial_and_total_failures(
    client: v1.JobServiceClient,
    parent: str,
    scenario: str,
    params: dict[str, Any],
    state: str,
    failed: int,
    partial: int,
) -> None:
    job = client.create_batch_prediction_job(parent=parent, batch_prediction_job=batch_job(scenario, params=params))
    done = wait_final(client, job.name)
    assert done.state == v1.JobState[state]
    assert done.completion_stats.failed_count == failed
    assert done.completion_stats.successful_count == 100 - failed
    assert len(done.partial_failures) == partial
    assert bool(done.error.message) == (state == "JOB_STATE_FAILED")
    assert bool(done.output_info.gcs_output_directory) == (state != "JOB_STATE_FAILED")


@pytest.mark.parametrize(
    "model",
    [
        "projects/p/locations/us-central1/models/123",
        "projects/p/locations/us-central1/models/m@golden",
        "publishers/google/models/gemini-2.0-flash-001",
        "projects/p/locations/us-central1/publishers/google/models/text-bison",
    ],
)
def test_model_forms_accepted(client: v1.JobServiceClient, parent: str, model: str) -> None:
    job = client.create_batch_prediction_job(parent=parent, batch_prediction_job=batch_job(model=model))
    assert job.model == model


def _params(scenario: str) -> struct_pb2.Value:
    value = struct_pb2.Value()
    value.struct_value.update({"VERTEX_EMULATOR_SCENARIO": scenario})
    return value


def _mutate(change: Any) -> v1.BatchPredictionJob:
    job = batch_job()
    change(job)
    return job


INVALID = {
    "bad model name": (_mutate(lambda j: setattr(j, "model", "models/")), "batch_prediction_job.model"),
    "no model": (_mutate(lambda j: setattr(j, "model", "")), "Required field is not set"),
    "no display name": (_mutate(lambda j: setattr(j, "display_name", "")), "batch_prediction_job.display_name"),
    "no input source": (
        _mutate(lambda j: setattr(j, "input_config", v1.BatchPredictionJob.InputConfig(instances_format="jsonl"))),
        "input_config.gcs_source",
    ),
    "bad instances format": (
        _mutate(lambda j: setattr(j.input_config, "instances_format", "xml")),
        "instances_format",
    ),
    "gcs uri not gs://": (_mutate(lambda j: j.input_config.gcs_source.uris.append("/local/file")), "gs://"),
    "bigquery format without source": (
        _mutate(lambda j: setattr(j.input_config, "instances_format", "bigquery")),
        "bigquery_source",
    ),
    "no output destination": (
        _mutate(lambda j: setattr(j, "output_config", v1.BatchPredictionJob.OutputConfig(predictions_format="jsonl"))),
        "output_config.gcs_destination",
    ),
    "bad bigquery output uri": (
        _mutate(
            lambda j: setattr(
                j,
                "output_config",
                v1.BatchPredictionJob.OutputConfig(
                    predictions_format="bigquery", bigquery_destination=v1.BigQueryDestination(output_uri="proj.ds")
                ),
            )
        ),
        "bq://",
    ),
    "bad label": (_mutate(lambda j: j.labels.update({"Bad": "x"})), "labels"),
    "bad scenario": (
        _mutate(lambda j: setattr(j, "model_parameters", _params("RUNNING:1,BOGUS"))),
        "unknown job state",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_batch_jobs(client: v1.JobServiceClient, parent: str, case: str) -> None:
    job, fragment = INVALID[case]
    with pytest.raises(gexc.BadRequest) as exc:
        client.create_batch_prediction_job(parent=parent, batch_prediction_job=job)
    assert error_of(exc)["status"] == "INVALID_ARGUMENT"
    assert fragment in error_of(exc)["message"], error_of(exc)["message"]
    assert list(client.list_batch_prediction_jobs(parent=parent)) == []


def test_both_sources_is_invalid_raw(emulator: EmulatorServer, parent: str) -> None:
    body = {
        "displayName": "x",
        "model": MODEL,
        "inputConfig": {
            "instancesFormat": "jsonl",
            "gcsSource": {"uris": ["gs://b/x"]},
            "bigquerySource": {"inputUri": "bq://p.d.t"},
        },
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://b/o"}},
    }
    response = requests.post(f"{emulator.url}/v1/{parent}/batchPredictionJobs", json=body, timeout=10)
    assert response.status_code == 400
    assert "exactly one of gcs_source, bigquery_source or" in response.json()["error"]["message"]


def test_cancel_delete_list_and_filters(client: v1.JobServiceClient, emulator: EmulatorServer, parent: str) -> None:
    admin = AdminClient(emulator.url)
    running = client.create_batch_prediction_job(
        parent=parent, batch_prediction_job=batch_job("PENDING:0,RUNNING", display_name="runner")
    )
    other = client.create_batch_prediction_job(
        parent=parent,
        batch_prediction_job=batch_job("SUCCEEDED", model="publishers/google/models/gemini", display_name="gem"),
    )
    listed = [j.name for j in client.list_batch_prediction_jobs(request={"parent": parent, "page_size": 1})]
    assert listed == [running.name, other.name]
    by_model = client.list_batch_prediction_jobs(request={"parent": parent, "filter": 'model_display_name="gemini"'})
    assert [j.name for j in by_model] == [other.name]
    succeeded = client.list_batch_prediction_jobs(
        request={"parent": parent, "filter": 'state="JOB_STATE_SUCCEEDED" OR display_name="runner" AND labels.x:*'}
    )
    assert [j.name for j in succeeded] == []  # (SUCCEEDED OR runner) AND labels.x:* -- no job has label x
    client.cancel_batch_prediction_job(name=running.name)
    assert client.get_batch_prediction_job(name=running.name).state == v1.JobState.JOB_STATE_CANCELLING
    forced = admin.set_state(running.name, "CANCELLED")
    assert forced["state"] == "JOB_STATE_CANCELLED"
    assert client.delete_batch_prediction_job(name=running.name).result() == empty_pb2.Empty()
    with pytest.raises(gexc.NotFound):
        client.get_batch_prediction_job(name=running.name)
    with pytest.raises(gexc.BadRequest) as ended:
        client.cancel_batch_prediction_job(name=other.name)
    assert error_of(ended)["status"] == "FAILED_PRECONDITION"
    with pytest.raises(gexc.BadRequest):
        client.get_batch_prediction_job(name=f"{parent}/batchPredictionJobs/not-a-number")
    counted = admin.calls()
    assert counted["CreateBatchPredictionJob"] >= 2 and counted["CancelBatchPredictionJob"] >= 2
