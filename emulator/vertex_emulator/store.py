"""In-memory jobs of every collection: per-location indexes, lazy lifecycle, list pages, operations.

Nothing here knows a job type: a job's collection is a :class:`~.resources.Resource` (proto type, id style, state
enum, where its scenario lives, extra output). States are computed from each job's timeline on read.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import os
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from .errors import ApiError, already_exists, failed_precondition, invalid_argument, not_found
from .executor import Executor, Outcome
from .filters import label_candidates, parse_filter
from .resources import CUSTOM_JOBS, PIPELINE_JOB_ID, RESOURCES, Prepared, Resource, tidy_numbers
from .scenario import (
    CANCEL_DELAY_S,
    CANCELLED_ERROR,
    Segment,
    apply_timeout,
    build_timeline,
    failed_error,
    timeout_error,
)
from .schema import field_paths, parse, render
from .timeutil import format_timestamp, now_us
from .validation import parse_name, parse_operation_name

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
_OP_METADATA_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
_EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"


@dataclass(eq=False, slots=True)
class Job:
    resource: Resource
    seq: int  # creation order across the emulator (list order and page tokens)
    id: str
    project: str
    location: str
    message: Message  # the validated create body (output-only fields cleared), as the proto
    display_name: str
    labels: dict[str, str]
    create_us: int
    segments: list[Segment]
    filter_values: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    cancel_delay_s: float = CANCEL_DELAY_S
    awaiting_process: bool = False
    log_path: str | None = None
    static: dict[bool, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/{self.resource.collection}/{self.id}"

    @property
    def collection(self) -> str:
        return self.resource.collection

    def current(self, now: int) -> int:
        """Index of the segment in effect at ``now``."""
        index = len(self.segments) - 1
        while index > 0 and self.segments[index].start_us > now:
            index -= 1
        return index

    def state_at(self, now_us: int) -> str:
        return self.segments[self.current(now_us)].state

    def started_us(self, index: int) -> int | None:
        running = self.resource.state("RUNNING")
        return next((s.start_us for s in self.segments[: index + 1] if s.state == running), None)

    def update_us(self, now: int) -> int:
        return max(self.segments[self.current(now)].start_us, self.create_us)

    def end_us(self, now: int) -> int | None:
        segment = self.segments[self.current(now)]
        return segment.start_us if segment.state in self.resource.final_states else None

    def field_value(self, name: str, now: int) -> Any:
        """A value for list filters and ``orderBy``."""
        if name == "display_name":
            return self.display_name
        if name == "state":
            return self.state_at(now)
        if name == "create_time":
            return self.create_us
        if name == "update_time":
            return self.update_us(now)
        if name == "end_time":
            return self.end_us(now)
        if name == "start_time":
            return self.started_us(self.current(now))
        return self.filter_values.get(name)

    def replace_future(self, now: int, *new: Segment) -> None:
        """Drop what had not happened yet at ``now`` and continue with ``new``."""
        self.segments = [s for s in self.segments if s.start_us <= now] + list(new)

    def _static(self, int_enums: bool) -> dict[str, Any]:
        cached = self.static.get(int_enums)
        if cached is None:
            cached = tidy_numbers(render(self.message, int_enums))
            self.static[int_enums] = cached
        return cached

    def to_json(self, now: int, int_enums: bool, detail: bool = True) -> dict[str, Any]:
        """The resource as Vertex AI returns it (``detail``: GET; list omits GET-only fields such as jobDetail)."""
        index = self.current(now)
        segment = self.segments[index]
        out: dict[str, Any] = {"name": self.name, **self._static(int_enums)}
        out["state"] = self.resource.states[segment.state] if int_enums else segment.state
        out["createTime"] = format_timestamp(self.create_us)
        started = self.started_us(index)
        if started is not None:
            out["startTime"] = format_timestamp(started)
        if segment.state in self.resource.final_states:
            out["endTime"] = format_timestamp(segment.start_us)
        out["updateTime"] = format_timestamp(max(segment.start_us, self.create_us))
        if segment.error is not None:
            out["error"] = dict(segment.error)
        self.resource.decorate(self, out, index, now, int_enums, detail)
        return out


@dataclass
class _ParentIndex:
    """Jobs of one collection in one ``projects/P/locations/L``: creation sequence ascending, and by id."""

    seqs: list[int] = field(default_factory=list)
    jobs: dict[int, Job] = field(default_factory=dict)
    by_id: dict[str, Job] = field(default_factory=dict)
    # label key -> value -> creation sequences: a list filtered by label equalities (the connector's shard and
    # request labels) looks at the jobs carrying them only, instead of every job of the parent on every page.
    by_label: dict[str, dict[str, set[int]]] = field(default_factory=dict)

    def add(self, job: Job) -> None:
        self.seqs.append(job.seq)
        self.jobs[job.seq] = job
        self.by_id[job.id] = job
        for key, value in job.labels.items():
            self.by_label.setdefault(key, {}).setdefault(value, set()).add(job.seq)

    def remove(self, job: Job) -> None:
        del self.jobs[job.seq]
        del self.by_id[job.id]
        del self.seqs[bisect.bisect_left(self.seqs, job.seq)]
        for key, value in job.labels.items():
            self.by_label.get(key, {}).get(value, set()).discard(job.seq)

    def candidates(self, choices: list[tuple[str, frozenset[str]]]) -> list[int] | None:
        """Creation sequences, ascending, of the jobs whose label `key` has one of `values`, for the (key, values)
        of `choices` that selects the fewest jobs; None without a choice (every job is a candidate)."""
        if not choices:
            return None

        def size(choice: tuple[str, frozenset[str]]) -> int:  # a job has one value per key: the sets are disjoint
            by_value = self.by_label.get(choice[0], {})
            return sum(len(by_value.get(value, ())) for value in choice[1])

        key, values = min(choices, key=size)
        by_value = self.by_label.get(key, {})
        best: set[int] = set()
        for value in values:
            best |= by_value.get(value, set())
        return sorted(best)


def _read_mask(mask: str, resource: Resource) -> list[list[str]]:
    """Read-mask paths as JSON names, each checked at every depth against the resource's message type."""
    paths: list[list[str]] = []
    for raw in mask.split(","):
        raw = raw.strip()
        if not raw:
            continue
        try:
            fields = field_paths(resource.message_class.DESCRIPTOR, raw)
        except ValueError:
            raise invalid_argument(
                f"Invalid read_mask path {raw!r}: not a field of {resource.kind} (a path may not reach into a "
                "repeated or map field)."
            ) from None
        paths.append([f.json_name for f in fields])
    return paths


def _masked(resource: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        source: Any = resource
        for part in path:
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


_ORDER_ITEM = re.compile(r"^\s*([A-Za-z_]+)(?:\s+(asc|desc))?\s*$")


def _parse_order_by(text: str, resource: Resource) -> list[tuple[str, bool]]:
    """``"create_time desc, end_time"`` -> [(field, descending), ...]."""
    if not text.strip():
        return []
    if not resource.order_fields:
        raise invalid_argument(f"order_by is not supported for {resource.collection}.")
    aliases = {f: f for f in resource.order_fields}
    aliases.update({"".join(p[:1].upper() + p[1:] if i else p for i, p in enumerate(f.split("_"))): f for f in aliases})
    out: list[tuple[str, bool]] = []
    for item in text.split(","):
        match = _ORDER_ITEM.match(item)
        name = aliases.get(match.group(1)) if match else None
        if match is None or name is None:
            raise invalid_argument(
                f"Invalid order_by {text!r}: supported fields are {', '.join(resource.order_fields)}, "
                'each optionally followed by " desc".'
            )
        out.append((name, match.group(2) == "desc"))
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
        self._parents: dict[tuple[str, str], _ParentIndex] = {}
        self._operations: dict[int, dict[str, Any]] = {}
        self._rng = random.Random()
        self._next_id = self._rng.randrange(10**18, 2 * 10**18)
        self._seq = 0
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

    @staticmethod
    def resource_of(name: str) -> Resource:
        parts = name.split("/")
        resource = RESOURCES.get(parts[4]) if len(parts) == 6 else None
        if resource is None:
            raise invalid_argument(f"Invalid job resource name {name!r}.")
        return resource

    def _lookup(self, name: str, resource: Resource | None = None) -> Job:
        resource = resource or self.resource_of(name)
        project, location, job_id = parse_name(name, resource)
        index = self._parents.get((f"projects/{project}/locations/{location}", resource.collection))
        job = index.by_id.get(job_id) if index else None
        if job is None:
            raise not_found(f'The {resource.kind} "{name}" does not exist.')
        return job

    def _index(self, parent: str, resource: Resource) -> _ParentIndex:
        return self._parents.setdefault((parent, resource.collection), _ParentIndex())

    def jobs(self) -> Iterator[Job]:
        """Every job (a snapshot; for read-only consumers such as the logging API)."""
        with self._lock:
            snapshot = [job for index in self._parents.values() for job in index.jobs.values()]
        yield from snapshot

    def find(self, name: str) -> Job | None:
        """The job named ``name`` or None (for read-only consumers)."""
        with self._lock:
            try:
                return self._lookup(name)
            except ApiError:
                return None

    # -- API --------------------------------------------------------------------------------------
    def create(
        self,
        project: str,
        location: str,
        body: Any,
        int_enums: bool,
        resource: Resource = CUSTOM_JOBS,
        job_id: str | None = None,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid_argument(f"Invalid JSON payload received: the body must be a {resource.kind} object.")
        if job_id is not None and not PIPELINE_JOB_ID.match(job_id):
            raise invalid_argument(
                f"Invalid {resource.root}_id {job_id!r}: it must match [a-z0-9][a-z0-9-]{{0,127}} "
                "(lowercase letters, digits and hyphens, starting with a letter or digit, at most 128 characters)."
            )
        prepared: Prepared = resource.prepare(parse(body, resource.message_class, resource.root), project, location)
        parent = f"projects/{project}/locations/{location}"
        launch: tuple[str, str, list[str], dict[str, str], float, float | None] | None = None
        with self._lock:
            index = self._index(parent, resource)
            now = now_us()
            if job_id is not None:
                if job_id in index.by_id:
                    name = f"{parent}/{resource.collection}/{job_id}"
                    raise already_exists(f'{resource.kind} "{name}" already exists.')
                new_id = job_id
            elif resource.numeric_ids:
                new_id = str(self._new_id())
            else:
                new_id = self._generated_id(prepared, index, now)
            segments = build_timeline(
                prepared.scenario,
                now,
                self.time_factor,
                project,
                new_id,
                None,
                "",
                resource,
            )
            if prepared.timeout_s is not None:
                segments = apply_timeout(segments, prepared.timeout_s, self.time_factor, prepared.timeout_text)
            self._seq += 1
            job = Job(
                resource=resource,
                seq=self._seq,
                id=new_id,
                project=project,
                location=location,
                message=prepared.message,
                display_name=prepared.display_name,
                labels=prepared.labels,
                create_us=now,
                segments=segments,
                filter_values=prepared.filter_values,
                extra=prepared.extra,
                cancel_delay_s=self.cancel_delay_s if prepared.cancel_delay_s is None else prepared.cancel_delay_s,
            )
            if resource is CUSTOM_JOBS:
                job.extra["timeout_text"] = prepared.timeout_text
                argv = self._command(job)
                running = next((i for i, s in enumerate(segments) if s.state == "JOB_STATE_RUNNING"), None)
                if self.executor is not None and argv and running is not None:
                    job.segments = segments[: running + 1]  # the process decides how RUNNING ends
                    job.awaiting_process = True
                    job.log_path = self.executor.log_path(int(new_id))
                    timeout = prepared.timeout_s * self.time_factor if prepared.timeout_s is not None else None
                    start_at = segments[running].start_us / 1e6
                    launch = (job.name, new_id, argv, self._process_env(job), start_at, timeout)
            index.add(job)
            result = job.to_json(now, int_enums)
        if launch is not None and self.executor is not None:
            name, exec_id, argv, env, start_at, timeout = launch
            self.executor.launch(name, int(exec_id), argv, env, start_at, timeout)
        return result

    @staticmethod
    def _generated_id(prepared: Prepared, index: _ParentIndex, now: int) -> str:
        """``<pipeline name>-<yyyymmddhhmmss>`` as Vertex AI assigns a PipelineJob id when none is given."""
        base = re.sub(r"[^a-z0-9-]+", "-", str(prepared.filter_values.get("pipeline_name") or "pipeline").lower())
        base = base.strip("-")[:100] or "pipeline"
        stamp = datetime.fromtimestamp(now / 1e6, UTC).strftime("%Y%m%d%H%M%S")
        candidate = f"{base}-{stamp}"
        suffix = 1
        while candidate in index.by_id:
            suffix += 1
            candidate = f"{base}-{stamp}-{suffix}"
        return candidate

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
        resource: Resource = CUSTOM_JOBS,
        order_by: str = "",
    ) -> dict[str, Any]:
        parent = f"projects/{project}/locations/{location}"
        node = parse_filter(filter_text, resource.filter_fields, resource.state_names, resource.filter_example)
        paths = _read_mask(read_mask, resource)
        order = _parse_order_by(order_by, resource)
        if page_size < 0:
            raise invalid_argument("page_size must not be negative.")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        scope_text = f"{self._token_key}\n{parent}\n{resource.collection}\n{filter_text.strip()}\n{order_by.strip()}"
        scope = hashlib.sha256(scope_text.encode()).hexdigest()[:16]
        after = self._decode_token(page_token, scope) if page_token else None
        jobs: list[dict[str, Any]] = []
        more = False
        last_key: list[int] = []
        with self._lock:
            now = now_us()
            index = self._parents.get((parent, resource.collection)) or _ParentIndex()
            seqs = index.candidates(label_candidates(node))
            for job, key in self._ordered(index, order, resource.newest_first, after, now, seqs):
                if not node.matches(job, now):
                    continue
                if len(jobs) == size:
                    more = True
                    break
                resource_json = job.to_json(now, int_enums, detail=False)
                jobs.append(_masked(resource_json, paths) if paths else resource_json)
                last_key = key
        out: dict[str, Any] = {}
        if jobs:
            out[resource.list_field] = jobs
        if more:
            out["nextPageToken"] = self._encode_token(scope, last_key)
        return out

    @staticmethod
    def _ordered(
        index: _ParentIndex,
        order: list[tuple[str, bool]],
        newest_first: bool,
        after: list[int] | None,
        now: int,
        candidates: list[int] | None = None,
    ) -> Iterator[tuple[Job, list[int]]]:
        """Jobs in list order after the page token's position, each with its sort key; only `candidates`
        (ascending creation sequences) when given."""
        if not order:
            seqs = index.seqs if candidates is None else candidates
            if newest_first:
                stop = bisect.bisect_left(seqs, -after[0]) if after else len(seqs)
                for position in range(stop - 1, -1, -1):
                    yield index.jobs[seqs[position]], [-seqs[position]]
            else:
                start = bisect.bisect_right(seqs, after[0]) if after else 0
                for position in range(start, len(seqs)):
                    yield index.jobs[seqs[position]], [seqs[position]]
            return
        keyed: list[tuple[list[int], Job]] = []
        for job in index.jobs.values() if candidates is None else (index.jobs[seq] for seq in candidates):
            key: list[int] = []
            for name, descending in order:
                value = job.field_value(name, now)
                number = -1 if value is None else int(value)  # unset times sort first
                key.append(-number if descending else number)
            key.append(-job.seq if newest_first else job.seq)
            if after is None or key > after:
                keyed.append((key, job))
        keyed.sort(key=lambda item: item[0])
        for key, job in keyed:
            yield job, key

    def cancel(self, name: str) -> dict[str, Any]:
        resource = self.resource_of(name)
        with self._lock:
            job = self._lookup(name, resource)
            now = now_us()
            state = job.state_at(now)
            if state == resource.state("CANCELLING"):
                return {}
            if state in resource.final_states:
                raise failed_precondition(
                    f'Cannot cancel {resource.kind} "{name}": it has already ended in state {state}.'
                )
            delay = round(job.cancel_delay_s * self.time_factor * 1_000_000)
            job.replace_future(
                now,
                Segment(resource.state("CANCELLING"), now),
                Segment(resource.state("CANCELLED"), max(now + delay, now + 1), dict(CANCELLED_ERROR)),
            )
            job.awaiting_process = False
        if self.executor is not None:
            self.executor.cancel(name)
        return {}

    def delete(self, name: str) -> dict[str, Any]:
        resource = self.resource_of(name)
        with self._lock:
            job = self._lookup(name, resource)
            now = now_us()
            state = job.state_at(now)
            if state not in resource.final_states:
                raise failed_precondition(
                    f'Cannot delete {resource.kind} "{name}" in state {state}: only jobs that have ended can be '
                    f"deleted; cancel it first and wait for {resource.state('CANCELLED')}."
                )
            index = self._parents[(f"projects/{job.project}/locations/{job.location}", resource.collection)]
            index.remove(job)
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

    def list_operations(self) -> list[dict[str, Any]]:
        """Every operation (a snapshot, in creation order; the hook the operations list API uses)."""
        with self._lock:
            return [dict(self._operations[key]) for key in sorted(self._operations)]

    def log_records(self, project: str, now: int) -> list[Job]:
        """Jobs of ``project`` of every collection (the hook the logging API uses; it reads ``name``,
        ``create_us``, ``segments`` and ``log_path``)."""
        prefix = f"projects/{project}/"
        with self._lock:
            return [
                job
                for (parent, _), index in self._parents.items()
                if parent.startswith(prefix)
                for job in index.jobs.values()
            ]

    # -- admin ------------------------------------------------------------------------------------
    def set_state(self, name: str, state: str, int_enums: bool = False) -> dict[str, Any]:
        resource = self.resource_of(name)
        try:
            full = resource.state_name(state)
        except ValueError as exc:
            raise invalid_argument(str(exc)) from None
        with self._lock:
            job = self._lookup(name, resource)
            now = now_us()
            if job.segments[job.current(now)].start_us >= now:
                now = job.segments[job.current(now)].start_us + 1  # update_time moves on every state change
            job.replace_future(now, Segment(full, now, resource.state_error(full, job.project, job.id)))
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
            return sum(len(index.seqs) for index in self._parents.values())

    # -- execution (customJobs with --execute) ----------------------------------------------------
    @staticmethod
    def _spec(job: Job) -> dict[str, Any]:
        return job._static(False).get("jobSpec") or {}

    @classmethod
    def _command(cls, job: Job) -> list[str]:
        pools = cls._spec(job).get("workerPoolSpecs") or [{}]
        container = pools[0].get("containerSpec") or {}
        command = container.get("command") or []
        args = container.get("args") or []
        return [str(part) for part in command] + [str(arg) for arg in args] if command else []

    @classmethod
    def _process_env(cls, job: Job) -> dict[str, str]:
        env = dict(os.environ)
        env["CLOUD_ML_JOB_ID"] = str(job.id)
        spec = cls._spec(job)
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
                segment = Segment("JOB_STATE_FAILED", now, timeout_error(str(job.extra.get("timeout_text", ""))))
            elif outcome.kind == "error":
                segment = Segment("JOB_STATE_FAILED", now, {"code": 13, "message": outcome.detail.strip()})
            else:
                code = outcome.code if outcome.code is not None else 1
                detail = f"Termination reason: killed by signal {-code}. " if code < 0 else ""
                segment = Segment("JOB_STATE_FAILED", now, failed_error(job.project, job.id, code, detail))
            job.replace_future(now, segment)

    # -- page tokens ------------------------------------------------------------------------------
    @staticmethod
    def _encode_token(scope: str, key: list[int]) -> str:
        raw = json.dumps({"s": scope, "k": key}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str, scope: str) -> list[int]:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            key = data["k"]
            token_scope = data["s"]
        except (ValueError, KeyError, TypeError):
            raise invalid_argument(f"Invalid page_token {token!r}.") from None
        if not isinstance(key, list) or not all(isinstance(k, int) for k in key) or not key:
            raise invalid_argument(f"Invalid page_token {token!r}.")
        if token_scope != scope:
            raise invalid_argument(
                "Invalid page_token: it was issued for a different parent, filter or order; "
                "repeat the request with the same parent and filter, or start without a page_token."
            )
        return key
