"""An in-process Vertex AI emulator with ``--execute`` for the surrounding-API tests (Logging, IAM, operations)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vertex_emulator import AdminClient, EmulatorServer

PROJECT = "apis-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
TIME_FACTOR = 0.05


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    log_dir = str(tmp_path_factory.mktemp("vertex-logs"))
    emulator = EmulatorServer(port=0, time_factor=TIME_FACTOR, execute=True, log_dir=log_dir, cancel_delay=20)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def admin(server: EmulatorServer) -> AdminClient:
    client = AdminClient(server.url)
    client.reset()
    return client


def job_body(
    display_name: str, command: list[str] | None = None, scenario: str | None = None, logs: str | None = None
) -> dict[str, Any]:
    """A CustomJob body; ``command`` runs under ``--execute``, ``scenario`` scripts the states, ``logs`` the
    workload's log lines (VERTEX_EMULATOR_LOGS)."""
    container: dict[str, Any] = {"imageUri": "us-docker.pkg.dev/p/r/trainer:1"}
    if command:
        container["command"] = command
    env = [{"name": "VERTEX_EMULATOR_SCENARIO", "value": scenario}] if scenario else []
    env += [{"name": "VERTEX_EMULATOR_LOGS", "value": logs}] if logs else []
    if env:
        container["env"] = env
    pool = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "containerSpec": container}
    return {"displayName": display_name, "jobSpec": {"workerPoolSpecs": [pool]}}
