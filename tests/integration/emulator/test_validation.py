"""CustomJob request validation (semantic rules and malformed JSON)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1

from vertex_emulator import EmulatorServer

from .support import (
    PROJECT,
    assert_bad_request,
    create,
    error_of,
    job_proto,
    raw_get,
)

pytestmark = pytest.mark.timeout(120)


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


@pytest.mark.parametrize("bad_parent", ["projects/test-project/locations/US CENTRAL"])
def test_malformed_parent_is_invalid_argument(client: v1.JobServiceClient, bad_parent: str) -> None:
    with pytest.raises(gexc.BadRequest) as exc:
        client.create_custom_job(parent=bad_parent, custom_job=job_proto())
    assert_bad_request(exc, "INVALID_ARGUMENT", "Invalid")
    with pytest.raises(gexc.BadRequest):
        list(client.list_custom_jobs(parent=bad_parent))


@pytest.mark.parametrize("project", ["Bad_Project", "p", "123456789012", "domain.com:my-project"])
def test_any_project_id_is_accepted(client: v1.JobServiceClient, project: str) -> None:
    """Like the Firestore and Pub/Sub emulators (real Vertex AI answers 403 for a project it cannot use, never 400)."""
    parent = f"projects/{project}/locations/us-central1"
    job = client.create_custom_job(parent=parent, custom_job=job_proto(display_name=f"in-{project}"))
    assert job.name.startswith(parent + "/customJobs/")
    assert client.get_custom_job(name=job.name).display_name == f"in-{project}"
    assert job.name in {j.name for j in client.list_custom_jobs(parent=parent)}


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
