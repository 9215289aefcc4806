"""The gcloud CLI against the emulator: ``gcloud ai custom-jobs create --config``, list, describe, cancel, stream-logs
(which reads the job, then polls Cloud Logging ``entries:list``), and ``gcloud logging read``.

gcloud talks plain http to an ``api_endpoint_overrides`` URL and keeps a ``127.0.0.1:PORT`` host as it is (it only
prefixes the region to hosts starting with ``aiplatform``), so no https or regional host is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for
from vertex_emulator import EmulatorServer

from .conftest import LOCATION, PROJECT

pytestmark = pytest.mark.timeout(300)

GCLOUD = "gcloud"
Gcloud = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def gcloud(server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Gcloud:
    """``gcloud(*args)`` with a throwaway config pointing aiplatform and logging at the emulator."""
    config = tmp_path_factory.mktemp("gcloud-config")
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        # No network: no usage reporting, no update check.
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
    }

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [GCLOUD, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if check and done.returncode != 0:
            raise AssertionError(f"gcloud {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    for prop, value in (
        ("auth/disable_credentials", "true"),
        ("api_endpoint_overrides/aiplatform", f"{server.url}/"),
        ("api_endpoint_overrides/logging", f"{server.url}/"),
        ("core/project", PROJECT),
    ):
        run("config", "set", prop, value)
    return run


def write_config(path: Path, command: list[str] | None = None, scenario: str | None = None) -> str:
    """A ``--config`` file (JSON is YAML) holding a CustomJobSpec, as ``gcloud ai custom-jobs create`` reads it."""
    container: dict[str, Any] = {"imageUri": "us-docker.pkg.dev/p/r/trainer:1"}
    if command:
        container["command"] = command
    if scenario:
        container["env"] = [{"name": "VERTEX_EMULATOR_SCENARIO", "value": scenario}]
    spec = {
        "workerPoolSpecs": [
            {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": 1, "containerSpec": container}
        ]
    }
    path.write_text(json.dumps(spec))
    return str(path)


def create(gcloud: Gcloud, config: str, display_name: str) -> str:
    done = gcloud(
        "ai",
        "custom-jobs",
        "create",
        f"--region={LOCATION}",
        f"--config={config}",
        f"--display-name={display_name}",
        "--format=value(name)",
    )
    name = done.stdout.strip()
    assert name.startswith(f"projects/{PROJECT}/locations/{LOCATION}/customJobs/"), done.stdout + done.stderr
    return name


def describe(gcloud: Gcloud, name: str) -> dict[str, Any]:
    return json.loads(gcloud("ai", "custom-jobs", "describe", name, "--format=json").stdout)


def test_create_list_describe_and_stream_logs(gcloud: Gcloud, admin: Any, tmp_path: Path) -> None:
    script = "print('hello from the trainer'); print('epoch 1 done')"
    config = write_config(tmp_path / "job.yaml", command=[sys.executable, "-c", script])
    name = create(gcloud, config, "gcloud-job")
    job = describe(gcloud, name)
    assert job["displayName"] == "gcloud-job" and job["jobSpec"]["workerPoolSpecs"][0]["replicaCount"] == "1"
    assert wait_for(lambda: describe(gcloud, name)["state"] == "JOB_STATE_SUCCEEDED", what="gcloud job to end")

    listed = json.loads(gcloud("ai", "custom-jobs", "list", f"--region={LOCATION}", "--format=json").stdout)
    assert [j["name"] for j in listed] == [name]
    assert admin.calls()["ListCustomJobs"] == 1

    # stream-logs stops after two empty polls once the job has ended; gcloud only shows entries older than 5 s.
    logs = gcloud("ai", "custom-jobs", "stream-logs", name, "--polling-interval=1", timeout=120)
    lines = logs.stdout.splitlines()
    assert any(line.endswith("workerpool0-0\thello from the trainer") for line in lines), logs.stdout
    assert any(line.endswith("workerpool0-0\tepoch 1 done") for line in lines)
    assert lines[-1].startswith("INFO") and lines[-1].endswith("service\tJob completed successfully.")
    assert sum("Job is running." in line for line in lines) == 1  # each entry once, despite the repeated polls
    assert admin.calls()["ListLogEntries"] >= 2

    job_id = name.rsplit("/", 1)[1]
    read = gcloud(
        "logging",
        "read",
        f'resource.type="ml_job" AND resource.labels.job_id="{job_id}" AND textPayload:"epoch"',
        "--format=value(textPayload)",
    )
    assert read.stdout.splitlines() == ["epoch 1 done"]


def test_cancel(gcloud: Gcloud, admin: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path / "long.yaml", scenario="PENDING:1,RUNNING:600,SUCCEEDED")
    name = create(gcloud, config, "gcloud-cancel")
    cancelled = gcloud("ai", "custom-jobs", "cancel", name)
    assert "cancel" in (cancelled.stdout + cancelled.stderr).lower()
    assert describe(gcloud, name)["state"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert wait_for(lambda: describe(gcloud, name)["state"] == "JOB_STATE_CANCELLED", what="CANCELLED")
    again = gcloud("ai", "custom-jobs", "cancel", name, check=False)
    assert again.returncode != 0 and "FAILED_PRECONDITION" in again.stderr
    assert admin.calls()["CancelCustomJob"] == 2
