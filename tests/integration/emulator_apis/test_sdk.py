"""The high-level SDK (``google-cloud-aiplatform``) against the emulator: ``aiplatform.init(api_endpoint="http://...",
api_transport="rest", credentials=AnonymousCredentials())``, then ``CustomJob.run()``, ``.cancel()``, ``.list()``,
``.delete()``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform
from google.cloud.aiplatform import initializer
from google.cloud.aiplatform_v1 import JobState

from tests.helpers import wait_for
from vertex_emulator import EmulatorServer

from .conftest import LOCATION, PROJECT

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def sdk(server: EmulatorServer, admin: Any) -> Iterator[None]:
    aiplatform.init(
        project=PROJECT,
        location=LOCATION,
        api_endpoint=server.url,  # "http://127.0.0.1:PORT": the scheme makes the REST transport use plain http
        api_transport="rest",
        credentials=AnonymousCredentials(),
        staging_bucket="gs://emulator-staging",  # only a name: the emulator never touches GCS
    )
    yield
    initializer.global_config.__init__()  # type: ignore[misc]  # the SDK's own way back to defaults


def pool(command: list[str] | None = None, scenario: str | None = None) -> list[dict[str, Any]]:
    container: dict[str, Any] = {"image_uri": "us-docker.pkg.dev/p/r/trainer:1"}
    if command:
        container["command"] = command
    if scenario:
        container["env"] = [{"name": "VERTEX_EMULATOR_SCENARIO", "value": scenario}]
    return [{"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": container}]


def test_run_list_and_delete(sdk: None, admin: Any) -> None:
    job = aiplatform.CustomJob(display_name="sdk-run", worker_pool_specs=pool(["sh", "-c", "echo sdk"]))
    job.run(sync=True)
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert job.resource_name.startswith(f"projects/{PROJECT}/locations/{LOCATION}/customJobs/")

    other = aiplatform.CustomJob(display_name="sdk-other", worker_pool_specs=pool(scenario="SUCCEEDED"))
    other.run(sync=True)
    listed = aiplatform.CustomJob.list(filter='display_name="sdk-run"')
    assert [j.resource_name for j in listed] == [job.resource_name]
    assert {j.resource_name for j in aiplatform.CustomJob.list()} == {job.resource_name, other.resource_name}

    job.delete()
    assert [j.resource_name for j in aiplatform.CustomJob.list()] == [other.resource_name]
    with pytest.raises(gexc.NotFound):
        aiplatform.CustomJob.get(job.resource_name)
    assert admin.calls()["DeleteCustomJob"] == 1


def test_cancel(sdk: None, admin: Any) -> None:
    job = aiplatform.CustomJob(
        display_name="sdk-cancel", worker_pool_specs=pool(scenario="PENDING:1,RUNNING:600,SUCCEEDED")
    )
    job.submit()
    job.wait_for_resource_creation()
    job.cancel()
    assert admin.calls()["CancelCustomJob"] == 1
    fresh = aiplatform.CustomJob.get(job.resource_name)
    assert wait_for(
        lambda: aiplatform.CustomJob.get(job.resource_name).state == JobState.JOB_STATE_CANCELLED, what="CANCELLED"
    )
    assert fresh.display_name == "sdk-cancel"
    assert aiplatform.CustomJob.list(filter='state="JOB_STATE_CANCELLED"')[0].resource_name == job.resource_name


def test_pipeline_outputs_and_simple_list_view_as_the_sdk_reads_them(sdk: None, server: EmulatorServer) -> None:
    """python-aiplatform's PipelineJob.task_details (job_detail.task_details of a GET) holds the root system.Run task
    with output:<name>; PipelineJob.list(enable_simple_view=True) sends its _READ_MASK_FIELDS (constants/pipeline.py)
    and gets the run contexts without task details."""
    from google.cloud.aiplatform_v1 import PipelineServiceClient, PipelineState
    from google.protobuf import struct_pb2

    client = PipelineServiceClient(
        transport="rest", client_options={"api_endpoint": server.url}, credentials=AnonymousCredentials()
    )
    spec = struct_pb2.Struct()
    spec.update({"pipelineInfo": {"name": "sdk-pipeline"}, "root": {"dag": {"tasks": {"step": {}}}}})
    body = aiplatform.gapic.PipelineJob(
        display_name="sdk-pipeline",
        runtime_config={"gcs_output_directory": "gs://emulator-staging/root"},
    )
    body.pipeline_spec = spec
    body.runtime_config.parameter_values["VERTEX_EMULATOR_SCENARIO"] = "SUCCEEDED"
    body.runtime_config.parameter_values["VERTEX_EMULATOR_OUTPUTS"] = '{"model_resource_name": "models/1"}'
    created = client.create_pipeline_job(
        parent=f"projects/{PROJECT}/locations/{LOCATION}", pipeline_job=body, pipeline_job_id="sdk-run-1"
    )
    job = aiplatform.PipelineJob.get(created.name)
    assert job.state == PipelineState.PIPELINE_STATE_SUCCEEDED
    (root,) = [t for t in job.task_details if t.execution.schema_title == "system.Run"]
    assert root.task_name == job.name == "sdk-run-1"
    assert root.execution.metadata["output:model_resource_name"] == "models/1"
    (listed,) = aiplatform.PipelineJob.list(enable_simple_view=True)
    assert listed.gca_resource.job_detail.pipeline_run_context.name.endswith("/contexts/sdk-run-1")
    assert not listed.gca_resource.job_detail.task_details
    assert listed.gca_resource.pipeline_spec["pipelineInfo"]["name"] == "sdk-pipeline"  # a path into the Struct
    assert "root" not in listed.gca_resource.pipeline_spec
