"""``--execute``: a CustomJob's container ``command`` + ``args`` run as a local process while the job is RUNNING.

The store asks :meth:`LocalRunner.plan` at create time (collections with ``runs_locally``); the job's timeline then
stops at RUNNING and the process decides how it ends (:func:`outcome_segment`). Environment as Vertex AI sets it
for a training container: ``CLOUD_ML_JOB_ID``, the ``AIP_*_DIR`` variables under ``baseOutputDirectory``, and the
container's own ``env``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .custom_jobs import failed_error
from .executor import Executor, Outcome
from .job import Job
from .scenario import Segment, timeout_error


@dataclass(frozen=True)
class Launch:
    name: str
    job_id: str
    argv: list[str]
    env: dict[str, str]
    start_at: float  # epoch seconds: when the job becomes RUNNING
    timeout_s: float | None


class LocalRunner:
    def __init__(
        self, log_dir: str, is_awaiting: Callable[[str], bool], on_end: Callable[[str, Outcome], None]
    ) -> None:
        self.executor = Executor(log_dir, is_awaiting, on_end)

    def plan(self, job: Job, timeout_s: float | None, time_factor: float) -> Launch | None:
        """If ``job`` has a command and reaches RUNNING: cut its timeline there and say what to launch."""
        argv = command(job)
        segments = job.segments
        running = next((i for i, s in enumerate(segments) if s.state == "JOB_STATE_RUNNING"), None)
        if not argv or running is None:
            return None
        job.segments = segments[: running + 1]  # the process decides how RUNNING ends
        job.awaiting_process = True
        job.log_path = self.executor.log_path(int(job.id))
        timeout = timeout_s * time_factor if timeout_s is not None else None
        return Launch(job.name, job.id, argv, process_env(job), segments[running].start_us / 1e6, timeout)

    def launch(self, launch: Launch) -> None:
        self.executor.launch(
            launch.name, int(launch.job_id), launch.argv, launch.env, launch.start_at, launch.timeout_s
        )

    def cancel(self, name: str) -> None:
        self.executor.cancel(name)

    def shutdown(self) -> None:
        self.executor.shutdown()


def _spec(job: Job) -> dict[str, Any]:
    spec: dict[str, Any] = job.static_json(False).get("jobSpec") or {}
    return spec


def command(job: Job) -> list[str]:
    pools = _spec(job).get("workerPoolSpecs") or [{}]
    container = pools[0].get("containerSpec") or {}
    argv = container.get("command") or []
    args = container.get("args") or []
    return [str(part) for part in argv] + [str(arg) for arg in args] if argv else []


def process_env(job: Job) -> dict[str, str]:
    env = dict(os.environ)
    env["CLOUD_ML_JOB_ID"] = str(job.id)
    spec = _spec(job)
    base = spec.get("baseOutputDirectory", {})
    uri = base.get("outputUriPrefix") if isinstance(base, dict) else None
    if uri:
        root = uri.rstrip("/")
        env["AIP_MODEL_DIR"] = f"{root}/model/"
        env["AIP_CHECKPOINT_DIR"] = f"{root}/checkpoints/"
        env["AIP_TENSORBOARD_LOG_DIR"] = f"{root}/logs/"
    container = (spec.get("workerPoolSpecs") or [{}])[0].get("containerSpec") or {}
    for var in container.get("env") or []:
        env[str(var.get("name", ""))] = str(var.get("value", ""))
    return env


def outcome_segment(job: Job, outcome: Outcome, now: int) -> Segment:
    """The final segment of a job whose process ended with ``outcome`` (not ``cancelled``)."""
    if outcome.kind == "exit" and outcome.code == 0:
        return Segment("JOB_STATE_SUCCEEDED", now)
    if outcome.kind == "timeout":
        return Segment("JOB_STATE_FAILED", now, timeout_error(str(job.extra.get("timeout_text", ""))))
    if outcome.kind == "error":
        return Segment("JOB_STATE_FAILED", now, {"code": 13, "message": outcome.detail.strip()})
    code = outcome.code if outcome.code is not None else 1
    detail = f"Termination reason: killed by signal {-code}. " if code < 0 else ""
    return Segment("JOB_STATE_FAILED", now, failed_error(job.project, job.id, code, detail))
