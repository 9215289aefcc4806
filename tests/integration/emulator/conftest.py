"""Fixtures of the Vertex AI emulator tests: an emulator per module, clients, a location per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from google.cloud import aiplatform_v1 as v1

from vertex_emulator import AdminClient, EmulatorServer

from .support import PROJECT, TIME_FACTOR, make_client, make_pipeline_client

_locations = itertools.count(1)


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
def pipelines(emulator: EmulatorServer) -> v1.PipelineServiceClient:
    return make_pipeline_client(emulator.url)


@pytest.fixture(scope="module")
def exec_client(exec_emulator: EmulatorServer) -> v1.JobServiceClient:
    return make_client(exec_emulator.url)


@pytest.fixture()
def admin(emulator: EmulatorServer) -> Iterator[AdminClient]:
    admin = AdminClient(emulator.url)
    yield admin
    admin.clear_faults()


@pytest.fixture()
def parent() -> str:
    """A location of its own for each test, so tests never see each other's jobs."""
    return f"projects/{PROJECT}/locations/loc-{next(_locations)}"
