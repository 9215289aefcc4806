"""core.kinds.custom: a CustomJob (REST JSON) -> template attributes and links. Pure, no I/O."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from polysync_vertex.core.kinds.custom import ATTRIBUTES, build_job, links, parse_attributes, to_template
from polysync_vertex.core.links import buckets
from polysync_vertex.core.request import parse_submit

DIGEST = "sha256:" + "ab" * 32
NAME = "projects/local-project/locations/us-central1/customJobs/1234567890"


def container_job() -> dict[str, Any]:
    return {
        "name": NAME,
        "displayName": "train-container",
        "state": "JOB_STATE_SUCCEEDED",
        "createTime": "2026-11-22T08:15:00.123456Z",
        "labels": {"team": "ml"},
        "encryptionSpec": {"kmsKeyName": "projects/local-project/locations/us-central1/keyRings/r/cryptoKeys/k"},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {
                        "machineType": "n1-standard-8",
                        "acceleratorType": "NVIDIA_TESLA_T4",
                        "acceleratorCount": 2,
                    },
                    "replicaCount": "1",
                    "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 200},
                    "containerSpec": {
                        "imageUri": f"us-central1-docker.pkg.dev/local-project/train/trainer@{DIGEST}",
                        "command": ["python", "-m", "trainer", "--data=gs://train-data/images/*"],
                        "args": ["--ckpt", "/gcs/ckpt-bucket/run", "--vocab=gs://shared.vocab.example.com/v1.txt"],
                        "env": [
                            {"name": "EXTRA", "value": "gs://extra-bucket/x,gs://train-data/other"},
                            {"name": "PLAIN", "value": "1"},
                        ],
                    },
                }
            ],
            "scheduling": {"timeout": "7200s", "restartJobOnWorkerRestart": True},
            "serviceAccount": "trainer@local-project.iam.gserviceaccount.com",
            "network": "projects/123456789012/global/networks/training-vpc",
            "baseOutputDirectory": {"outputUriPrefix": "gs://model-output/runs/"},
            "persistentResourceId": "train-pool",
            "tensorboard": "projects/local-project/locations/us-central1/tensorboards/77",
            "experiment": "projects/local-project/locations/us-central1/metadataStores/default/contexts/exp-1",
            "models": ["projects/local-project/locations/us-central1/models/456"],
        },
    }


def python_job() -> dict[str, Any]:
    worker = {
        "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-1.py310:latest",
        "packageUris": ["gs://pkg-bucket/trainer-0.3.tar.gz", "gs://pkg-bucket/deps/utils-1.0.tar.gz"],
        "pythonModule": "trainer.task",
        "args": ["--epochs=10", "--data", "gs://train-data/tfrecords"],
        "env": [{"name": "OUT", "value": "gs://model-output/dist"}],
    }
    gpu = {"machineType": "n1-highmem-16", "acceleratorType": "NVIDIA_TESLA_V100", "acceleratorCount": 4}
    return {
        "name": "projects/local-project/locations/europe-west4/customJobs/42",
        "displayName": "dist-train",
        "state": "JOB_STATE_FAILED",
        "jobSpec": {
            "workerPoolSpecs": [
                {"machineSpec": dict(gpu), "replicaCount": "1", "pythonPackageSpec": copy.deepcopy(worker)},
                {"machineSpec": dict(gpu), "replicaCount": "3", "pythonPackageSpec": copy.deepcopy(worker)},
                {},
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "containerSpec": {
                        "imageUri": "gcr.io/local-project/evaluator:2",
                        "args": ["--model=/gcs/model-output/dist/model"],
                    },
                },
            ],
            "persistentResourceId": "gpu-pool",
        },
    }


def test_container_template_with_every_linkable_field() -> None:
    assert to_template(container_job()) == {
        "externalId": NAME,
        "displayName": "train-container",
        "jobType": "Vertex AI Custom Job",
        "attributes": {
            "machineType": "n1-standard-8",
            "containerImageUri": f"us-central1-docker.pkg.dev/local-project/train/trainer@{DIGEST}",
            "replicaCount": 1,
            "acceleratorType": "NVIDIA_TESLA_T4",
            "acceleratorCount": 2,
            "poolType": "container",
            "timeout": "7200s",
            "serviceAccount": "trainer@local-project.iam.gserviceaccount.com",
            "network": "projects/123456789012/global/networks/training-vpc",
            "workerPoolCount": 1,
        },
        "workerPools": 1,
        "links": [
            {
                "type": "gcp-ai-platform-experiment",
                "name": "projects/local-project/locations/us-central1/metadataStores/default/contexts/exp-1",
            },
            {"type": "gcp-ai-platform-model", "name": "projects/local-project/locations/us-central1/models/456"},
            {
                "type": "gcp-ai-platform-persistent-resource",
                "name": "projects/local-project/locations/us-central1/persistentResources/train-pool",
            },
            {
                "type": "gcp-ai-platform-tensorboard",
                "name": "projects/local-project/locations/us-central1/tensorboards/77",
            },
            {
                "type": "gcp-artifact-registry-docker-image",
                "name": f"us-central1-docker.pkg.dev/local-project/train/trainer@{DIGEST}",
            },
            {
                "type": "gcp-cloud-kms-crypto-key",
                "name": "projects/local-project/locations/us-central1/keyRings/r/cryptoKeys/k",
            },
            {"type": "gcp-compute-network", "name": "projects/123456789012/global/networks/training-vpc"},
            {"type": "gcp-iam-service-account", "name": "trainer@local-project.iam.gserviceaccount.com"},
            {"type": "gcp-storage-bucket", "name": "ckpt-bucket"},
            {"type": "gcp-storage-bucket", "name": "extra-bucket"},
            {"type": "gcp-storage-bucket", "name": "model-output"},
            {"type": "gcp-storage-bucket", "name": "shared.vocab.example.com"},
            {"type": "gcp-storage-bucket", "name": "train-data"},
        ],
        "labels": {"team": "ml"},
        "state": "JOB_STATE_SUCCEEDED",
        "createTime": "2026-11-22T08:15:00.123456Z",
    }


def test_distributed_python_package_template_in_another_region() -> None:
    template = to_template(python_job())
    assert template["attributes"] == {
        "machineType": "n1-highmem-16",
        "containerImageUri": "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-1.py310:latest",
        "replicaCount": 1,
        "acceleratorType": "NVIDIA_TESLA_V100",
        "acceleratorCount": 4,
        "poolType": "pythonPackage",
        "workerPoolCount": 4,
    }
    assert template["workerPools"] == 4
    assert template["links"] == [
        {
            "type": "gcp-ai-platform-persistent-resource",
            "name": "projects/local-project/locations/europe-west4/persistentResources/gpu-pool",
        },
        {"type": "gcp-artifact-registry-docker-image", "name": "gcr.io/local-project/evaluator:2"},
        {
            "type": "gcp-artifact-registry-docker-image",
            "name": "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-1.py310:latest",
        },
        {"type": "gcp-storage-bucket", "name": "model-output"},
        {"type": "gcp-storage-bucket", "name": "pkg-bucket"},
        {"type": "gcp-storage-bucket", "name": "train-data"},
    ]
    assert template["labels"] == {} and "createTime" not in template
    assert template["state"] == "JOB_STATE_FAILED"


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ({"machineType": "n1-standard-4"}, {}),
        ({"machineType": "n1-standard-4", "acceleratorType": "NVIDIA_TESLA_T4"}, {}),
        (
            {"machineType": "n1-standard-4", "acceleratorType": "ACCELERATOR_TYPE_UNSPECIFIED", "acceleratorCount": 1},
            {},
        ),
        (
            {"machineType": "a2-highgpu-1g", "acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 1},
            {"acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 1},
        ),
    ],
)
def test_accelerator_keys_only_when_there_are_accelerators(machine: dict[str, Any], expected: dict[str, Any]) -> None:
    job = {
        "name": NAME,
        "jobSpec": {
            "workerPoolSpecs": [
                {"machineSpec": machine, "replicaCount": "1", "containerSpec": {"imageUri": "busybox:1.36"}}
            ]
        },
    }
    attrs = to_template(job)["attributes"]
    assert {k: v for k, v in attrs.items() if k.startswith("accelerator")} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gs://a-bucket", {"a-bucket"}),
        ("--out=gs://out_b/x/y and gs://second.bucket/z", {"out_b", "second.bucket"}),
        ("see gs://dotted.end.", {"dotted.end"}),
        ("gs://my-dataset/*", {"my-dataset"}),
        ("/gcs/fuse-bucket/data", {"fuse-bucket"}),
        ("--dir=/gcs/fuse-bucket", {"fuse-bucket"}),
        ("/mnt/gcs/not-a-mount/x", set()),
        ("gs://UPPER/x", set()),
        ("gs://ab/x", set()),  # too short for a bucket name
        ("gs://", set()),
        ("https://storage.googleapis.com/b/x", set()),
        ("gs://bad..dots/x", set()),
    ],
)
def test_bucket_references(text: str, expected: set[str]) -> None:
    assert buckets([text]) == expected


def test_links_once_each_and_sorted() -> None:
    job = {
        "name": NAME,
        "jobSpec": {
            "workerPoolSpecs": [
                {"containerSpec": {"imageUri": "busybox:1.36", "args": ["gs://b-bucket", "gs://a-bucket"]}},
                {"containerSpec": {"imageUri": "busybox:1.36", "env": [{"name": "X", "value": "gs://a-bucket/y"}]}},
            ],
            "baseOutputDirectory": {"outputUriPrefix": "gs://b-bucket/out"},
        },
    }
    assert links(job) == [
        {"type": "gcp-artifact-registry-docker-image", "name": "busybox:1.36"},
        {"type": "gcp-storage-bucket", "name": "a-bucket"},
        {"type": "gcp-storage-bucket", "name": "b-bucket"},
    ]


def test_values_submit_would_refuse_are_left_to_the_clone() -> None:
    job = container_job()
    job["jobSpec"]["serviceAccount"] = "Odd.Account@example.com"
    job["jobSpec"]["network"] = "projects/p/regions/r/networks/n"
    attrs = to_template(job)["attributes"]
    assert "serviceAccount" not in attrs and "network" not in attrs
    assert attrs["machineType"] == "n1-standard-8"
    names = {(link["type"], link["name"]) for link in to_template(job)["links"]}
    assert ("gcp-iam-service-account", "Odd.Account@example.com") in names  # still linked


@pytest.mark.parametrize(
    "job",
    [
        {},
        {"name": NAME, "jobSpec": None},
        {"name": NAME, "jobSpec": {"workerPoolSpecs": "junk"}},
        {"name": NAME, "jobSpec": {"workerPoolSpecs": [{}]}, "labels": {"k": 1}, "encryptionSpec": "x"},
    ],
)
def test_odd_jobs_do_not_break_the_listing(job: dict[str, Any]) -> None:
    template = to_template(job)
    assert template["jobType"] == "Vertex AI Custom Job"
    assert template["links"] == []
    assert set(template["attributes"]) <= {"workerPoolCount"}
    assert template["labels"] == {}


@pytest.mark.parametrize("job", [container_job(), python_job()], ids=["container", "pythonPackage"])
def test_attributes_are_accepted_by_submit_and_reproduce_the_job_spec(job: dict[str, Any]) -> None:
    attrs = to_template(job)["attributes"]
    assert set(attrs) <= ATTRIBUTES
    assert parse_attributes(attrs) == attrs
    request = parse_submit({"requestId": "r-1", "jobName": "again", "externalId": NAME, "attributes": attrs})
    built = build_job(request, job, "r-1-key", datetime(2026, 11, 22, tzinfo=UTC))
    assert built["jobSpec"] == job["jobSpec"]
    assert built.get("encryptionSpec") == job.get("encryptionSpec")
