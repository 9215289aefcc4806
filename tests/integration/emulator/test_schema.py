"""Schema-driven validation at every depth, per collection and bad-input class, in Google's wording (raw REST)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from vertex_emulator import EmulatorServer

from .support import create

pytestmark = pytest.mark.timeout(120)

CUSTOM_JOB: dict[str, Any] = {
    "displayName": "schema",
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "containerSpec": {"imageUri": "img"},
            }
        ]
    },
}
PIPELINE_JOB: dict[str, Any] = {
    "displayName": "schema",
    "pipelineSpec": {
        "pipelineInfo": {"name": "schema-pipeline"},
        "root": {"inputDefinitions": {"parameters": {"epochs": {"parameterType": "NUMBER_INTEGER"}}}},
    },
    "runtimeConfig": {"gcsOutputDirectory": "gs://bucket/root", "parameterValues": {"epochs": 3}},
}
BATCH_JOB: dict[str, Any] = {
    "displayName": "schema",
    "model": "projects/test-project/locations/us-central1/models/123",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bucket/in.jsonl"]}},
    "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://bucket/out"}},
}
BODIES = {"customJobs": CUSTOM_JOB, "pipelineJobs": PIPELINE_JOB, "batchPredictionJobs": BATCH_JOB}


def body_with(collection: str, path: str, value: Any) -> dict[str, Any]:
    """The collection's valid body with ``value`` at dotted ``path`` (``[0]`` picks a list element); None deletes."""
    body = copy.deepcopy(BODIES[collection])
    target: Any = body
    parts = path.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    if value is None:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return body


def post(url: str, parent: str, collection: str, body: Any) -> requests.Response:
    return requests.post(f"{url}/v1/{parent}/{collection}", json=body, timeout=10)


def listed(url: str, parent: str, collection: str) -> list[Any]:
    return requests.get(f"{url}/v1/{parent}/{collection}", timeout=10).json().get(collection, [])


# (collection, class, path, value, message, field of the violation)
BAD_INPUTS = [
    # unknown field, at depth
    (
        "customJobs",
        "unknown field",
        "jobSpec.foo",
        1,
        "Invalid JSON payload received. Unknown name \"foo\" at 'custom_job.job_spec': Cannot find field.",
        "custom_job.job_spec",
    ),
    (
        "customJobs",
        "unknown field",
        "jobSpec.workerPoolSpecs[0].machineSpec.typo",
        "x",
        "Unknown name \"typo\" at 'custom_job.job_spec.worker_pool_specs[0].machine_spec': Cannot find field.",
        "custom_job.job_spec.worker_pool_specs[0].machine_spec",
    ),
    (
        "customJobs",
        "unknown field",
        "jobSpec.labels",
        {"a": "b"},  # a gcloud --config YAML with labels inside the spec
        "Unknown name \"labels\" at 'custom_job.job_spec': Cannot find field.",
        "custom_job.job_spec",
    ),
    (
        "pipelineJobs",
        "unknown field",
        "runtimeConfig.typo",
        1,
        "Unknown name \"typo\" at 'pipeline_job.runtime_config': Cannot find field.",
        "pipeline_job.runtime_config",
    ),
    (
        "batchPredictionJobs",
        "unknown field",
        "inputConfig.gcsSource.typo",
        1,
        "Unknown name \"typo\" at 'batch_prediction_job.input_config.gcs_source': Cannot find field.",
        "batch_prediction_job.input_config.gcs_source",
    ),
    # wrong JSON type
    (
        "customJobs",
        "wrong type",
        "jobSpec.serviceAccount",
        5,
        "Invalid value at 'custom_job.job_spec.service_account' (TYPE_STRING), 5",
        "custom_job.job_spec.service_account",
    ),
    (
        "customJobs",
        "wrong type",
        "jobSpec.workerPoolSpecs[0].containerSpec.args",
        "notalist",
        "Invalid value at 'custom_job.job_spec.worker_pool_specs[0].container_spec.args' (TYPE_STRING), \"notalist\"",
        "custom_job.job_spec.worker_pool_specs[0].container_spec.args",
    ),
    (
        "customJobs",
        "wrong type",
        "jobSpec.enableWebAccess",
        "yes",
        "Invalid value at 'custom_job.job_spec.enable_web_access' (TYPE_BOOL), \"yes\"",
        "custom_job.job_spec.enable_web_access",
    ),
    (
        "customJobs",
        "wrong type",
        "jobSpec.workerPoolSpecs[0].replicaCount",
        "one",
        "Invalid value at 'custom_job.job_spec.worker_pool_specs[0].replica_count' (TYPE_INT64), \"one\"",
        "custom_job.job_spec.worker_pool_specs[0].replica_count",
    ),
    (
        "pipelineJobs",
        "wrong type",
        "serviceAccount",
        5,
        "Invalid value at 'pipeline_job.service_account' (TYPE_STRING), 5",
        "pipeline_job.service_account",
    ),
    (
        "pipelineJobs",
        "wrong type",
        "pipelineSpec",
        "not-a-struct",
        "Invalid value at 'pipeline_job.pipeline_spec' (type.googleapis.com/google.protobuf.Struct), \"not-a-struct\"",
        "pipeline_job.pipeline_spec",
    ),
    (
        "batchPredictionJobs",
        "wrong type",
        "manualBatchTuningParameters.batchSize",
        "many",
        "Invalid value at 'batch_prediction_job.manual_batch_tuning_parameters.batch_size' (TYPE_INT32), \"many\"",
        "batch_prediction_job.manual_batch_tuning_parameters.batch_size",
    ),
    (
        "batchPredictionJobs",
        "wrong type",
        "generateExplanation",
        "yes",
        "Invalid value at 'batch_prediction_job.generate_explanation' (TYPE_BOOL), \"yes\"",
        "batch_prediction_job.generate_explanation",
    ),
    # bad enum value
    (
        "customJobs",
        "bad enum",
        "jobSpec.workerPoolSpecs[0].machineSpec.acceleratorType",
        "NVIDIA_TESLA_Z9",
        "Invalid value at 'custom_job.job_spec.worker_pool_specs[0].machine_spec.accelerator_type' "
        '(type.googleapis.com/google.cloud.aiplatform.v1.AcceleratorType), "NVIDIA_TESLA_Z9"',
        "custom_job.job_spec.worker_pool_specs[0].machine_spec.accelerator_type",
    ),
    (
        "pipelineJobs",
        "bad enum",
        "runtimeConfig.failurePolicy",
        "SOMETIMES",
        "Invalid value at 'pipeline_job.runtime_config.failure_policy' "
        '(type.googleapis.com/google.cloud.aiplatform.v1.PipelineFailurePolicy), "SOMETIMES"',
        "pipeline_job.runtime_config.failure_policy",
    ),
    (
        "batchPredictionJobs",
        "bad enum",
        "dedicatedResources.machineSpec.acceleratorType",
        "BOGUS",
        "Invalid value at 'batch_prediction_job.dedicated_resources.machine_spec.accelerator_type' "
        '(type.googleapis.com/google.cloud.aiplatform.v1.AcceleratorType), "BOGUS"',
        "batch_prediction_job.dedicated_resources.machine_spec.accelerator_type",
    ),
    # missing required (REQUIRED fields of the v1 reference, at depth)
    (
        "customJobs",
        "missing required",
        "jobSpec.workerPoolSpecs[0].nfsMounts",
        [{"server": "10.0.0.2", "path": "/share"}],
        "List of found errors:\t1.Field: custom_job.job_spec.worker_pool_specs[0].nfs_mounts[0].mount_point; "
        "Message: Required field is not set.\t",
        "custom_job.job_spec.worker_pool_specs[0].nfs_mounts[0].mount_point",
    ),
    (
        "pipelineJobs",
        "missing required",
        "runtimeConfig.gcsOutputDirectory",
        None,
        "List of found errors:\t1.Field: pipeline_job.runtime_config.gcs_output_directory; "
        "Message: Required field is not set.\t",
        "pipeline_job.runtime_config.gcs_output_directory",
    ),
    (
        "batchPredictionJobs",
        "missing required",
        "inputConfig.instancesFormat",
        None,
        "List of found errors:\t1.Field: batch_prediction_job.input_config.instances_format; "
        "Message: Required field is not set.\t",
        "batch_prediction_job.input_config.instances_format",
    ),
    (
        "batchPredictionJobs",
        "missing required",
        "outputConfig.gcsDestination.outputUriPrefix",
        None,
        "Field: batch_prediction_job.output_config.gcs_destination.output_uri_prefix; "
        "Message: Required field is not set.",
        "batch_prediction_job.output_config.gcs_destination.output_uri_prefix",
    ),
]


@pytest.mark.parametrize(
    ("collection", "kind", "path", "value", "message", "field"),
    BAD_INPUTS,
    ids=[f"{c}-{k}-{p}" for c, k, p, *_ in BAD_INPUTS],
)
def test_bad_input_at_depth_is_invalid_argument(
    emulator: EmulatorServer,
    parent: str,
    collection: str,
    kind: str,
    path: str,
    value: Any,
    message: str,
    field: str,
) -> None:
    assert post(emulator.url, parent, collection, BODIES[collection]).status_code == 200  # the base body is valid
    response = post(emulator.url, parent, collection, body_with(collection, path, value))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"], error["message"]
    [detail] = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert field in [v["field"] for v in detail["fieldViolations"]]
    assert len(listed(emulator.url, parent, collection)) == 1  # only the valid one was stored


def test_every_violation_is_reported(emulator: EmulatorServer, parent: str) -> None:
    body = body_with("customJobs", "jobSpec.foo", 1)
    body["jobSpec"]["serviceAccount"] = 5
    body["bogus"] = True
    error = post(emulator.url, parent, "customJobs", body).json()["error"]
    fields = [v["field"] for v in error["details"][0]["fieldViolations"]]
    assert fields == ["custom_job.job_spec", "custom_job.job_spec.service_account", "custom_job"]
    assert error["message"].count("\n") == 2


@pytest.mark.parametrize(
    ("collection", "path", "value", "out_path", "expected"),
    [
        ("customJobs", "jobSpec.workerPoolSpecs[0].replicaCount", 1, "jobSpec.workerPoolSpecs.0.replicaCount", "1"),
        ("customJobs", "jobSpec.workerPoolSpecs[0].replicaCount", "1", "jobSpec.workerPoolSpecs.0.replicaCount", "1"),
        (
            "pipelineJobs",
            "runtimeConfig.parameters",
            {"legacy": {"intValue": "5"}},
            "runtimeConfig.parameters.legacy.intValue",
            "5",
        ),
        (
            "batchPredictionJobs",
            "unmanagedContainerModel",
            {"artifactUri": "gs://b/m", "containerSpec": {"imageUri": "img", "sharedMemorySizeMb": "1024"}},
            "unmanagedContainerModel.containerSpec.sharedMemorySizeMb",
            "1024",
        ),
    ],
)
def test_int64_accepted_as_string_or_number_and_written_as_string(
    emulator: EmulatorServer, parent: str, collection: str, path: str, value: Any, out_path: str, expected: str
) -> None:
    body = body_with(collection, path, value)
    if collection == "batchPredictionJobs":
        del body["model"]  # exactly one of model and unmanaged_container_model
    response = post(emulator.url, parent, collection, body)
    assert response.status_code == 200, response.text
    for resource in (response.json(), requests.get(f"{emulator.url}/v1/{response.json()['name']}", timeout=10).json()):
        node: Any = resource
        for part in out_path.split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        assert node == expected


@pytest.mark.parametrize(
    ("collection", "ignored"),
    [
        ("customJobs", {"state": "JOB_STATE_SUCCEEDED", "createTime": "2000-01-01T00:00:00Z", "error": {"code": 5}}),
        ("pipelineJobs", {"state": "PIPELINE_STATE_FAILED", "jobDetail": {"taskDetails": [{"taskName": "x"}]}}),
        (
            "batchPredictionJobs",
            {"outputInfo": {"gcsOutputDirectory": "gs://x"}, "completionStats": {"failedCount": 9}},
        ),
    ],
)
def test_output_only_fields_in_a_create_body_are_ignored(
    emulator: EmulatorServer, parent: str, collection: str, ignored: dict[str, Any]
) -> None:
    body = {**BODIES[collection], **ignored, "name": f"{parent}/{collection}/999"}
    response = post(emulator.url, parent, collection, body)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["name"] != body["name"]
    assert job["state"].endswith("_PENDING")
    assert job["createTime"] != "2000-01-01T00:00:00Z" and "error" not in job
    assert "outputInfo" not in job and "completionStats" not in job
    tasks = [t["taskName"] for t in job.get("jobDetail", {}).get("taskDetails", [])]
    assert "x" not in tasks  # this spec has no tasks: the sent ones were dropped (only the run's root task is there)


def test_snake_case_field_names_are_accepted(emulator: EmulatorServer, parent: str) -> None:
    body = {
        "display_name": "snake",
        "runtime_config": {"gcs_output_directory": "gs://b/r", "parameter_values": {"epochs": 1}},
        "pipeline_spec": PIPELINE_JOB["pipelineSpec"],
    }
    response = post(emulator.url, parent, "pipelineJobs", body)
    assert response.status_code == 200, response.text
    assert response.json()["runtimeConfig"]["gcsOutputDirectory"] == "gs://b/r"


def test_read_mask_is_checked_at_every_depth(client: v1.JobServiceClient, parent: str) -> None:
    create(client, parent, display_name="masked", timeout_s=60)
    mask = field_mask_pb2.FieldMask(paths=["job_spec.scheduling.timeout", "display_name"])
    [job] = list(client.list_custom_jobs(request={"parent": parent, "read_mask": mask}))
    assert job.display_name == "masked" and job.job_spec.scheduling.timeout.total_seconds() == 60
    assert not job.job_spec.worker_pool_specs
    for path in ("job_spec.nope", "job_spec.scheduling.nope", "job_spec.worker_pool_specs.machine_spec", "state.x"):
        with pytest.raises(gexc.BadRequest) as exc:
            list(client.list_custom_jobs(request={"parent": parent, "read_mask": {"paths": [path]}}))
        assert "read_mask" in exc.value.message, exc.value.message
