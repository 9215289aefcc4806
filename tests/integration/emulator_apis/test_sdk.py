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
