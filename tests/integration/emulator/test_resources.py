"""Create, get and resource fidelity of customJobs through the official client."""

from __future__ import annotations

import re

import pytest
import requests
from google.cloud import aiplatform_v1 as v1
from google.protobuf import duration_pb2

from vertex_emulator import EmulatorServer

from .support import (
    INT_ENUMS,
    TIMESTAMP,
    create,
    job_id,
    raw_get,
    wait_state,
)

pytestmark = pytest.mark.timeout(120)


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
