"""The admin API: call counters, faults, forced states, reset."""

from __future__ import annotations

import random
import time

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1

from vertex_emulator import AdminClient, EmulatorServer
from vertex_emulator.admin import AdminError

from .support import (
    PROJECT,
    TIME_FACTOR,
    assert_bad_request,
    create,
    error_of,
    job_proto,
    make_client,
    wait_state,
)

pytestmark = pytest.mark.timeout(120)


# -- admin: counters and faults ------------------------------------------------------------------------
def test_call_counters(client: v1.JobServiceClient, admin: AdminClient, parent: str) -> None:
    admin.reset_calls()
    assert set(admin.calls().values()) == {0}
    job = create(client, parent, scenario="SUCCEEDED")
    client.get_custom_job(name=job.name)
    client.get_custom_job(name=job.name)
    list(client.list_custom_jobs(parent=parent))
    with pytest.raises(gexc.BadRequest):
        client.cancel_custom_job(name=job.name)
    operation = client.delete_custom_job(name=job.name)
    client.get_operation({"name": operation.operation.name})
    assert {method: count for method, count in admin.calls().items() if count} == {
        "CreateCustomJob": 1,
        "GetCustomJob": 2,
        "ListCustomJobs": 1,
        "CancelCustomJob": 1,
        "DeleteCustomJob": 1,
        "GetOperation": 1,
    }
    admin.reset_calls()
    assert admin.calls()["GetCustomJob"] == 0


def test_fault_count_503_and_429(client: v1.JobServiceClient, admin: AdminClient, parent: str) -> None:
    job = create(client, parent)
    admin.reset_calls()
    admin.add_fault(method="GetCustomJob", http_status=503, count=2, message="backend down")
    for _ in range(2):
        with pytest.raises(gexc.ServiceUnavailable) as exc:
            client.get_custom_job(name=job.name)
        assert error_of(exc) == {"code": 503, "message": "backend down", "status": "UNAVAILABLE"}
    client.get_custom_job(name=job.name)
    list(client.list_custom_jobs(parent=parent))  # other methods are unaffected
    admin.add_fault(method="*", http_status=429, count=1)
    with pytest.raises(gexc.TooManyRequests) as limited:
        list(client.list_custom_jobs(parent=parent))
    assert error_of(limited)["status"] == "RESOURCE_EXHAUSTED"
    client.create_custom_job(parent=parent, custom_job=job_proto())
    calls = admin.calls()
    assert calls["GetCustomJob"] == 3 and calls["ListCustomJobs"] == 2  # faulted calls are counted too
    faults = admin.faults()
    assert [f["remaining"] for f in faults] == [0, 0]
    admin.clear_faults()
    assert admin.faults() == []


def test_fault_ratio_is_a_share_of_calls(client: v1.JobServiceClient, admin: AdminClient, parent: str) -> None:
    job = create(client, parent)

    def pattern() -> list[bool]:
        admin.clear_faults()
        admin.add_fault(method="GetCustomJob", http_status=503, ratio=0.3, seed=7)
        out = []
        for _ in range(200):
            try:
                client.get_custom_job(name=job.name)
                out.append(False)
            except gexc.ServiceUnavailable:
                out.append(True)
        return out

    first = pattern()
    assert 30 <= sum(first) <= 90
    assert pattern() == first  # the seed makes the failure pattern reproducible
    rng = random.Random(7)
    assert first == [rng.random() < 0.3 for _ in range(200)]


def test_fault_latency(client: v1.JobServiceClient, admin: AdminClient, parent: str) -> None:
    job = create(client, parent)
    admin.add_fault(method="GetCustomJob", latency_ms=300, count=1)
    started = time.monotonic()
    client.get_custom_job(name=job.name)
    assert time.monotonic() - started >= 0.3
    admin.add_fault(method="GetCustomJob", http_status=500, latency_ms=200, count=1)
    started = time.monotonic()
    with pytest.raises(gexc.InternalServerError):
        client.get_custom_job(name=job.name)
    assert time.monotonic() - started >= 0.2


def test_bad_fault_specs_are_rejected(admin: AdminClient) -> None:
    for spec in ({"method": "Nope", "httpStatus": 503}, {"httpStatus": 200}, {"ratio": 2, "httpStatus": 503}, {}):
        with pytest.raises(AdminError) as exc:
            admin._call("POST", "/emulator/faults", spec)
        assert exc.value.status == 400


def test_server_wide_cancel_delay_and_per_job_override() -> None:
    server = EmulatorServer(port=0, time_factor=TIME_FACTOR, cancel_delay=1000).start()
    try:
        own = make_client(server.url)
        parent = f"projects/{PROJECT}/locations/us-central1"
        slow = create(own, parent, scenario="PENDING:0,RUNNING")
        quick = create(own, parent, scenario="PENDING:0,RUNNING", env={"VERTEX_EMULATOR_CANCEL_DELAY": "0"})
        own.cancel_custom_job(name=slow.name)
        own.cancel_custom_job(name=quick.name)
        assert wait_state(own, quick.name, v1.JobState.JOB_STATE_CANCELLED).error.code == 1
        assert own.get_custom_job(name=slow.name).state == v1.JobState.JOB_STATE_CANCELLING
        with pytest.raises(gexc.BadRequest) as exc:
            create(own, parent, env={"VERTEX_EMULATOR_CANCEL_DELAY": "soon"})
        assert_bad_request(exc, "INVALID_ARGUMENT", "VERTEX_EMULATOR_CANCEL_DELAY")
    finally:
        server.stop()


def test_admin_set_state_and_reset() -> None:
    server = EmulatorServer(port=0, time_factor=TIME_FACTOR).start()
    try:
        own = make_client(server.url)
        own_admin = AdminClient(server.url)
        parent = f"projects/{PROJECT}/locations/us-central1"
        job = create(own, parent, scenario="PENDING:1000,RUNNING")
        forced = own_admin.set_state(job.name, "JOB_STATE_FAILED")
        assert forced["state"] == "JOB_STATE_FAILED" and forced["error"]["code"] == 13
        assert own.get_custom_job(name=job.name).state == v1.JobState.JOB_STATE_FAILED
        own_admin.set_state(job.name, "PAUSED")
        assert own.get_custom_job(name=job.name).state == v1.JobState.JOB_STATE_PAUSED
        with pytest.raises(AdminError):
            own_admin.set_state(job.name, "JOB_STATE_BOGUS")
        own_admin.add_fault(method="GetCustomJob", http_status=503)
        assert own_admin.health()["ok"] is True
        own_admin.reset()
        assert own_admin.faults() == [] and set(own_admin.calls().values()) == {0}
        with pytest.raises(gexc.NotFound):
            own.get_custom_job(name=job.name)
        assert list(own.list_custom_jobs(parent=parent)) == []
    finally:
        server.stop()


def test_set_state_for_each_collection(emulator: EmulatorServer, admin: AdminClient, parent: str) -> None:
    pipeline = {
        "pipelineSpec": {"pipelineInfo": {"name": "p"}, "root": {}},
        "runtimeConfig": {"gcsOutputDirectory": "gs://b/r"},
    }
    name = requests.post(
        f"{emulator.url}/v1/{parent}/pipelineJobs?pipelineJobId=forced", json=pipeline, timeout=10
    ).json()["name"]
    assert admin.set_state(name, "FAILED")["state"] == "PIPELINE_STATE_FAILED"
    assert admin.set_state(name, "PIPELINE_STATE_RUNNING")["state"] == "PIPELINE_STATE_RUNNING"
    with pytest.raises(AdminError):
        admin.set_state(name, "JOB_STATE_RUNNING")
    _, project, _, location, _, job = name.split("/")
    path = f"/emulator/jobs/{project}/{location}/pipelineJobs/{job}:setState"
    assert admin._call("POST", path, {"state": "SUCCEEDED"})["state"] == "PIPELINE_STATE_SUCCEEDED"
    custom = create(make_client(emulator.url), parent, scenario="PENDING")
    assert admin.set_state(custom.name, "RUNNING", collection="customJobs")["state"] == "JOB_STATE_RUNNING"
