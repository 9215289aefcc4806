"""``--execute``: a CustomJob's container ``command`` + ``args`` run as a local process while the job is RUNNING.

The store asks :meth:`LocalRunner.plan` at create time (collections with ``runs_locally``); the job's timeline then
stops at RUNNING and the process decides how it ends (:func:`outcome_segment`). Environment as Vertex AI sets it
for a training container: ``CLOUD_ML_JOB_ID``, the ``AIP_*_DIR`` variables under ``baseOutputDirectory``, and the
container's own ``env``. Vertex AI's ``/gcs/`` mount is a directory of the job's own (:class:`~.gcs.GcsMount`): what
the process writes there is uploaded to the Cloud Storage emulator when it exits, before the job's final state.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .custom_jobs import failed_error
from .executor import Executor, Outcome
from .gcs import GcsMount
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
        self.executor = Executor(log_dir, is_awaiting, self._ended)
        self.log_dir = log_dir
        self._on_end = on_end
        self._lock = threading.Lock()
        self._mounts: dict[str, tuple[GcsMount, str]] = {}  # job name -> its /gcs/ and its log

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
        mount = GcsMount(os.path.join(self.log_dir, f"gcs-{job.id}"))
        argv, env = mount.rewrite(argv, process_env(job))
        with self._lock:
            self._mounts[job.name] = (mount, job.log_path)
        return Launch(job.name, job.id, argv, env, segments[running].start_us / 1e6, timeout)

    def _ended(self, name: str, outcome: Outcome) -> None:
        """The process exited: upload what it wrote under /gcs/ (problems go to its log), then end the job."""
        with self._lock:
            mounted = self._mounts.pop(name, None)
        if mounted is not None and outcome.kind != "cancelled":
            problems = mounted[0].upload()
            if problems:
                with open(mounted[1], "a", encoding="utf-8") as log:
                    log.write("".join(f"vertex-emulator: {line}\n" for line in problems))
        self._on_end(name, outcome)

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
