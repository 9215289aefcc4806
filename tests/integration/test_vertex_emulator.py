"""The Vertex AI emulator, driven through the official ``JobServiceClient`` over REST (no mocks)."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.protobuf import duration_pb2, empty_pb2, field_mask_pb2

import vertex_emulator
from vertex_emulator import AdminClient, EmulatorServer
from vertex_emulator.admin import AdminError

PROJECT = "test-project"
TIME_FACTOR = 0.02
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z$")
INT_ENUMS = {"$alt": "json;enum-encoding=int"}

pytestmark = pytest.mark.timeout(120)


# -- fixtures and helpers -----------------------------------------------------------------------------
def make_client(url: str) -> v1.JobServiceClient:
    return v1.JobServiceClient(
        transport="rest",
        client_options={"api_endpoint": url},
        credentials=AnonymousCredentials(),
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(host="127.0.0.1", port=0, time_factor=TIME_FACTOR, execute=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def exec_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    log_dir = str(tmp_path_factory.mktemp("vertex-logs"))
    server = EmulatorServer(port=0, time_factor=TIME_FACTOR, execute=True, log_dir=log_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(emulator: EmulatorServer) -> v1.JobServiceClient:
    return make_client(emulator.url)


@pytest.fixture(scope="module")
def exec_client(exec_emulator: EmulatorServer) -> v1.JobServiceClient:
    return make_client(exec_emulator.url)


@pytest.fixture()
def admin(emulator: EmulatorServer) -> Iterator[AdminClient]:
    admin = AdminClient(emulator.url)
    yield admin
    admin.clear_faults()


_locations = itertools.count(1)


@pytest.fixture()
def parent() -> str:
    """A location of its own for each test, so tests never see each other's jobs."""
    return f"projects/{PROJECT}/locations/loc-{next(_locations)}"


def job_proto(
    display_name: str = "job",
    scenario: str | None = None,
    labels: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    args: list[str] | None = None,
    timeout_s: float | None = None,
    **job_spec: Any,
) -> v1.CustomJob:
    variables = dict(env or {})
    if scenario is not None:
        variables["VERTEX_EMULATOR_SCENARIO"] = scenario
    container = v1.ContainerSpec(
        image_uri="us-docker.pkg.dev/test-project/train/trainer:1.0",
        command=command or [],
        args=args or [],
        env=[v1.EnvVar(name=k, value=v) for k, v in variables.items()],
    )
    spec = v1.CustomJobSpec(
        worker_pool_specs=[
            v1.WorkerPoolSpec(
                machine_spec=v1.MachineSpec(machine_type="n1-standard-4"),
                replica_count=1,
                container_spec=container,
            )
        ],
        **job_spec,
    )
    if timeout_s is not None:
        spec.scheduling = v1.Scheduling(timeout=duration_pb2.Duration(seconds=int(timeout_s)))
    return v1.CustomJob(display_name=display_name, job_spec=spec, labels=labels or {})


def create(client: v1.JobServiceClient, parent: str, **kwargs: Any) -> v1.CustomJob:
    return client.create_custom_job(parent=parent, custom_job=job_proto(**kwargs))


def wait_for(
    client: v1.JobServiceClient, name: str, done: Callable[[v1.CustomJob], bool], timeout: float = 20.0
) -> v1.CustomJob:
    """Poll ``get`` until ``done(job)``; fail with the last job seen at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_custom_job(name=name)
        if done(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached; last state {job.state.name}: {job}")
        time.sleep(0.01)


def wait_state(client: v1.JobServiceClient, name: str, state: v1.JobState, timeout: float = 20.0) -> v1.CustomJob:
    return wait_for(client, name, lambda job: job.state == state, timeout)


def raw_get(url: str, path: str, **params: str) -> requests.Response:
    return requests.get(url + path, params=params, timeout=10)


def error_of(exc: pytest.ExceptionInfo[gexc.GoogleAPICallError]) -> dict[str, Any]:
    """The ``error`` object of Google's JSON error form behind a client exception."""
    response = exc.value.response
    assert response is not None
    return response.json()["error"]


def assert_bad_request(exc: pytest.ExceptionInfo[gexc.GoogleAPICallError], status: str, fragment: str) -> None:
    error = error_of(exc)
    assert error["code"] == 400
    assert error["status"] == status
    assert fragment in error["message"], error["message"]


def job_id(job: v1.CustomJob) -> int:
    return int(job.name.rsplit("/", 1)[1])


# -- create / get / resource fidelity -------------------------------------------------------------------
def test_create_assigns_name_and_initial_fields(client: v1.JobServiceClient, parent: str) -> None:
    job = create(client, parent, display_name="first", scenario="PENDING:1000,RUNNING")
    assert re.fullmatch(rf"{parent}/customJobs/\d{{19}}", job.name)
    assert job.display_name == "first"
    assert job.state == v1.JobState.JOB_STATE_PENDING
    assert job.create_time and job.update_time == job.create_time
    assert not job.start_time and not job.end_time and not job.error.message
    again = client.get_custom_job(name=job.name)
    assert again == job
    other = create(client, parent, display_name="second")
    assert job_id(other) > job_id(job)


def test_rich_job_spec_round_trips(client: v1.JobServiceClient, emulator: EmulatorServer, parent: str) -> None:
    spec = v1.CustomJobSpec(
        worker_pool_specs=[
            v1.WorkerPoolSpec(
                machine_spec=v1.MachineSpec(
                    machine_type="a2-highgpu-1g",
                    accelerator_type=v1.AcceleratorType.NVIDIA_TESLA_A100,
                    accelerator_count=1,
                    reservation_affinity=v1.ReservationAffinity(
                        reservation_affinity_type=v1.ReservationAffinity.Type.ANY_RESERVATION
                    ),
                ),
                replica_count=1,
                disk_spec=v1.DiskSpec(boot_disk_type="pd-ssd", boot_disk_size_gb=200),
                nfs_mounts=[v1.NfsMount(server="10.0.0.2", path="/share", mount_point="data")],
                container_spec=v1.ContainerSpec(
                    image_uri="us-docker.pkg.dev/test-project/train/trainer:1.4",
                    command=["python", "-m", "trainer"],
                    args=["--epochs", "10", "--data=gs://bucket/data"],
                    env=[
                        v1.EnvVar(name="MODE", value="fast"),
                        v1.EnvVar(name="VERTEX_EMULATOR_SCENARIO", value="PENDING:0,RUNNING"),
                    ],
                ),
            ),
            v1.WorkerPoolSpec(
                machine_spec=v1.MachineSpec(machine_type="n1-highmem-8"),
                replica_count=2,
                python_package_spec=v1.PythonPackageSpec(
                    executor_image_uri="us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-12:latest",
                    package_uris=["gs://bucket/trainer-0.1.tar.gz", "gs://bucket/extra-1.0.tar.gz"],
                    python_module="trainer.task",
                    args=["--role", "worker"],
                    env=[v1.EnvVar(name="ROLE", value="worker")],
                ),
            ),
            v1.WorkerPoolSpec(),  # empty placeholder pool, e.g. no parameter servers
            v1.WorkerPoolSpec(
                machine_spec=v1.MachineSpec(machine_type="n1-standard-4"),
                replica_count=1,
                container_spec=v1.ContainerSpec(image_uri="us-docker.pkg.dev/test-project/train/eval:1.4"),
            ),
        ],
        scheduling=v1.Scheduling(
            timeout=duration_pb2.Duration(seconds=86400),
            restart_job_on_worker_restart=True,
            strategy=v1.Scheduling.Strategy.SPOT,
            disable_retries=True,
        ),
        service_account="trainer@test-project.iam.gserviceaccount.com",
        network="projects/123456789/global/networks/training-vpc",
        reserved_ip_ranges=["vertex-range-a", "vertex-range-b"],
        base_output_directory=v1.GcsDestination(output_uri_prefix="gs://bucket/output/"),
        tensorboard="projects/test-project/locations/us-central1/tensorboards/42",
        enable_web_access=True,
        enable_dashboard_access=True,
        experiment="projects/test-project/locations/us-central1/metadataStores/default/contexts/exp",
        models=["projects/test-project/locations/us-central1/models/7"],
    )
    sent = v1.CustomJob(
        display_name="rich",
        job_spec=spec,
        labels={"team": "ml", "env": "prod", "empty": ""},
        encryption_spec=v1.EncryptionSpec(
            kms_key_name="projects/test-project/locations/us-central1/keyRings/kr/cryptoKeys/key"
        ),
    )
    created = client.create_custom_job(parent=parent, custom_job=sent)
    got = client.get_custom_job(name=created.name)
    for job in (created, got):
        assert job.job_spec == sent.job_spec
        assert dict(job.labels) == dict(sent.labels)
        assert job.encryption_spec == sent.encryption_spec

    running = wait_state(client, created.name, v1.JobState.JOB_STATE_RUNNING)
    assert dict(running.web_access_uris).keys() == {"workerpool0-0", "workerpool1-0", "workerpool1-1", "workerpool3-0"}
    assert all(uri.startswith("https://") for uri in running.web_access_uris.values())

    # Without enum-encoding=int the JSON carries enum names and camelCase fields, like Vertex AI.
    body = raw_get(emulator.url, f"/v1/{created.name}").json()
    pool0 = body["jobSpec"]["workerPoolSpecs"][0]
    assert body["state"] == "JOB_STATE_RUNNING"
    assert pool0["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_A100"
    assert pool0["machineSpec"]["reservationAffinity"]["reservationAffinityType"] == "ANY_RESERVATION"
    assert body["jobSpec"]["scheduling"]["strategy"] == "SPOT"
    assert body["jobSpec"]["workerPoolSpecs"][2] == {}
    ints = raw_get(emulator.url, f"/v1/{created.name}", **INT_ENUMS).json()
    assert ints["state"] == v1.JobState.JOB_STATE_RUNNING.value
    assert ints["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["acceleratorType"] == 8
    assert ints["jobSpec"]["scheduling"]["strategy"] == v1.Scheduling.Strategy.SPOT.value


def test_plain_json_client_gets_google_json(emulator: EmulatorServer, parent: str) -> None:
    """A non-Google client: snake_case input is accepted; output is camelCase, names, RFC 3339 with Z."""
    body = {
        "display_name": "plain",
        "job_spec": {
            "worker_pool_specs": [
                {
                    "machine_spec": {"machine_type": "n1-standard-4", "accelerator_type": 5, "accelerator_count": 1},
                    "replica_count": "1",
                    "container_spec": {"image_uri": "img"},
                }
            ]
        },
        "labels": {"k": "v"},
    }
    response = requests.post(f"{emulator.url}/v1/{parent}/customJobs", json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    job = response.json()
    assert job["displayName"] == "plain"
    assert job["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_T4"
    assert job["state"] == "JOB_STATE_PENDING"
    assert TIMESTAMP.match(job["createTime"]) and TIMESTAMP.match(job["updateTime"])
    assert "startTime" not in job and "endTime" not in job and "error" not in job


# -- validation -----------------------------------------------------------------------------------------
def pool(**overrides: Any) -> v1.WorkerPoolSpec:
    fields: dict[str, Any] = {
        "machine_spec": v1.MachineSpec(machine_type="n1-standard-4"),
        "replica_count": 1,
        "container_spec": v1.ContainerSpec(image_uri="img"),
    }
    fields.update(overrides)
    return v1.WorkerPoolSpec(**{k: v for k, v in fields.items() if v is not None})


def job_with(pools: list[v1.WorkerPoolSpec], display_name: str = "job", **fields: Any) -> v1.CustomJob:
    return v1.CustomJob(display_name=display_name, job_spec=v1.CustomJobSpec(worker_pool_specs=pools), **fields)


PYTHON_SPEC = {"executor_image_uri": "img", "package_uris": ["gs://b/p.tar.gz"], "python_module": "m"}

INVALID_JOBS: dict[str, tuple[v1.CustomJob, str]] = {
    "display name missing": (job_with([pool()], display_name=""), "display_name is required"),
    "display name too long": (job_with([pool()], display_name="x" * 129), "at most 128"),
    "no worker pools": (job_with([]), "at least one worker pool"),
    "first pool empty": (job_with([v1.WorkerPoolSpec(), pool()]), "worker_pool_specs[0] must not be empty"),
    "machine type missing": (job_with([pool(machine_spec=v1.MachineSpec())]), "machine_type is required"),
    "first pool two replicas": (job_with([pool(replica_count=2)]), "replica_count must be 1"),
    "first pool no replicas": (job_with([pool(replica_count=None)]), "replica_count must be 1"),
    "second pool no replicas": (job_with([pool(), pool(replica_count=None)]), "at least 1"),
    "neither spec": (job_with([pool(container_spec=None)]), "exactly one of container_spec or python_package_spec"),
    "image missing": (job_with([pool(container_spec=v1.ContainerSpec(command=["x"]))]), "image_uri is required"),
    "executor image missing": (
        job_with(
            [
                pool(
                    container_spec=None,
                    python_package_spec=v1.PythonPackageSpec(**{**PYTHON_SPEC, "executor_image_uri": ""}),
                )
            ]
        ),
        "executor_image_uri is required",
    ),
    "package uris missing": (
        job_with(
            [pool(container_spec=None, python_package_spec=v1.PythonPackageSpec(**{**PYTHON_SPEC, "package_uris": []}))]
        ),
        "package_uris needs at least one URI",
    ),
    "python module missing": (
        job_with(
            [
                pool(
                    container_spec=None,
                    python_package_spec=v1.PythonPackageSpec(**{**PYTHON_SPEC, "python_module": ""}),
                )
            ]
        ),
        "python_module is required",
    ),
    "101 env vars": (
        job_with(
            [
                pool(
                    container_spec=v1.ContainerSpec(
                        image_uri="img", env=[v1.EnvVar(name=f"V{i}", value="x") for i in range(101)]
                    )
                )
            ]
        ),
        "at most 100 environment variables",
    ),
    "101 env vars in python spec": (
        job_with(
            [
                pool(
                    container_spec=None,
                    python_package_spec=v1.PythonPackageSpec(
                        **PYTHON_SPEC, env=[v1.EnvVar(name=f"V{i}", value="x") for i in range(101)]
                    ),
                )
            ]
        ),
        "at most 100 environment variables",
    ),
    "bad env var name": (
        job_with([pool(container_spec=v1.ContainerSpec(image_uri="img", env=[v1.EnvVar(name="1X", value="")]))]),
        "not a valid environment variable name",
    ),
    "accelerator count without type": (
        job_with([pool(machine_spec=v1.MachineSpec(machine_type="n1-standard-4", accelerator_count=1))]),
        "accelerator_type is not set",
    ),
    "65 labels": (job_with([pool()], labels={f"k{i}": "v" for i in range(65)}), "at most 64 labels"),
    "uppercase label key": (job_with([pool()], labels={"Env": "prod"}), "must start with a lowercase letter"),
    "label key starts with digit": (job_with([pool()], labels={"1env": "x"}), "must start with a lowercase letter"),
    "label key with dot": (job_with([pool()], labels={"a.b": "x"}), "may contain only"),
    "label key too long": (job_with([pool()], labels={"k" * 64: "x"}), "longer than 63"),
    "label value too long": (job_with([pool()], labels={"k": "v" * 64}), "longer than 63"),
    "uppercase label value": (job_with([pool()], labels={"k": "Prod"}), "may contain only"),
    "bad scenario state": (
        job_with(
            [
                pool(
                    container_spec=v1.ContainerSpec(
                        image_uri="img",
                        env=[v1.EnvVar(name="VERTEX_EMULATOR_SCENARIO", value="PENDING:1,BOGUS:1,SUCCEEDED")],
                    )
                )
            ]
        ),
        "unknown job state",
    ),
    "scenario duration missing": (
        job_with(
            [
                pool(
                    container_spec=v1.ContainerSpec(
                        image_uri="img", env=[v1.EnvVar(name="VERTEX_EMULATOR_SCENARIO", value="PENDING,SUCCEEDED")]
                    )
                )
            ]
        ),
        "needs a duration",
    ),
    "scenario final state not last": (
        job_with(
            [
                pool(
                    container_spec=v1.ContainerSpec(
                        image_uri="img", env=[v1.EnvVar(name="VERTEX_EMULATOR_SCENARIO", value="SUCCEEDED:1,RUNNING")]
                    )
                )
            ]
        ),
        "must be the last",
    ),
    "scenario negative duration": (
        job_with(
            [
                pool(
                    container_spec=v1.ContainerSpec(
                        image_uri="img", env=[v1.EnvVar(name="VERTEX_EMULATOR_SCENARIO", value="PENDING:-1,SUCCEEDED")]
                    )
                )
            ]
        ),
        ">= 0",
    ),
    "scenario last state with duration": (
        job_with(
            [
                pool(
                    container_spec=v1.ContainerSpec(
                        image_uri="img", env=[v1.EnvVar(name="VERTEX_EMULATOR_SCENARIO", value="RUNNING:1,SUCCEEDED:2")]
                    )
                )
            ]
        ),
        "takes no duration",
    ),
}


@pytest.mark.parametrize("case", list(INVALID_JOBS))
def test_create_rejects_invalid_jobs(client: v1.JobServiceClient, parent: str, case: str) -> None:
    job, fragment = INVALID_JOBS[case]
    with pytest.raises(gexc.BadRequest) as exc:
        client.create_custom_job(parent=parent, custom_job=job)
    assert_bad_request(exc, "INVALID_ARGUMENT", fragment)
    assert list(client.list_custom_jobs(parent=parent)) == []


VALID_EDGE_JOBS: dict[str, v1.CustomJob] = {
    "display name of 128": job_with([pool()], display_name="x" * 128),
    "100 env vars": job_with(
        [
            pool(
                container_spec=v1.ContainerSpec(
                    image_uri="img", env=[v1.EnvVar(name=f"V{i}", value="x") for i in range(100)]
                )
            )
        ]
    ),
    "64 labels, 63-char key and value, empty value": job_with(
        [pool()], labels={**{f"k{i}": "v" for i in range(62)}, "k" * 63: "v" * 63, "e": ""}
    ),
    "international lowercase labels": job_with([pool()], labels={"ключ": "значение", "ラベル": "値"}),
    "python package pool": job_with(
        [pool(container_spec=None, python_package_spec=v1.PythonPackageSpec(**PYTHON_SPEC))]
    ),
    "accelerator with type": job_with(
        [
            pool(
                machine_spec=v1.MachineSpec(
                    machine_type="n1-standard-4",
                    accelerator_type=v1.AcceleratorType.NVIDIA_TESLA_T4,
                    accelerator_count=2,
                )
            )
        ]
    ),
}


@pytest.mark.parametrize("case", list(VALID_EDGE_JOBS))
def test_create_accepts_edge_cases(client: v1.JobServiceClient, parent: str, case: str) -> None:
    sent = VALID_EDGE_JOBS[case]
    job = client.create_custom_job(parent=parent, custom_job=sent)
    assert job.job_spec == sent.job_spec
    assert dict(job.labels) == dict(sent.labels)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"displayName": "x", "jobSpec": {"workerPoolSpecs": [{}]}, "bogus": 1}, 'Unknown name "bogus"'),
        ({"displayName": 5, "jobSpec": {}}, "custom_job.display_name"),
        (  # container_spec and python_package_spec are a oneof: only raw JSON can send both
            {
                "displayName": "x",
                "jobSpec": {
                    "workerPoolSpecs": [
                        {
                            "machineSpec": {"machineType": "m"},
                            "replicaCount": "1",
                            "containerSpec": {"imageUri": "i"},
                            "pythonPackageSpec": {
                                "executorImageUri": "i",
                                "packageUris": ["gs://b/p"],
                                "pythonModule": "m",
                            },
                        }
                    ]
                },
            },
            "exactly one of container_spec or python_package_spec",
        ),
        (
            {
                "displayName": "x",
                "jobSpec": {
                    "workerPoolSpecs": [
                        {"machineSpec": {"machineType": "m"}, "replicaCount": "one", "containerSpec": {"imageUri": "i"}}
                    ]
                },
            },
            "replica_count",
        ),
        (
            {
                "displayName": "x",
                "jobSpec": {
                    "workerPoolSpecs": [
                        {
                            "machineSpec": {"machineType": "m", "acceleratorType": "NVIDIA_TESLA_Z9"},
                            "replicaCount": "1",
                            "containerSpec": {"imageUri": "i"},
                        }
                    ]
                },
            },
            "accelerator_type",
        ),
        (
            {
                "displayName": "x",
                "jobSpec": {
                    "workerPoolSpecs": [
                        {"machineSpec": {"machineType": "m"}, "replicaCount": 1, "containerSpec": {"imageUri": "i"}}
                    ],
                    "scheduling": {"timeout": "an hour"},
                },
            },
            "scheduling.timeout",
        ),
    ],
)
def test_create_rejects_malformed_json(emulator: EmulatorServer, parent: str, body: Any, fragment: str) -> None:
    response = requests.post(f"{emulator.url}/v1/{parent}/customJobs", json=body, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and fragment in error["message"], error


def test_create_rejects_unparsable_body(emulator: EmulatorServer, parent: str) -> None:
    response = requests.post(f"{emulator.url}/v1/{parent}/customJobs", data=b"{not json", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    "bad_parent",
    ["projects/Bad_Project/locations/us-central1", "projects/test-project/locations/US CENTRAL"],
)
def test_malformed_parent_is_invalid_argument(client: v1.JobServiceClient, bad_parent: str) -> None:
    with pytest.raises(gexc.BadRequest) as exc:
        client.create_custom_job(parent=bad_parent, custom_job=job_proto())
    assert_bad_request(exc, "INVALID_ARGUMENT", "Invalid")
    with pytest.raises(gexc.BadRequest):
        list(client.list_custom_jobs(parent=bad_parent))


@pytest.mark.parametrize(
    "call",
    [
        lambda c, name: c.get_custom_job(name=name),
        lambda c, name: c.cancel_custom_job(name=name),
        lambda c, name: c.delete_custom_job(name=name),
    ],
    ids=["get", "cancel", "delete"],
)
def test_malformed_and_unknown_job_names(client: v1.JobServiceClient, parent: str, call: Callable[..., Any]) -> None:
    with pytest.raises(gexc.BadRequest) as exc:
        call(client, f"{parent}/customJobs/not-a-number")
    assert_bad_request(exc, "INVALID_ARGUMENT", "must be a number")
    with pytest.raises(gexc.NotFound) as missing:
        call(client, f"{parent}/customJobs/1234567890123456789")
    assert error_of(missing)["status"] == "NOT_FOUND"


def test_job_is_only_found_under_its_own_location(client: v1.JobServiceClient, parent: str) -> None:
    job = create(client, parent)
    elsewhere = job.name.replace(parent, f"projects/{PROJECT}/locations/elsewhere-1")
    with pytest.raises(gexc.NotFound):
        client.get_custom_job(name=elsewhere)


def test_unknown_query_parameter_is_rejected(emulator: EmulatorServer, parent: str) -> None:
    response = raw_get(emulator.url, f"/v1/{parent}/customJobs", bogusParam="1")
    assert response.status_code == 400
    assert "bogusParam" in response.json()["error"]["message"]


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


# -- routes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/projects/test-project/locations/us-central1/trainingPipelines"),
        ("GET", "/nothing"),
        ("POST", "/v1/projects/test-project/locations/us-central1/customJobs/123:frobnicate"),
        ("PUT", "/v1/projects/test-project/locations/us-central1/customJobs/123"),
        ("GET", "/emulator/nothing"),
    ],
)
def test_unknown_routes_answer_google_404(emulator: EmulatorServer, method: str, path: str) -> None:
    response = requests.request(method, emulator.url + path, timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
    assert response.json()["error"]["code"] == 404


# -- list: pagination -----------------------------------------------------------------------------------
def test_empty_list(client: v1.JobServiceClient, emulator: EmulatorServer, parent: str) -> None:
    assert list(client.list_custom_jobs(parent=parent)) == []
    assert raw_get(emulator.url, f"/v1/{parent}/customJobs").json() == {}


def test_pagination_over_260_jobs(client: v1.JobServiceClient, parent: str) -> None:
    names = [create(client, parent, display_name=f"job-{i}").name for i in range(260)]
    pages = list(client.list_custom_jobs(request={"parent": parent, "page_size": 100}).pages)
    assert [len(page.custom_jobs) for page in pages] == [100, 100, 60]
    listed = [job.name for page in pages for job in page.custom_jobs]
    assert listed == names  # ascending ids: every job exactly once, in creation order
    default = client.list_custom_jobs(request={"parent": parent})
    assert len(next(iter(default.pages)).custom_jobs) == 100  # default page size
    clamped = client.list_custom_jobs(request={"parent": parent, "page_size": 1000})
    first = next(iter(clamped.pages))
    assert len(first.custom_jobs) == 100 and first.next_page_token  # larger sizes are clamped
    small = [job.name for job in client.list_custom_jobs(request={"parent": parent, "page_size": 7})]
    assert small == names


def test_pagination_with_creates_between_pages(client: v1.JobServiceClient, parent: str) -> None:
    before = [create(client, parent, display_name=f"b{i}").name for i in range(30)]
    seen: list[str] = []
    token = ""
    added: list[str] = []
    while True:
        page = client.list_custom_jobs(request={"parent": parent, "page_size": 8, "page_token": token})
        response = next(iter(page.pages))
        seen += [job.name for job in response.custom_jobs]
        added += [create(client, parent, display_name=f"new{len(added)}").name for _ in range(2)]
        token = response.next_page_token
        if not token or len(added) > 100:
            break
    assert len(seen) == len(set(seen)), "a job was listed twice"
    assert set(before) <= set(seen), "a job that existed before listing was skipped"
    assert set(seen) <= set(before) | set(added)


def test_pagination_under_concurrent_creates(emulator: EmulatorServer, parent: str) -> None:
    lister = make_client(emulator.url)
    existing = {create(lister, parent, display_name=f"e{i}").name for i in range(120)}
    stop = threading.Event()
    created: list[str] = []

    def creator() -> None:
        mine = make_client(emulator.url)
        while not stop.is_set() and len(created) < 400:
            created.append(create(mine, parent, display_name="concurrent").name)

    threads = [threading.Thread(target=creator) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        listed = [job.name for job in lister.list_custom_jobs(request={"parent": parent, "page_size": 10})]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(listed) == len(set(listed))
    assert existing <= set(listed)
    assert set(listed) <= existing | set(created)
    assert [int(n.rsplit("/", 1)[1]) for n in listed] == sorted(int(n.rsplit("/", 1)[1]) for n in listed)


def test_list_is_scoped_to_its_location(client: v1.JobServiceClient, parent: str) -> None:
    mine = create(client, parent)
    create(client, parent + "-other")
    assert [job.name for job in client.list_custom_jobs(parent=parent)] == [mine.name]


def test_page_token_is_bound_to_its_filter(client: v1.JobServiceClient, parent: str) -> None:
    for i in range(5):
        create(client, parent, display_name=f"t{i}")
    first = next(iter(client.list_custom_jobs(request={"parent": parent, "page_size": 2}).pages))
    assert first.next_page_token
    with pytest.raises(gexc.BadRequest) as exc:
        client.list_custom_jobs(
            request={
                "parent": parent,
                "page_size": 2,
                "page_token": first.next_page_token,
                "filter": 'display_name="t1"',
            }
        )
    assert_bad_request(exc, "INVALID_ARGUMENT", "page_token")
    with pytest.raises(gexc.BadRequest) as garbage:
        client.list_custom_jobs(request={"parent": parent, "page_token": "not-a-token"})
    assert_bad_request(garbage, "INVALID_ARGUMENT", "page_token")
    with pytest.raises(gexc.BadRequest) as negative:
        client.list_custom_jobs(request={"parent": parent, "page_size": -1})
    assert_bad_request(negative, "INVALID_ARGUMENT", "page_size")


def test_read_mask(client: v1.JobServiceClient, parent: str) -> None:
    create(client, parent, display_name="masked", labels={"a": "b"}, timeout_s=60, scenario="PENDING")
    mask = field_mask_pb2.FieldMask(paths=["display_name", "state", "labels", "job_spec.scheduling"])
    [job] = list(client.list_custom_jobs(request={"parent": parent, "read_mask": mask}))
    assert job.display_name == "masked" and dict(job.labels) == {"a": "b"}
    assert job.state == v1.JobState.JOB_STATE_PENDING
    assert job.job_spec.scheduling.timeout.total_seconds() == 60
    assert not job.job_spec.worker_pool_specs and not job.name and not job.create_time
    with pytest.raises(gexc.BadRequest) as exc:
        list(client.list_custom_jobs(request={"parent": parent, "read_mask": {"paths": ["bogus_field"]}}))
    assert_bad_request(exc, "INVALID_ARGUMENT", "read_mask")


# -- list: filters --------------------------------------------------------------------------------------
FILTER_JOBS: list[dict[str, Any]] = [
    {"display_name": "alpha", "scenario": "SUCCEEDED", "labels": {"env": "prod", "team": "ml"}},
    {"display_name": "alpine", "scenario": "PENDING:0,FAILED", "labels": {"env": "dev"}},
    {"display_name": "beta", "scenario": "PENDING:0,FAILED", "labels": {"env": "prod"}},
    {"display_name": "delta", "scenario": "RUNNING", "labels": {"team": "data"}},
    {"display_name": "gamma ray", "scenario": "SUCCEEDED", "labels": {}},
    {"display_name": "my_job_1", "scenario": "PENDING", "labels": {"env": "prod", "team": "ml"}},
]
ALL_NAMES = {job["display_name"] for job in FILTER_JOBS}


@pytest.fixture(scope="module")
def filter_parent(client: v1.JobServiceClient) -> tuple[str, list[v1.CustomJob]]:
    parent = f"projects/{PROJECT}/locations/filters-1"
    jobs = []
    for spec in FILTER_JOBS:  # every scenario here reaches its (last) state at once
        jobs.append(create(client, parent, **spec))
        time.sleep(0.002)  # distinct create times
    return parent, jobs


def filtered(client: v1.JobServiceClient, parent: str, text: str) -> set[str]:
    return {job.display_name for job in client.list_custom_jobs(request={"parent": parent, "filter": text})}


FILTERS: dict[str, set[str]] = {
    'display_name="alpha"': {"alpha"},
    'displayName="alpha"': {"alpha"},
    "display_name=alpha": {"alpha"},
    'display_name="gamma ray"': {"gamma ray"},
    'display_name!="alpha"': ALL_NAMES - {"alpha"},
    'display_name:"al*"': {"alpha", "alpine"},
    'display_name:"*ta"': {"beta", "delta"},
    'display_name:"*a*a*"': {"alpha", "gamma ray"},
    'display_name:"my_job_*"': {"my_job_1"},
    'display_name:"alp"': set(),
    'display_name:"*"': ALL_NAMES,
    'state="JOB_STATE_SUCCEEDED"': {"alpha", "gamma ray"},
    "state=JOB_STATE_FAILED": {"alpine", "beta"},
    'state!="JOB_STATE_FAILED"': ALL_NAMES - {"alpine", "beta"},
    'state="JOB_STATE_RUNNING"': {"delta"},
    'labels.env="prod"': {"alpha", "beta", "my_job_1"},
    "labels.env=prod": {"alpha", "beta", "my_job_1"},
    'labels."env"="dev"': {"alpine"},
    'labels.env!="prod"': ALL_NAMES - {"alpha", "beta", "my_job_1"},
    "labels.team:*": {"alpha", "delta", "my_job_1"},
    'labels.team:"m*"': {"alpha", "my_job_1"},
    "NOT labels.team:*": ALL_NAMES - {"alpha", "delta", "my_job_1"},
    "-labels.env:*": {"delta", "gamma ray"},
    'state="JOB_STATE_SUCCEEDED" AND display_name:"al*"': {"alpha"},
    'state="JOB_STATE_FAILED" OR display_name="alpha"': {"alpha", "alpine", "beta"},
    'NOT display_name="alpha"': ALL_NAMES - {"alpha"},
    'state="JOB_STATE_FAILED" OR display_name="alpha" AND labels.team="ml"': {"alpha", "alpine", "beta"},
    '(display_name="alpha" OR display_name="beta") AND state="JOB_STATE_FAILED"': {"beta"},
    'display_name="beta" AND state="JOB_STATE_FAILED" OR display_name="delta"': {"beta", "delta"},
    'NOT (labels.env="prod" OR labels.env="dev")': {"delta", "gamma ray"},
    'labels.env="prod" labels.team="ml"': {"alpha", "my_job_1"},
    '((state="JOB_STATE_FAILED"))': {"alpine", "beta"},
    "": ALL_NAMES,
}


@pytest.mark.parametrize("text", list(FILTERS))
def test_filters(client: v1.JobServiceClient, filter_parent: tuple[str, list[v1.CustomJob]], text: str) -> None:
    parent, _ = filter_parent
    assert filtered(client, parent, text) == FILTERS[text]


def test_create_time_filters(
    client: v1.JobServiceClient, emulator: EmulatorServer, filter_parent: tuple[str, list[v1.CustomJob]]
) -> None:
    parent, jobs = filter_parent
    names = [job.display_name for job in jobs]
    middle = raw_get(emulator.url, f"/v1/{jobs[3].name}").json()["createTime"]
    assert middle.endswith("Z")
    assert filtered(client, parent, f'create_time="{middle}"') == {names[3]}
    assert filtered(client, parent, f'createTime!="{middle}"') == set(names) - {names[3]}
    assert filtered(client, parent, f'create_time<"{middle}"') == set(names[:3])
    assert filtered(client, parent, f'create_time<="{middle}"') == set(names[:4])
    assert filtered(client, parent, f'create_time>"{middle}"') == set(names[4:])
    assert filtered(client, parent, f'create_time>="{middle}"') == set(names[3:])
    assert filtered(client, parent, f"create_time>={middle}") == set(names[3:])
    assert filtered(client, parent, 'create_time>"2000-01-01T00:00:00Z"') == set(names)
    assert filtered(client, parent, 'create_time<"2000-01-01T00:00:00+02:00"') == set()
    shifted = middle.replace("Z", "+00:00")
    assert filtered(client, parent, f'create_time>="{shifted}" AND state="JOB_STATE_PENDING"') == {"my_job_1"}


@pytest.mark.parametrize(
    "text",
    [
        "display_name=",
        'display_name="alpha" AND',
        '(display_name="alpha"',
        'display_name="alpha")',
        'foo="bar"',
        'state="RUNNING"',
        'state>"JOB_STATE_RUNNING"',
        'display_name<"x"',
        'create_time>"yesterday"',
        'create_time:"2020-01-01T00:00:00Z"',
        'display_name="unterminated',
        'labels.a.b="x"',
        "AND",
        'display_name="a" OR OR display_name="b"',
        "NOT",
        'display_name "alpha"',
        "labels=x",
    ],
)
def test_bad_filters_are_invalid_argument(
    client: v1.JobServiceClient, filter_parent: tuple[str, list[v1.CustomJob]], text: str
) -> None:
    parent, _ = filter_parent
    with pytest.raises(gexc.BadRequest) as exc:
        list(client.list_custom_jobs(request={"parent": parent, "filter": text}))
    assert_bad_request(exc, "INVALID_ARGUMENT", "filter")


def test_filtered_pagination(client: v1.JobServiceClient, parent: str) -> None:
    names = [create(client, parent, display_name=f"even-{i}" if i % 2 == 0 else f"odd-{i}").name for i in range(40)]
    listed = [
        job.name
        for job in client.list_custom_jobs(
            request={"parent": parent, "page_size": 3, "filter": 'display_name:"even-*"'}
        )
    ]
    assert listed == names[::2]


# -- --execute ------------------------------------------------------------------------------------------
SCRIPT = (
    "import os, sys; print('ARGS=' + ' '.join(sys.argv[1:])); print('GREETING=' + os.environ['GREETING']); "
    "print('JOB=' + os.environ['CLOUD_ML_JOB_ID']); sys.exit(int(os.environ['CODE']))"
)


def test_execute_success_with_args_and_env(
    exec_client: v1.JobServiceClient, exec_emulator: EmulatorServer, parent: str
) -> None:
    job = create(
        exec_client,
        parent,
        command=[sys.executable, "-c", SCRIPT],
        args=["--epochs", "3"],
        env={"CODE": "0", "GREETING": "hello world"},
        scenario="PENDING:1,RUNNING:0,FAILED",
    )
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == v1.JobState.JOB_STATE_SUCCEEDED, done.error  # the exit code wins over the scenario
    assert done.start_time and done.end_time >= done.start_time
    log = AdminClient(exec_emulator.url).logs(job.name)
    assert "ARGS=--epochs 3" in log
    assert "GREETING=hello world" in log
    assert f"JOB={job_id(job)}" in log


def test_execute_failure_reports_exit_code(exec_client: v1.JobServiceClient, parent: str) -> None:
    job = create(exec_client, parent, command=[sys.executable, "-c", SCRIPT], env={"CODE": "3", "GREETING": "x"})
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == v1.JobState.JOB_STATE_FAILED
    assert done.error.code == 13 and "non-zero status of 3" in done.error.message


def test_execute_missing_program_fails(exec_client: v1.JobServiceClient, parent: str) -> None:
    job = create(exec_client, parent, command=["/nonexistent/program-xyz"])
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == v1.JobState.JOB_STATE_FAILED and "could not start" in done.error.message


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_execute_cancel_terminates_process(exec_client: v1.JobServiceClient, tmp_path: Path, parent: str) -> None:
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    job = create(exec_client, parent, command=[sys.executable, "-c", script])
    wait_for(exec_client, job.name, lambda j: pid_file.exists() and pid_file.read_text() != "")
    pid = int(pid_file.read_text())
    assert exec_client.get_custom_job(name=job.name).state == v1.JobState.JOB_STATE_RUNNING
    exec_client.cancel_custom_job(name=job.name)
    cancelled = wait_state(exec_client, job.name, v1.JobState.JOB_STATE_CANCELLED)
    assert cancelled.error.code == 1
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


def test_execute_timeout_kills_process(exec_client: v1.JobServiceClient, parent: str) -> None:
    job = create(exec_client, parent, command=[sys.executable, "-c", "import time; time.sleep(120)"], timeout_s=5)
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == v1.JobState.JOB_STATE_FAILED and "timeout" in done.error.message


def test_execute_job_without_command_follows_scenario(exec_client: v1.JobServiceClient, parent: str) -> None:
    job = create(exec_client, parent, scenario="RUNNING:0,FAILED")
    assert wait_for(exec_client, job.name, lambda j: bool(j.end_time)).state == v1.JobState.JOB_STATE_FAILED


def test_command_is_ignored_without_execute(client: v1.JobServiceClient, parent: str) -> None:
    job = create(
        client, parent, command=[sys.executable, "-c", "import sys; sys.exit(3)"], scenario="RUNNING:0,SUCCEEDED"
    )
    assert wait_for(client, job.name, lambda j: bool(j.end_time)).state == v1.JobState.JOB_STATE_SUCCEEDED


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
    assert admin.calls() == {
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


# -- concurrency ----------------------------------------------------------------------------------------
def test_concurrent_clients(emulator: EmulatorServer, parent: str) -> None:
    names: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            own = make_client(emulator.url)
            for _ in range(15):
                job = create(own, parent)
                assert own.get_custom_job(name=job.name).name == job.name
                names.append(job.name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert len(names) == len(set(names)) == 180
    assert len(list(make_client(emulator.url).list_custom_jobs(parent=parent))) == 180


# -- the command line -----------------------------------------------------------------------------------
def _start_cli(*extra: str) -> tuple[subprocess.Popen[str], str]:
    package_root = str(Path(vertex_emulator.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vertex_emulator", "--host", "127.0.0.1", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    reader.join(30)
    if not lines or not lines[0]:
        _kill(proc)
        pytest.fail(f"no port line from the emulator; stderr: {proc.stderr.read() if proc.stderr else ''}")
    match = re.fullmatch(r"vertex-emulator listening on (http://127\.0\.0\.1:(\d+))\n", lines[0])
    assert match, lines[0]
    return proc, match.group(1)


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_cli_starts_serves_and_shuts_down() -> None:
    proc, url = _start_cli("--time-factor", "0.01")
    try:
        admin = AdminClient(url)
        assert admin.health()["ok"] is True
        cli_client = make_client(url)
        job = create(cli_client, f"projects/{PROJECT}/locations/us-central1")
        assert wait_state(cli_client, job.name, v1.JobState.JOB_STATE_SUCCEEDED).end_time
        admin.shutdown()
        assert proc.wait(20) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/emulator/health", timeout=5)
    finally:
        _kill(proc)


def test_cli_stops_on_sigterm() -> None:
    proc, url = _start_cli("--verbose")
    try:
        assert requests.get(url + "/emulator/health", timeout=5).json()["ok"] is True
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
        assert proc.stderr is not None and "/emulator/health" in proc.stderr.read()
    finally:
        _kill(proc)


def test_health_and_json_error_for_admin(emulator: EmulatorServer) -> None:
    response = requests.post(emulator.url + "/emulator/faults", data=b"{bad", timeout=10)
    assert response.status_code == 400
    assert json.loads(response.text)["error"]["status"] == "INVALID_ARGUMENT"
    assert requests.get(emulator.url + "/emulator/health", timeout=10).json()["ok"] is True
