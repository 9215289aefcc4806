"""Scripted lifecycles, timeouts, cancel and delete of customJobs."""

from __future__ import annotations

import re
import time

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import empty_pb2

from vertex_emulator import EmulatorServer

from .support import (
    TIME_FACTOR,
    TIMESTAMP,
    assert_bad_request,
    create,
    raw_get,
    wait_for,
    wait_state,
)

pytestmark = pytest.mark.timeout(120)


# -- lifecycle ------------------------------------------------------------------------------------------
def test_default_scenario_runs_to_success(client: v1.JobServiceClient, parent: str) -> None:
    job = create(client, parent)
    seen = [job.state]
    deadline = time.monotonic() + 20
    while job.state != v1.JobState.JOB_STATE_SUCCEEDED and time.monotonic() < deadline:
        job = client.get_custom_job(name=job.name)
        if job.state != seen[-1]:
            seen.append(job.state)
    order = [
        v1.JobState.JOB_STATE_PENDING,
        v1.JobState.JOB_STATE_QUEUED,
        v1.JobState.JOB_STATE_RUNNING,
        v1.JobState.JOB_STATE_SUCCEEDED,
    ]
    assert seen[-1] == v1.JobState.JOB_STATE_SUCCEEDED
    assert seen == sorted(seen, key=order.index)  # never goes backwards
    assert job.create_time < job.start_time < job.end_time
    assert job.update_time == job.end_time
    assert not job.error.message


def test_states_follow_scenario_timing(client: v1.JobServiceClient, emulator: EmulatorServer, parent: str) -> None:
    # 1 s of PENDING then 1 s of RUNNING (scaled by the time factor) and success.
    job = create(client, parent, scenario="PENDING:1,RUNNING:1,SUCCEEDED")
    done = wait_state(client, job.name, v1.JobState.JOB_STATE_SUCCEEDED)
    body = raw_get(emulator.url, f"/v1/{job.name}").json()
    scaled = 1.0 * TIME_FACTOR
    assert (done.start_time - done.create_time).total_seconds() == pytest.approx(scaled, abs=1e-3)
    assert (done.end_time - done.start_time).total_seconds() == pytest.approx(scaled, abs=1e-3)
    for key in ("createTime", "startTime", "endTime", "updateTime"):
        assert TIMESTAMP.match(body[key]), body[key]


@pytest.mark.parametrize(
    ("scenario", "state", "error_code", "fragment"),
    [
        ("PENDING:0,RUNNING:0,FAILED", "JOB_STATE_FAILED", 13, "non-zero status of 1"),
        ("QUEUED:0,EXPIRED", "JOB_STATE_EXPIRED", 4, "expired"),
        ("RUNNING:0,CANCELLED", "JOB_STATE_CANCELLED", 1, "CANCELED"),
        ("RUNNING:0,PARTIALLY_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED", None, None),
        ("job_state_running:0,JOB_STATE_SUCCEEDED", "JOB_STATE_SUCCEEDED", None, None),
    ],
)
def test_final_scenarios(
    client: v1.JobServiceClient,
    parent: str,
    scenario: str,
    state: str,
    error_code: int | None,
    fragment: str | None,
) -> None:
    job = create(client, parent, scenario=scenario)
    done = wait_state(client, job.name, v1.JobState[state])
    assert done.end_time
    if error_code is None:
        assert not done.error.message and done.error.code == 0
    else:
        assert done.error.code == error_code
        assert fragment in done.error.message


@pytest.mark.parametrize("state", ["PAUSED", "UPDATING", "UNSPECIFIED", "QUEUED"])
def test_non_final_last_state_is_kept(
    client: v1.JobServiceClient, emulator: EmulatorServer, parent: str, state: str
) -> None:
    job = create(client, parent, scenario=f"PENDING:0,RUNNING:1,{state}")
    wait_for(client, job.name, lambda j: j.start_time and j.update_time > j.start_time)
    time.sleep(5 * TIME_FACTOR)
    body = raw_get(emulator.url, f"/v1/{job.name}").json()
    assert body["state"] == f"JOB_STATE_{state}"
    assert "endTime" not in body and "error" not in body


def test_scheduling_timeout_fails_a_running_job(client: v1.JobServiceClient, parent: str) -> None:
    job = create(client, parent, scenario="PENDING:0,RUNNING:1000,SUCCEEDED", timeout_s=3)
    failed = wait_state(client, job.name, v1.JobState.JOB_STATE_FAILED)
    assert "timeout" in failed.error.message and "3s" in failed.error.message
    ran = (failed.end_time - failed.start_time).total_seconds()
    assert ran == pytest.approx(3 * TIME_FACTOR, abs=1e-3)


def test_scheduling_timeout_with_fraction_and_no_effect_when_job_ends_first(
    client: v1.JobServiceClient, emulator: EmulatorServer, parent: str
) -> None:
    body = {
        "displayName": "fractional-timeout",
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "containerSpec": {
                        "imageUri": "img",
                        "env": [{"name": "VERTEX_EMULATOR_SCENARIO", "value": "RUNNING"}],
                    },
                }
            ],
            "scheduling": {"timeout": "1.5s"},
        },
    }
    response = requests.post(f"{emulator.url}/v1/{parent}/customJobs", json=body, timeout=10)
    assert response.status_code == 200, response.text
    name = response.json()["name"]
    failed = wait_state(client, name, v1.JobState.JOB_STATE_FAILED)
    assert "1.5s" in failed.error.message
    quick = create(client, parent, scenario="RUNNING:1,SUCCEEDED", timeout_s=100)
    assert wait_state(client, quick.name, v1.JobState.JOB_STATE_SUCCEEDED).error.code == 0


# -- cancel ---------------------------------------------------------------------------------------------
def test_cancel_pending_job(client: v1.JobServiceClient, parent: str) -> None:
    job = create(client, parent, scenario="PENDING:1000,RUNNING", env={"VERTEX_EMULATOR_CANCEL_DELAY": "1000"})
    assert client.cancel_custom_job(name=job.name) is None
    cancelling = client.get_custom_job(name=job.name)
    assert cancelling.state == v1.JobState.JOB_STATE_CANCELLING
    assert not cancelling.end_time
    client.cancel_custom_job(name=job.name)  # cancelling again is a harmless no-op
    assert client.get_custom_job(name=job.name).state == v1.JobState.JOB_STATE_CANCELLING


def test_cancel_running_job_ends_cancelled(client: v1.JobServiceClient, parent: str) -> None:
    job = create(client, parent, scenario="PENDING:0,RUNNING")
    wait_state(client, job.name, v1.JobState.JOB_STATE_RUNNING)
    client.cancel_custom_job(name=job.name)
    cancelled = wait_state(client, job.name, v1.JobState.JOB_STATE_CANCELLED)
    assert cancelled.error.code == 1 and cancelled.error.message == "CANCELED"
    assert cancelled.start_time and cancelled.end_time >= cancelled.start_time
    assert cancelled.update_time == cancelled.end_time


@pytest.mark.parametrize("scenario", ["SUCCEEDED", "PENDING:0,FAILED", "CANCELLED", "EXPIRED"])
def test_cancel_finished_job_is_failed_precondition(client: v1.JobServiceClient, parent: str, scenario: str) -> None:
    job = create(client, parent, scenario=scenario)
    wait_for(client, job.name, lambda j: bool(j.end_time))
    with pytest.raises(gexc.BadRequest) as exc:
        client.cancel_custom_job(name=job.name)
    assert_bad_request(exc, "FAILED_PRECONDITION", "already ended")


# -- delete and operations ------------------------------------------------------------------------------
def test_delete_finished_job_returns_done_operation(
    client: v1.JobServiceClient, emulator: EmulatorServer, parent: str
) -> None:
    job = create(client, parent, scenario="SUCCEEDED")
    operation = client.delete_custom_job(name=job.name)
    assert operation.done()
    assert operation.result() == empty_pb2.Empty()
    assert isinstance(operation.metadata, v1.DeleteOperationMetadata)
    assert operation.metadata.generic_metadata.create_time
    op_name = operation.operation.name
    assert re.fullmatch(rf"{parent}/operations/\d+", op_name)
    fetched = client.get_operation({"name": op_name})
    assert fetched.done and fetched.name == op_name
    assert fetched.response.type_url == "type.googleapis.com/google.protobuf.Empty"
    raw = raw_get(emulator.url, f"/v1/{op_name}").json()
    assert raw["done"] is True
    assert raw["metadata"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
    with pytest.raises(gexc.NotFound):
        client.get_custom_job(name=job.name)
    assert list(client.list_custom_jobs(parent=parent)) == []
    with pytest.raises(gexc.NotFound):
        client.get_operation({"name": f"{parent}/operations/1"})


def test_delete_running_job_is_failed_precondition(client: v1.JobServiceClient, parent: str) -> None:
    job = create(client, parent, scenario="PENDING:1000,RUNNING")
    with pytest.raises(gexc.BadRequest) as exc:
        client.delete_custom_job(name=job.name)
    assert_bad_request(exc, "FAILED_PRECONDITION", "only jobs that have ended")
    assert client.get_custom_job(name=job.name).state == v1.JobState.JOB_STATE_PENDING
