"""Custom Job Output parameters (issue 26) through the real handlers, against the Firestore, Pub/Sub and Cloud Storage
emulators and our Vertex AI emulator: where submit tells the job to write them, and what the run reports."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OUTPUTS_BUCKET
from tests.helpers import create_template, example_body, job_client, job_dict

PREFIX = "polysync-outputs"


def env_of(pool: dict[str, Any]) -> dict[str, str]:
    spec = pool.get("containerSpec") or pool.get("pythonPackageSpec") or {}
    return {e["name"]: e["value"] for e in spec.get("env", [])}


@pytest.fixture
def outputs_on(env: dict[str, str], storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An outputs bucket configured (the Cloud Storage emulator's)."""
    from polysync_vertex import bootstrap

    monkeypatch.setenv("PSV_OUTPUTS_BUCKET", OUTPUTS_BUCKET)
    monkeypatch.delenv("PSV_OUTPUTS_PREFIX", raising=False)
    bootstrap.app.cache_clear()
    return OUTPUTS_BUCKET


def expected_uri(request_id: str) -> str:
    from polysync_vertex.core.labels import request_key

    return f"gs://{OUTPUTS_BUCKET}/{PREFIX}/{request_key(request_id)}/outputs.json"


def test_with_a_bucket_pool_0_is_told_where_to_write_and_nothing_is_ignored(
    call: Any, vertex: Any, vertex_server: Any, outputs_on: str
) -> None:
    resp = call("submit", example_body("outputs-env-1"))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["warnings"] == []
    uri = expected_uri("outputs-env-1")
    job = job_dict(job_client(vertex_server.url), body["runId"])
    assert env_of(job["jobSpec"]["workerPoolSpecs"][0]) == {
        "EPOCHS": "10",
        "MODE": "fast",
        "POLYSYNC_OUTPUTS_PATH": "/gcs/" + uri.removeprefix("gs://"),
        "POLYSYNC_OUTPUTS_URI": uri,
    }
    status = call("status", query=f"runId={body['runId']}").get_json()
    assert status["outputs"] is None  # until the run ends

    # A replay of the request answers the same run; its job writes to the same object.
    again = call("submit", example_body("outputs-env-1"))
    assert again.status_code == 200 and again.get_json()["runId"] == body["runId"]


def test_only_the_chief_pool_gets_the_location(call: Any, vertex: Any, vertex_server: Any, outputs_on: str) -> None:
    client = job_client(vertex_server.url)
    pool = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": "1",
        "containerSpec": {"imageUri": "us-docker.pkg.dev/p/r/t:1", "env": [{"name": "OWN", "value": "x"}]},
    }
    template = create_template(
        client, {"displayName": "two-pools", "jobSpec": {"workerPoolSpecs": [pool, {**pool, "replicaCount": "2"}]}}
    )
    resp = call(
        "submit",
        {
            "requestId": "outputs-pools",
            "jobName": "two",
            "externalId": template["name"],
            "parameters": [{"name": "SCORE", "direction": "Output", "type": "Number"}],
        },
    )
    assert resp.status_code == 201, resp.get_json()
    pools = job_dict(client, resp.get_json()["runId"])["jobSpec"]["workerPoolSpecs"]
    assert env_of(pools[0])["POLYSYNC_OUTPUTS_URI"] == expected_uri("outputs-pools")
    assert env_of(pools[1]) == {"OWN": "x"}


def test_without_output_parameters_nothing_is_added(
    call: Any, vertex: Any, vertex_server: Any, outputs_on: str
) -> None:
    body = example_body("outputs-none", parameters=[{"name": "EPOCHS", "type": "Number", "value": 1}])
    resp = call("submit", body)
    assert resp.status_code == 201, resp.get_json()
    job = job_dict(job_client(vertex_server.url), resp.get_json()["runId"])
    assert env_of(job["jobSpec"]["workerPoolSpecs"][0]) == {"EPOCHS": "1"}
    assert "outputs" not in call("status", query=f"runId={resp.get_json()['runId']}").get_json()


def test_without_a_bucket_output_parameters_are_ignored_with_a_warning(
    call: Any, vertex: Any, vertex_server: Any
) -> None:
    resp = call("submit", example_body("outputs-off"))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["warnings"] == ["parameter SCORE (Output) is not supported and was ignored"]
    job = job_dict(job_client(vertex_server.url), resp.get_json()["runId"])
    assert "POLYSYNC_OUTPUTS_URI" not in env_of(job["jobSpec"]["workerPoolSpecs"][0])
    assert "outputs" not in call("status", query=f"runId={resp.get_json()['runId']}").get_json()


def test_too_many_env_vars_with_the_locations_is_a_400(call: Any, vertex: Any, outputs_on: str) -> None:
    params = [{"name": f"P{i}", "type": "Number", "value": i} for i in range(99)]
    params.append({"name": "SCORE", "direction": "Output", "type": "Number"})
    resp = call("submit", example_body("outputs-env-limit", parameters=params))
    assert resp.status_code == 400, resp.get_json()
    assert "POLYSYNC_OUTPUTS_PATH" in resp.get_json()["error"]["message"]
