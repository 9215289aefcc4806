"""In-memory CustomJobs: per-location indexes, lazy lifecycle, list pages, operations."""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import os
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from .enums import FINAL_STATES, JOB_STATES, job_spec_with_int_enums, state_name
from .errors import ApiError, failed_precondition, invalid_argument, not_found
from .executor import Executor, Outcome
from .filters import parse_filter
from .scenario import (
    CANCEL_DELAY_S,
    CANCELLED_ERROR,
    Segment,
    build_timeline,
    failed_error,
    state_error,
    timeout_error,
)
from .timeutil import format_timestamp, now_us
from .validation import CUSTOM_JOB_FIELDS, camel, parse_job_name, parse_operation_name, validate_custom_job

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
_OP_METADATA_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
_EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"


@dataclass(eq=False, slots=True)
class Job:
    id: int
    project: str
    location: str
    display_name: str
    job_spec: dict[str, Any]
    labels: dict[str, str]
    encryption_spec: dict[str, Any] | None
    create_us: int
    segments: list[Segment]
    cancel_delay_s: float = CANCEL_DELAY_S
    awaiting_process: bool = False
    log_path: str | None = None

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/customJobs/{self.id}"

    def current(self, now: int) -> int:
        """Index of the segment in effect at ``now``."""
        index = len(self.segments) - 1
        while index > 0 and self.segments[index].start_us > now:
            index -= 1
        return index

    def state_at(self, now_us: int) -> str:
        return self.segments[self.current(now_us)].state

    def replace_future(self, now: int, *new: Segment) -> None:
        """Drop what had not happened yet at ``now`` and continue with ``new``."""
        self.segments = [s for s in self.segments if s.start_us <= now] + list(new)

    def to_json(self, now: int, int_enums: bool) -> dict[str, Any]:
        index = self.current(now)
        segment = self.segments[index]
        out: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "jobSpec": job_spec_with_int_enums(self.job_spec) if int_enums else self.job_spec,
            "state": JOB_STATES[segment.state] if int_enums else segment.state,
            "createTime": format_timestamp(self.create_us),
        }
        started = next((s.start_us for s in self.segments[: index + 1] if s.state == "JOB_STATE_RUNNING"), None)
        if started is not None:
            out["startTime"] = format_timestamp(started)
        if segment.state in FINAL_STATES:
            out["endTime"] = format_timestamp(segment.start_us)
        out["updateTime"] = format_timestamp(max(segment.start_us, self.create_us))
        if segment.error is not None:
            out["error"] = dict(segment.error)
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.encryption_spec is not None:
            out["encryptionSpec"] = self.encryption_spec
        if self.job_spec.get("enableWebAccess") and started is not None:
            out["webAccessUris"] = self._web_access_uris()
        return out

    def _web_access_uris(self) -> dict[str, str]:
        uris: dict[str, str] = {}
        for pool_index, pool in enumerate(self.job_spec.get("workerPoolSpecs", [])):
            if not pool:
                continue
            for replica in range(int(pool.get("replicaCount", 1))):
                node = f"workerpool{pool_index}-{replica}"
                digest = hashlib.sha256(f"{self.id}/{node}".encode()).hexdigest()[:16]
                uris[node] = f"https://{digest}-dot-{self.location}.aiplatform-training.googleusercontent.com"
        return uris


@dataclass
class _ParentIndex:
    """Jobs of one ``projects/P/locations/L``: ids ascending (ids only grow), and the jobs by id."""

    ids: list[int] = field(default_factory=list)
    jobs: dict[int, Job] = field(default_factory=dict)


def _read_mask(mask: str) -> list[list[str]]:
    paths: list[list[str]] = []
    for raw in mask.split(","):
        raw = raw.strip()
        if not raw:
            continue
        parts = [camel(p) for p in raw.split(".")]
        if parts[0] not in CUSTOM_JOB_FIELDS or not all(parts):
            raise invalid_argument(f"Invalid read_mask path {raw!r}: not a field of CustomJob.")
        paths.append(parts)
    return paths


def _masked(resource: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        source: Any = resource
        for part in path:
            if isinstance(source, list):
                raise invalid_argument(
                    f"Invalid read_mask path {'.'.join(path)!r}: it cannot reach into a repeated field."
                )
            if not isinstance(source, dict) or part not in source:
                source = None
                break
            source = source[part]
        if source is None:
            continue
        target = out
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = source
    return out


class Store:
    """All jobs and operations; one lock; states are computed from each job's timeline on read."""

    def __init__(
        self,
        time_factor: float = 1.0,
        execute: bool = False,
        log_dir: str | None = None,
        cancel_delay_s: float = CANCEL_DELAY_S,
    ) -> None:
        self.time_factor = time_factor
        self.cancel_delay_s = cancel_delay_s
        self.execute = execute
        self._lock = threading.Lock()
        self._parents: dict[str, _ParentIndex] = {}
        self._operations: dict[int, dict[str, Any]] = {}
        self._rng = random.Random()
        self._next_id = self._rng.randrange(10**18, 2 * 10**18)
        self._token_key = os.urandom(8).hex()
        self.executor: Executor | None = None
        if execute:
            if log_dir is None:
                import tempfile

                log_dir = tempfile.mkdtemp(prefix="vertex-emulator-logs-")
            self.executor = Executor(log_dir, self._is_awaiting_process, self._on_process_end)

    # -- helpers ----------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += self._rng.randint(1, 999)
        return self._next_id

    def _lookup(self, name: str) -> Job:
        project, location, job_id = parse_job_name(name)
        index = self._parents.get(f"projects/{project}/locations/{location}")
        job = index.jobs.get(job_id) if index else None
        if job is None:
            raise not_found(f'The CustomJob "{name}" does not exist.')
        return job

    # -- API --------------------------------------------------------------------------------------
    def create(self, project: str, location: str, body: Any, int_enums: bool) -> dict[str, Any]:
        valid = validate_custom_job(body)
        launch: tuple[str, int, list[str], dict[str, str], float, float | None] | None = None
        with self._lock:
            job_id = self._new_id()
            now = now_us()
            segments = build_timeline(
                valid.scenario, now, self.time_factor, project, job_id, valid.timeout_s, valid.timeout_text
            )
            job = Job(
                id=job_id,
                project=project,
                location=location,
                display_name=valid.display_name,
                job_spec=valid.job_spec,
                labels=valid.labels,
                encryption_spec=valid.encryption_spec,
                create_us=now,
                segments=segments,
                cancel_delay_s=self.cancel_delay_s if valid.cancel_delay_s is None else valid.cancel_delay_s,
            )
            argv = self._command(job)
            running = next((i for i, s in enumerate(segments) if s.state == "JOB_STATE_RUNNING"), None)
            if self.executor is not None and argv and running is not None:
                job.segments = segments[: running + 1]  # the process decides how RUNNING ends
                job.awaiting_process = True
                job.log_path = self.executor.log_path(job_id)
                timeout = valid.timeout_s * self.time_factor if valid.timeout_s is not None else None
                launch = (job.name, job_id, argv, self._process_env(job), segments[running].start_us / 1e6, timeout)
            index = self._parents.setdefault(f"projects/{project}/locations/{location}", _ParentIndex())
            index.ids.append(job_id)
            index.jobs[job_id] = job
            result = job.to_json(now, int_enums)
        if launch is not None and self.executor is not None:
            self.executor.launch(*launch)
        return result

    def get(self, name: str, int_enums: bool) -> dict[str, Any]:
        with self._lock:
            return self._lookup(name).to_json(now_us(), int_enums)

    def list(
        self,
        project: str,
        location: str,
        filter_text: str,
        page_size: int,
        page_token: str,
        read_mask: str,
        int_enums: bool,
    ) -> dict[str, Any]:
        parent = f"projects/{project}/locations/{location}"
        node = parse_filter(filter_text)
        paths = _read_mask(read_mask)
        if page_size < 0:
            raise invalid_argument("page_size must not be negative.")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        scope = hashlib.sha256(f"{self._token_key}\n{parent}\n{filter_text.strip()}".encode()).hexdigest()[:16]
        after = self._decode_token(page_token, scope) if page_token else -1
        jobs: list[dict[str, Any]] = []
        next_token = ""
        with self._lock:
            now = now_us()
            index = self._parents.get(parent) or _ParentIndex()
            position = bisect.bisect_right(index.ids, after)
            while position < len(index.ids):
                job = index.jobs[index.ids[position]]
                position += 1
                if node.matches(job, now):
                    resource = job.to_json(now, int_enums)
                    jobs.append(_masked(resource, paths) if paths else resource)
                    if len(jobs) == size:
                        if position < len(index.ids):
                            next_token = self._encode_token(scope, job.id)
                        break
        out: dict[str, Any] = {}
        if jobs:
            out["customJobs"] = jobs
        if next_token:
            out["nextPageToken"] = next_token
        return out

    def cancel(self, name: str) -> dict[str, Any]:
        with self._lock:
            job = self._lookup(name)
            now = now_us()
            state = job.state_at(now)
            if state == "JOB_STATE_CANCELLING":
                return {}
            if state in FINAL_STATES:
                raise failed_precondition(f'Cannot cancel CustomJob "{name}": it has already ended in state {state}.')
            delay = round(job.cancel_delay_s * self.time_factor * 1_000_000)
            job.replace_future(
                now,
                Segment("JOB_STATE_CANCELLING", now),
                Segment("JOB_STATE_CANCELLED", now + delay, dict(CANCELLED_ERROR)),
            )
            job.awaiting_process = False
        if self.executor is not None:
            self.executor.cancel(name)
        return {}

    def delete(self, name: str) -> dict[str, Any]:
        with self._lock:
            job = self._lookup(name)
            now = now_us()
            state = job.state_at(now)
            if state not in FINAL_STATES:
                raise failed_precondition(
                    f'Cannot delete CustomJob "{name}" in state {state}: only jobs that have ended can be '
                    "deleted; cancel it first and wait for JOB_STATE_CANCELLED."
                )
            index = self._parents[f"projects/{job.project}/locations/{job.location}"]
            del index.jobs[job.id]
            del index.ids[bisect.bisect_left(index.ids, job.id)]
            op_id = self._new_id()
            stamp = format_timestamp(now)
            operation = {
                "name": f"projects/{job.project}/locations/{job.location}/operations/{op_id}",
                "metadata": {
                    "@type": _OP_METADATA_TYPE,
                    "genericMetadata": {"createTime": stamp, "updateTime": stamp},
                },
                "done": True,
                "response": {"@type": _EMPTY_TYPE},
            }
            self._operations[op_id] = operation
            return operation

    def get_operation(self, name: str) -> dict[str, Any]:
        _, _, op_id = parse_operation_name(name)
        with self._lock:
            operation = self._operations.get(op_id)
            if operation is None or operation["name"] != name:
                raise not_found(f'Operation "{name}" does not exist.')
            return operation

    # -- admin ------------------------------------------------------------------------------------
    def set_state(self, name: str, state: str, int_enums: bool = False) -> dict[str, Any]:
        try:
            full = state_name(state)
        except ValueError as exc:
            raise invalid_argument(str(exc)) from None
        with self._lock:
            job = self._lookup(name)
            now = now_us()
            job.replace_future(now, Segment(full, now, state_error(full, job.project, job.id)))
            job.awaiting_process = False
            result = job.to_json(now, int_enums)
        if self.executor is not None:
            self.executor.cancel(name)
        return result

    def log_text(self, name: str) -> str:
        with self._lock:
            path = self._lookup(name).log_path
        if path is None or not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def reset(self) -> None:
        with self._lock:
            self._parents.clear()
            self._operations.clear()
        if self.executor is not None:
            self.executor.shutdown()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()

    def count(self) -> int:
        with self._lock:
            return sum(len(index.ids) for index in self._parents.values())

    # -- execution --------------------------------------------------------------------------------
    @staticmethod
    def _command(job: Job) -> list[str]:
        container = job.job_spec["workerPoolSpecs"][0].get("containerSpec") or {}
        command = container.get("command") or []
        args = container.get("args") or []
        if not isinstance(command, list) or not isinstance(args, list):
            return []
        return [str(part) for part in command] + [str(arg) for arg in args] if command else []

    @staticmethod
    def _process_env(job: Job) -> dict[str, str]:
        env = dict(os.environ)
        env["CLOUD_ML_JOB_ID"] = str(job.id)
        base = job.job_spec.get("baseOutputDirectory", {})
        uri = base.get("outputUriPrefix") if isinstance(base, dict) else None
        if uri:
            root = uri.rstrip("/")
            env["AIP_MODEL_DIR"] = f"{root}/model/"
            env["AIP_CHECKPOINT_DIR"] = f"{root}/checkpoints/"
            env["AIP_TENSORBOARD_LOG_DIR"] = f"{root}/logs/"
        container = job.job_spec["workerPoolSpecs"][0].get("containerSpec") or {}
        for var in container.get("env") or []:
            env[str(var.get("name", ""))] = str(var.get("value", ""))
        return env

    def _is_awaiting_process(self, name: str) -> bool:
        with self._lock:
            try:
                job = self._lookup(name)
            except ApiError:
                return False
            return job.awaiting_process and job.state_at(now_us()) == "JOB_STATE_RUNNING"

    def _on_process_end(self, name: str, outcome: Outcome) -> None:
        with self._lock:
            try:
                job = self._lookup(name)
            except ApiError:
                return
            if not job.awaiting_process or outcome.kind == "cancelled":
                return
            job.awaiting_process = False
            now = now_us()
            if outcome.kind == "exit" and outcome.code == 0:
                segment = Segment("JOB_STATE_SUCCEEDED", now)
            elif outcome.kind == "timeout":
                timeout_text = str(job.job_spec.get("scheduling", {}).get("timeout", ""))
                segment = Segment("JOB_STATE_FAILED", now, timeout_error(timeout_text))
            elif outcome.kind == "error":
                segment = Segment("JOB_STATE_FAILED", now, {"code": 13, "message": outcome.detail.strip()})
            else:
                code = outcome.code if outcome.code is not None else 1
                detail = f"Termination reason: killed by signal {-code}. " if code < 0 else ""
                segment = Segment("JOB_STATE_FAILED", now, failed_error(job.project, job.id, code, detail))
            job.replace_future(now, segment)

    # -- page tokens ------------------------------------------------------------------------------
    @staticmethod
    def _encode_token(scope: str, last_id: int) -> str:
        raw = json.dumps({"s": scope, "a": last_id}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str, scope: str) -> int:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            last_id = data["a"]
            token_scope = data["s"]
        except (ValueError, KeyError, TypeError):
            raise invalid_argument(f"Invalid page_token {token!r}.") from None
        if not isinstance(last_id, int) or token_scope != scope:
            raise invalid_argument(
                "Invalid page_token: it was issued for a different parent or filter; "
                "repeat the request with the same parent and filter, or start without a page_token."
            )
        return last_id
