"""The live suite's jobs (bodies, budget, waits, clean-up) and its report of what it observed."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from polysync_vertex.core.labels import LABEL_JOB, LABEL_MANAGED_BY, LABEL_REQUEST, LABEL_SHARD, request_key, shard_of

from .target import MANAGED_BY, RUN_LABEL, Target, facts

SCENARIO = "VERTEX_EMULATOR_SCENARIO"
OUTPUTS = "VERTEX_EMULATOR_OUTPUTS"
OUTPUT_FILE = "{{$.outputs.parameters['Output'].output_file}}"


class BudgetExceeded(Exception):
    pass


def labels(target: Target, request_id: str, job: str) -> dict[str, str]:
    """The connector's label set (request key, job name, shard), with the suite's own managed-by and session."""
    key = request_key(request_id)
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_REQUEST: key,
        LABEL_JOB: job,
        LABEL_SHARD: f"{shard_of(key):02d}",
        RUN_LABEL: target.session,
    }


def custom_job(
    target: Target, display_name: str, *, seconds: int, scenario: str, job_labels: dict[str, str] | None = None
) -> Any:
    """A single-pool CustomJob: the tiny public image runs `sh -c` for `seconds` on the smallest machine. The
    emulator follows `scenario` (an env var Vertex AI passes to the container untouched)."""
    from google.cloud.aiplatform_v1 import types

    env = [types.EnvVar(name=SCENARIO, value=scenario)] if not target.live else []
    container = types.ContainerSpec(
        image_uri=target.image, command=["sh", "-c", f"echo psv-live {display_name}; sleep {seconds}"], env=env
    )
    pool = types.WorkerPoolSpec(
        machine_spec=types.MachineSpec(machine_type=target.machine_type), replica_count=1, container_spec=container
    )
    return types.CustomJob(
        display_name=display_name, labels=job_labels or {}, job_spec=types.CustomJobSpec(worker_pool_specs=[pool])
    )


def pipeline_spec(target: Target) -> dict[str, Any]:
    """A one-step KFP IR pipeline whose step writes the number 42 to its output parameter `Output`, which the
    pipeline returns (the shape kfp compiles a container component to: kubeflow/pipelines
    sdk/python/test_data/components/container_io.yaml)."""
    name = "psv-live-answer"
    value = facts()["pipeline_root_task_outputs"]["output_value"]
    script = f'mkdir -p "$(dirname "$0")" && printf {value} > "$0"'
    number = {"parameterType": "NUMBER_INTEGER"}
    return {
        "pipelineInfo": {"name": name},
        "schemaVersion": "2.1.0",
        "sdkVersion": "kfp-2.7.0",
        "components": {
            "comp-answer": {"executorLabel": "exec-answer", "outputDefinitions": {"parameters": {"Output": number}}}
        },
        "deploymentSpec": {
            "executors": {
                "exec-answer": {"container": {"image": target.image, "command": ["sh", "-c", script, OUTPUT_FILE]}}
            }
        },
        "root": {
            "dag": {
                "tasks": {
                    "answer": {
                        "taskInfo": {"name": "answer"},
                        "componentRef": {"name": "comp-answer"},
                        "cachingOptions": {"enableCache": False},
                    }
                },
                "outputs": {
                    "parameters": {
                        "Output": {"valueFromParameter": {"producerSubtask": "answer", "outputParameterKey": "Output"}}
                    }
                },
            },
            "outputDefinitions": {"parameters": {"Output": number}},
        },
    }


def pipeline_job(target: Target, display_name: str, *, job_labels: dict[str, str], scenario: str) -> Any:
    from google.cloud.aiplatform_v1 import types
    from google.protobuf import struct_pb2

    spec = struct_pb2.Struct()
    spec.update(pipeline_spec(target))
    runtime = types.PipelineJob.RuntimeConfig(gcs_output_directory=target.pipeline_root)
    if not target.live:  # scripted parameters the emulator reads; Vertex AI would refuse undeclared ones
        value = facts()["pipeline_root_task_outputs"]["output_value"]
        runtime.parameter_values[SCENARIO] = scenario
        runtime.parameter_values[OUTPUTS] = json.dumps({"Output": value})
    job = types.PipelineJob(display_name=display_name, labels=job_labels, runtime_config=runtime)
    job.pipeline_spec = spec
    return job


def error_body(exc: Any) -> dict[str, Any]:
    """The JSON error body of a google.api_core exception raised by a REST client."""
    response = getattr(exc, "response", None)
    assert response is not None, f"no HTTP response on {exc!r}"
    body: dict[str, Any] = response.json()
    return body


class Jobs:
    """Creates jobs within the budget, remembers each one, waits for states, and cleans up at the end."""

    def __init__(self, target: Target, budget: int) -> None:
        self.target = target
        self.budget = budget
        self.created: list[str] = []
        self.attempts = 0
        self.jobs = target.job_client()
        self.pipelines = target.pipeline_client()
        self.poll_s = 15.0 if target.live else 0.02
        self.max_wait_s = 45 * 60.0 if target.live else 20.0

    def _spend(self) -> None:
        if self.attempts >= self.budget:
            raise BudgetExceeded(f"--live-budget {self.budget} reached: no more jobs are created in this run")
        self.attempts += 1

    def create(self, call: Callable[[], Any]) -> Any:
        """One create call within the budget; a job it creates is remembered for clean-up."""
        try:
            self._spend()
        except BudgetExceeded as exc:
            if self.target.live:
                pytest.skip(str(exc))
            raise
        job = call()
        name = job.get("name", "") if isinstance(job, dict) else getattr(job, "name", "")
        if name:
            self.created.append(name)
        return job

    def get(self, name: str) -> Any:
        if "/pipelineJobs/" in name:
            return self.pipelines.get_pipeline_job(name=name)
        return (
            self.jobs.get_custom_job(name=name)
            if "/customJobs/" in name
            else self.jobs.get_batch_prediction_job(name=name)
        )

    def wait(self, name: str, done: Callable[[Any], bool], what: str) -> Any:
        deadline = time.monotonic() + self.max_wait_s
        while True:
            job = self.get(name)
            if done(job):
                return job
            if time.monotonic() > deadline:
                pytest.fail(f"{name}: {what} not reached in {self.max_wait_s:.0f} s; last state {job.state.name}")
            time.sleep(self.poll_s)

    def cleanup(self) -> list[str]:
        """Cancel what is still running, wait for it to end, delete every job created. Returns what is left."""
        left: list[str] = []
        for name in self.created:
            try:
                job = self.get(name)
                if not _final(job):
                    self._cancel(name)
                    deadline = time.monotonic() + (600 if self.target.live else 20)
                    while not _final(job) and time.monotonic() < deadline:
                        time.sleep(self.poll_s)
                        job = self.get(name)
                self._delete(name)
            except Exception as exc:  # noqa: BLE001 - keep cleaning the others; named in the report
                left.append(f"{name} ({type(exc).__name__}: {str(exc)[:120]})")
        return left

    def _cancel(self, name: str) -> None:
        if "/pipelineJobs/" in name:
            self.pipelines.cancel_pipeline_job(name=name)
        elif "/customJobs/" in name:
            self.jobs.cancel_custom_job(name=name)
        else:
            self.jobs.cancel_batch_prediction_job(name=name)

    def _delete(self, name: str) -> None:
        if "/pipelineJobs/" in name:
            self.pipelines.delete_pipeline_job(name=name).result(timeout=300)
        elif "/customJobs/" in name:
            self.jobs.delete_custom_job(name=name).result(timeout=300)
        else:
            self.jobs.delete_batch_prediction_job(name=name).result(timeout=300)


def _final(job: Any) -> bool:
    return job.state.name.endswith(("_SUCCEEDED", "_FAILED", "_CANCELLED", "_EXPIRED", "_PARTIALLY_SUCCEEDED"))


class Report:
    """What each fact observed, written as JSON a user can attach to an issue."""

    def __init__(self) -> None:
        self.observed: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}
        self.target: Target | None = None
        self.left_behind: list[str] = []

    def record(self, fact: str, **values: Any) -> None:
        self.observed.setdefault(fact, {}).update(values)

    def document(self) -> dict[str, Any]:
        from google.cloud.aiplatform_v1 import gapic_version

        target = self.target
        expected = facts()
        return {
            "kind": "polysync-vertex live facts report",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": target.name if target else "unknown",
            "region": target.location if target else "",
            "endpoint": target.api_endpoint if target else "",
            "clients": {"google-cloud-aiplatform (aiplatform_v1)": gapic_version.__version__},
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "tests": self.outcomes,
            "facts": {
                fact: {"expected": expected.get(fact), "observed": values}
                for fact, values in sorted(self.observed.items())
            },
            "leftBehind": self.left_behind,
        }

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.document(), indent=2, sort_keys=False, default=str) + "\n")
        return path


REPORT = Report()
