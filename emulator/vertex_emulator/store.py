"""In-memory jobs of every collection: per-location indexes, lazy lifecycle, create/get/list/cancel/delete,
operations, the admin hooks.

Nothing here knows a job type: a job's collection is a :class:`~.collection.Resource` (proto type, id style, state
enum, where its scenario lives, extra output). States are computed from each job's timeline on read
(:class:`~.job.Job`); list queries are :mod:`.listing`'s, local execution (``--execute``) :mod:`.local_exec`'s.
"""

from __future__ import annotations

import os
import random
import re
import threading
from datetime import UTC, datetime
from typing import Any

from .collection import Prepared, Resource
from .custom_jobs import CUSTOM_JOBS
from .errors import ApiError, already_exists, failed_precondition, invalid_argument, not_found
from .executor import Outcome
from .gcs import ObjectWriter
from .ids import PIPELINE_JOB_ID, job_name
from .index import ParentIndex
from .job import Job
from .listing import list_page, parse_query
from .local_exec import Launch, LocalRunner, outcome_segment
from .resources import RESOURCES
from .scenario import CANCEL_DELAY_S, CANCELLED_ERROR, Segment, apply_timeout, build_timeline
from .schema import parse
from .timeutil import format_timestamp, now_us
from .validation import parse_name, parse_operation_name

_OP_METADATA_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
_EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"


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
        self._lock = threading.Lock()
        self._parents: dict[tuple[str, str], ParentIndex] = {}
        self._operations: dict[int, dict[str, Any]] = {}
        self._rng = random.Random()
        self._next_id = self._rng.randrange(10**18, 2 * 10**18)
        self._seq = 0
        self._token_key = os.urandom(8).hex()
        self.runner: LocalRunner | None = None
        self.writer = ObjectWriter()  # scripted outputs of Custom Jobs (custom_jobs.scripted_outputs)
        if execute:
            if log_dir is None:
                import tempfile

                log_dir = tempfile.mkdtemp(prefix="vertex-emulator-logs-")
            self.runner = LocalRunner(log_dir, self._is_awaiting_process, self._on_process_end)

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

    def _index(self, parent: str, resource: Resource) -> ParentIndex:
        return self._parents.setdefault((parent, resource.collection), ParentIndex())

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
        launch: Launch | None = None
        scripted: tuple[str, bytes, float | None] | None = None
        with self._lock:
            index = self._index(parent, resource)
            now = now_us()
            if job_id is not None:
                if job_id in index.by_id:
                    raise already_exists(
                        f'{resource.kind} "{job_name(project, location, resource.collection, job_id)}" already exists.'
                    )
                new_id = job_id
            elif resource.numeric_ids:
                new_id = str(self._new_id())
            else:
                new_id = self._generated_id(prepared, index, now)
            segments = build_timeline(prepared.scenario, now, self.time_factor, project, new_id, resource.state_error)
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
            if self.runner is not None and resource.runs_locally:
                launch = self.runner.plan(job, prepared.timeout_s, self.time_factor)
            outputs = job.extra.get("scripted_outputs")
            running = job.started_us(len(job.segments) - 1)
            if launch is None and outputs:
                # Written as its workload would: while it runs, so it is there when the job ends.
                scripted = (outputs[0], outputs[1], running / 1e6 if running is not None else None)
            index.add(job)
            result = job.to_json(now, int_enums)
        if launch is not None and self.runner is not None:
            self.runner.launch(launch)
        if scripted is not None:
            self.writer.schedule(job.name, *scripted)
        return result

    @staticmethod
    def _generated_id(prepared: Prepared, index: ParentIndex, now: int) -> str:
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
        query = parse_query(resource, parent, filter_text, page_size, page_token, read_mask, order_by, self._token_key)
        with self._lock:
            index = self._parents.get((parent, resource.collection)) or ParentIndex()
            return list_page(index, query, now_us(), int_enums)

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
            started = job.started_us(job.current(now)) is not None
            delay = round(job.cancel_delay_s * self.time_factor * 1_000_000)
            job.replace_future(
                now,
                Segment(resource.state("CANCELLING"), now),
                Segment(resource.state("CANCELLED"), max(now + delay, now + 1), dict(CANCELLED_ERROR)),
            )
            job.awaiting_process = False
        if not started:
            self.writer.cancel(name)  # cancelled before it ran: it wrote nothing
        if self.runner is not None:
            self.runner.cancel(name)
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
        if full in (resource.state("SUCCEEDED"), resource.state("FAILED")):
            self.writer.flush(name)  # a job set to its end wrote its scripted outputs before it ended
        else:
            self.writer.cancel(name)
        if self.runner is not None:
            self.runner.cancel(name)
        return result

    def log_text(self, name: str) -> str:
        """What the job's process wrote: its stdout, then its stderr (kept apart: logging_api.py)."""
        with self._lock:
            path = self._lookup(name).log_path
        text = ""
        for part in (path, f"{path}.err") if path else ():
            if os.path.exists(part):
                with open(part, encoding="utf-8", errors="replace") as handle:
                    text += handle.read()
        return text

    def reset(self) -> None:
        with self._lock:
            self._parents.clear()
            self._operations.clear()
        self.writer.shutdown()
        if self.runner is not None:
            self.runner.shutdown()

    def close(self) -> None:
        self.writer.shutdown()
        if self.runner is not None:
            self.runner.shutdown()

    def count(self) -> int:
        with self._lock:
            return sum(len(index.seqs) for index in self._parents.values())

    # -- the local process of a job (--execute) ---------------------------------------------------
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
            job.replace_future(now, outcome_segment(job, outcome, now))
