"""Helpers of the Vertex AI emulator tests: jobs through the official clients, waits, error checks."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.protobuf import duration_pb2

PROJECT = "test-project"
TIME_FACTOR = 0.02
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z$")
INT_ENUMS = {"$alt": "json;enum-encoding=int"}


def make_client(url: str) -> v1.JobServiceClient:
    return v1.JobServiceClient(
        transport="rest",
        client_options={"api_endpoint": url},
        credentials=AnonymousCredentials(),
    )


def make_pipeline_client(url: str) -> v1.PipelineServiceClient:
    return v1.PipelineServiceClient(
        transport="rest", client_options={"api_endpoint": url}, credentials=AnonymousCredentials()
    )


def job_proto(
    display_name: str = "job",
    scenario: str | None = None,
    labels: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    args: list[str] | None = None,
    timeout_s: float | None = None,
    **job_spec: Any,
) -> v1.CustomJob:
    variables = dict(env or {})
    if scenario is not None:
        variables["VERTEX_EMULATOR_SCENARIO"] = scenario
    container = v1.ContainerSpec(
        image_uri="us-docker.pkg.dev/test-project/train/trainer:1.0",
        command=command or [],
        args=args or [],
        env=[v1.EnvVar(name=k, value=v) for k, v in variables.items()],
    )
    spec = v1.CustomJobSpec(
        worker_pool_specs=[
            v1.WorkerPoolSpec(
                machine_spec=v1.MachineSpec(machine_type="n1-standard-4"),
                replica_count=1,
                container_spec=container,
            )
        ],
        **job_spec,
    )
    if timeout_s is not None:
        spec.scheduling = v1.Scheduling(timeout=duration_pb2.Duration(seconds=int(timeout_s)))
    return v1.CustomJob(display_name=display_name, job_spec=spec, labels=labels or {})


def create(client: v1.JobServiceClient, parent: str, **kwargs: Any) -> v1.CustomJob:
    return client.create_custom_job(parent=parent, custom_job=job_proto(**kwargs))


def wait_until(get: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Call ``get`` until ``done(job)``; fail with the last job seen at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        job = get()
        if done(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached; last state {job.state.name}: {job}")
        time.sleep(0.01)


def wait_for(
    client: v1.JobServiceClient, name: str, done: Callable[[v1.CustomJob], bool], timeout: float = 20.0
) -> v1.CustomJob:
    """Poll ``get`` until ``done(job)``; fail with the last job seen at the deadline."""
    job: v1.CustomJob = wait_until(lambda: client.get_custom_job(name=name), done, timeout)
    return job


def wait_state(client: v1.JobServiceClient, name: str, state: v1.JobState, timeout: float = 20.0) -> v1.CustomJob:
    return wait_for(client, name, lambda job: job.state == state, timeout)


def wait_pipeline_state(
    client: v1.PipelineServiceClient, name: str, state: v1.PipelineState, timeout: float = 20.0
) -> v1.PipelineJob:
    job: v1.PipelineJob = wait_until(lambda: client.get_pipeline_job(name=name), lambda j: j.state == state, timeout)
    return job


def raw_get(url: str, path: str, **params: str) -> requests.Response:
    return requests.get(url + path, params=params, timeout=10)


def error_of(exc: pytest.ExceptionInfo[gexc.GoogleAPICallError]) -> dict[str, Any]:
    """The ``error`` object of Google's JSON error form behind a client exception."""
    response = exc.value.response
    assert response is not None
    return response.json()["error"]


def assert_bad_request(exc: pytest.ExceptionInfo[gexc.GoogleAPICallError], status: str, fragment: str) -> None:
    error = error_of(exc)
    assert error["code"] == 400
    assert error["status"] == status
    assert fragment in error["message"], error["message"]


def job_id(job: v1.CustomJob) -> int:
    return int(job.name.rsplit("/", 1)[1])
