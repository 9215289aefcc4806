"""Cloud Logging v2 ``POST /v2/entries:list`` for the emulated jobs (what gcloud and google-cloud-logging use).

Entries as Vertex AI writes them, following the Cloud Logging v2 REST reference
(https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list,
https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry):
- Training jobs (CustomJobs, and the emulated Batch Prediction Jobs): resource ``ml_job`` with labels ``job_id``,
  ``project_id``, ``task_name``. Vertex AI's own lines (``task_name`` "service", log ``ml.googleapis.com%2FJOB_ID``)
  at each state change, with the ``ml.googleapis.com/job_state`` label (:mod:`.service_log`); the workload's lines
  (``task_name`` and log ``workerpool0-0``): with ``--execute`` the process's stdout (INFO) and stderr (ERROR),
  otherwise the lines scripted by ``VERTEX_EMULATOR_LOGS``.
- Pipeline jobs: ``aiplatform.googleapis.com/PipelineJob`` entries labelled ``pipeline_job_id`` in the log
  ``aiplatform.googleapis.com%2Fpipeline_job_events`` with ``jsonPayload.state``
  (https://cloud.google.com/vertex-ai/docs/pipelines/logging).

The filter is the subset of the Logging query language those clients send (:mod:`.log_filter`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import invalid_argument
from .ids import KINDS, PIPELINE_JOBS
from .log_filter import parse_log_filter
from .service_log import STATE_LABEL, service_line
from .states import JOB_FINAL, PIPELINE_FINAL
from .timeutil import format_timestamp, now_us, parse_timestamp

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

_SUCCESS_STATES = {"JOB_STATE_SUCCEEDED", "PIPELINE_STATE_SUCCEEDED"}
_QUIET_END_STATES = {"JOB_STATE_CANCELLED", "PIPELINE_STATE_CANCELLED"}
_END_STATES = JOB_FINAL | PIPELINE_FINAL


# -- what the log needs from a job ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Transition:
    start_us: int
    state: str
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobRecord:
    """A job as the log sees it: its name, when it was created, the states it has been in so far."""

    name: str  # projects/P/locations/L/<collection>/ID
    create_us: int
    transitions: tuple[Transition, ...]
    log_path: str | None = None
    scripted: tuple[tuple[str, str], ...] = ()  # VERTEX_EMULATOR_LOGS: (severity, text)
    source: Any = field(default=None, compare=False, repr=False)  # the stored job (a pipeline's tasks)

    @property
    def parts(self) -> list[str]:
        return self.name.split("/")

    @property
    def project(self) -> str:
        return self.parts[1]

    @property
    def collection(self) -> str:
        return self.parts[4]

    @property
    def job_id(self) -> str:
        return self.parts[5]


def job_records(store: Any, project: str) -> list[JobRecord]:
    """The jobs of ``project`` (every collection) with their state history up to now, from the store's
    ``log_records(project, now_us)`` hook (objects with ``name``, ``create_us``, ``segments`` of ``state`` /
    ``start_us`` / ``error``, and ``log_path``)."""
    now = now_us()
    return [_record(r, now) for r in store.log_records(project, now)]


def _record(job: Any, now: int) -> JobRecord:
    segments = getattr(job, "segments", None) or []
    transitions = tuple(
        Transition(int(s.start_us), str(s.state), dict(s.error) if getattr(s, "error", None) else None)
        for s in segments
        if int(s.start_us) <= now
    )
    create_us = int(getattr(job, "create_us", transitions[0].start_us if transitions else now))
    scripted = tuple((getattr(job, "extra", None) or {}).get("scripted_logs") or ())
    return JobRecord(str(job.name), create_us, transitions, getattr(job, "log_path", None), scripted, job)


# -- entries --------------------------------------------------------------------------------------------------
@dataclass
class _ProcessLog:
    offset: int = 0
    lines: list[tuple[int, str]] = field(default_factory=list)


class JobLogs:
    """Builds the LogEntry list of a project's jobs; remembers when each process line was first seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: dict[str, _ProcessLog] = {}

    def reset(self) -> None:
        with self._lock:
            self._process.clear()

    def entries(self, records: Iterable[JobRecord]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for record in records:
            if record.collection == PIPELINE_JOBS:
                out.extend(self._pipeline_events(record))
                out.extend(_task_job_lines(record))
            else:
                out.extend(self._service_lines(record))
            out.extend(self._scripted_lines(record))
            out.extend(self._process_lines(record))
        return out

    @staticmethod
    def _service_lines(record: JobRecord) -> list[dict[str, Any]]:
        """Vertex AI's own lines: one per state the job entered, the failure's wording last."""
        entries = []
        for number, transition in enumerate(record.transitions):
            line = service_line(transition.state, transition.error)
            if line is not None:
                severity, text, label = line
                entries.append(_service_entry(record, number, transition.start_us, severity, text, label))
        return entries

    @staticmethod
    def _pipeline_events(record: JobRecord) -> list[dict[str, Any]]:
        kind = KINDS.get(record.collection, "Job")
        entries: list[dict[str, Any]] = []
        first = record.transitions[0].state if record.transitions else "PIPELINE_STATE_PENDING"
        entries.append(_event_entry(record, 0, record.create_us, "INFO", f'{kind} "{record.name}" was created.', first))
        for number, transition in enumerate(record.transitions[1:], start=1):
            severity = "ERROR" if transition.error and transition.state not in _QUIET_END_STATES else "INFO"
            message = f"{kind} state changed to {transition.state}."
            entries.append(_event_entry(record, number, transition.start_us, severity, message, transition.state))
        if record.transitions and record.transitions[-1].state in _END_STATES:
            last = record.transitions[-1]
            if last.state in _SUCCESS_STATES:
                severity, message = "INFO", f"{kind} completed successfully."
            elif last.state in _QUIET_END_STATES:
                severity, message = "INFO", f"{kind} was cancelled."
            else:
                detail = (last.error or {}).get("message", "")
                severity, message = "ERROR", f"{kind} failed. {detail}".strip()
            entries.append(_event_entry(record, 9999, last.start_us, severity, message, last.state))
        return entries

    @staticmethod
    def _scripted_lines(record: JobRecord) -> list[dict[str, Any]]:
        """VERTEX_EMULATOR_LOGS, written when the job starts running (or just before it ended, if it never ran)."""
        if not record.scripted or record.collection == PIPELINE_JOBS or not record.transitions:
            return []
        running = next((t.start_us for t in record.transitions if t.state.endswith("_RUNNING")), None)
        last = record.transitions[-1]
        if running is None and last.state not in _END_STATES:
            return []
        anchor = running if running is not None else last.start_us - len(record.scripted) - 1
        return [
            _workload_entry(record, f"w{i:06d}", anchor + i + 1, severity, text)
            for i, (severity, text) in enumerate(record.scripted)
        ]

    def _process_lines(self, record: JobRecord) -> list[dict[str, Any]]:
        """With --execute: the process's stdout (INFO) and stderr (``<log>.err``, ERROR), line by line."""
        if not record.log_path:
            return []
        ended = bool(record.transitions) and record.transitions[-1].state in _END_STATES
        out = []
        for path, severity, tag in ((record.log_path, "INFO", "p"), (record.log_path + ".err", "ERROR", "e")):
            with self._lock:
                cache = self._process.setdefault(f"{record.name}#{tag}", _ProcessLog())
                self._read_new_lines(cache, path, record, ended)
                lines = list(cache.lines)
            out += [
                _workload_entry(record, f"{tag}{n:06d}", stamp, severity, text) for n, (stamp, text) in enumerate(lines)
            ]
        return out

    @staticmethod
    def _read_new_lines(cache: _ProcessLog, path: str, record: JobRecord, ended: bool) -> None:
        try:
            with open(path, "rb") as handle:
                mtime_us = os.fstat(handle.fileno()).st_mtime_ns // 1000
                handle.seek(cache.offset)
                data = handle.read()
        except OSError:
            return
        if not ended:  # an unfinished last line waits for its newline (or for the job to end)
            data = data[: data.rfind(b"\n") + 1]
        if not data:
            return
        cache.offset += len(data)
        # The executor writes the process's output straight to a file, so a line's time is the file's
        # modification time when it was first read here (never before the job started, never going backwards).
        running = next((t.start_us for t in record.transitions if t.state.endswith("_RUNNING")), record.create_us)
        floor = max(running, cache.lines[-1][0] if cache.lines else 0)
        stamp = max(mtime_us, floor)
        if ended:
            stamp = min(stamp, max(record.transitions[-1].start_us, floor))
        for line in data.decode("utf-8", errors="replace").splitlines():
            cache.lines.append((stamp, line))


def _task_job_lines(record: JobRecord) -> list[dict[str, Any]]:
    """A pipeline's container tasks run as CustomJobs (``executorDetail.containerDetail.mainJob``,
    :mod:`.pipeline_detail`), which write their logs as any CustomJob: Vertex AI's lines when the task runs and ends
    (a failed task's last line is its error), and the pipeline's ``VERTEX_EMULATOR_LOGS`` as the workload lines of
    its failing task (of its first task when it does not fail)."""
    from . import pipeline_detail

    job = record.source
    running = next((t.start_us for t in record.transitions if t.state.endswith("_RUNNING")), None)
    if job is None or not record.transitions:
        return []
    last = record.transitions[-1]
    tasks = [t for t in job.extra.get("tasks") or [] if not t.dag]
    states = pipeline_detail.task_states(last.state, tasks, job.extra.get("fail_task"))
    scripted_task = pipeline_detail.failing_task(job) if last.state.endswith("FAILED") else (tasks or [None])[0]
    out: list[dict[str, Any]] = []
    for task in tasks:
        state = states.get(task.name, "PENDING")
        if state in ("PENDING", "NOT_TRIGGERED"):
            continue
        start = running if running is not None else last.start_us - len(record.scripted) - 2
        task_record = JobRecord(pipeline_detail.custom_job_of(job, task.name), start, ())
        out.append(_service_entry(task_record, 0, start, "INFO", "Job is running.", "RUNNING"))
        if scripted_task is not None and task.name == getattr(scripted_task, "name", scripted_task):
            out += [
                _workload_entry(task_record, f"w{i:06d}", start + i + 1, severity, text)
                for i, (severity, text) in enumerate(record.scripted)
            ]
        end = {
            "SUCCEEDED": ("INFO", "Job completed successfully.", "SUCCEEDED"),
            "CANCELLED": ("INFO", "Job was cancelled.", "CANCELLED"),
            "FAILED": ("ERROR", _task_error(job, task.name), "FAILED"),
        }.get(state)
        if end is not None and last.state in _END_STATES:
            out.append(_service_entry(task_record, 1, last.start_us, *end))
    return out


def _task_error(job: Any, task: str) -> str:
    from .custom_jobs import failed_error
    from .pipeline_detail import custom_job_of

    return str(failed_error(job.project, custom_job_of(job, task).rsplit("/", 1)[-1])["message"])


def _resource(record: JobRecord, task_name: str) -> dict[str, Any]:
    if record.collection == PIPELINE_JOBS:
        labels = {"pipeline_job_id": record.job_id, "location": record.parts[3], "project_id": record.project}
        return {"type": "aiplatform.googleapis.com/PipelineJob", "labels": labels}
    return {"type": "ml_job", "labels": {"job_id": record.job_id, "project_id": record.project, "task_name": task_name}}


def _service_entry(
    record: JobRecord, number: int, stamp: int, severity: str, text: str, job_state: str
) -> dict[str, Any]:
    """One of Vertex AI's own lines of a training job (a textPayload, the job_state label on state lines)."""
    return {
        "logName": f"projects/{record.project}/logs/ml.googleapis.com%2F{record.job_id}",
        "resource": _resource(record, "service"),
        "timestamp": format_timestamp(stamp),
        "receiveTimestamp": format_timestamp(stamp),
        "severity": severity,
        "insertId": f"{record.job_id}-s{number:04d}",
        "labels": {"ml.googleapis.com/endpoint": "", STATE_LABEL: job_state},
        "textPayload": text,
    }


def _event_entry(record: JobRecord, number: int, stamp: int, severity: str, message: str, state: str) -> dict[str, Any]:
    """A pipeline_job_events entry of a PipelineJob."""
    return {
        "logName": f"projects/{record.project}/logs/aiplatform.googleapis.com%2Fpipeline_job_events",
        "resource": _resource(record, "service"),
        "timestamp": format_timestamp(stamp),
        "receiveTimestamp": format_timestamp(stamp),
        "severity": severity,
        "insertId": f"{record.job_id}-s{number:04d}",
        "jsonPayload": {"message": message, "state": state, "job": record.name},
    }


def _workload_entry(record: JobRecord, suffix: str, stamp: int, severity: str, text: str) -> dict[str, Any]:
    return {
        "logName": f"projects/{record.project}/logs/workerpool0-0",
        "resource": _resource(record, "workerpool0-0"),
        "timestamp": format_timestamp(stamp),
        "receiveTimestamp": format_timestamp(stamp),
        "severity": severity,
        "insertId": f"{record.job_id}-{suffix}",
        "textPayload": text,
    }


# -- the method -----------------------------------------------------------------------------------------------
_REQUEST_FIELDS = {"resourceNames", "resource_names", "projectIds", "project_ids", "filter", "orderBy", "order_by"}
_REQUEST_FIELDS |= {"pageSize", "page_size", "pageToken", "page_token"}
_RESOURCE_NAME = re.compile(r"^projects/([^/]+)(?:/locations/[^/]+/buckets/[^/]+(?:/views/[^/]+)?)?$")


def list_entries(store: Any, logs: JobLogs, request: Any) -> dict[str, Any]:
    """``entries.list``: the body as the v2 REST reference defines it; answers ``{entries, nextPageToken}``."""
    if not isinstance(request, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object (ListLogEntriesRequest).")
    for key in request:
        if key not in _REQUEST_FIELDS:
            raise invalid_argument(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    names = request.get("resourceNames", request.get("resource_names", []))
    ids = request.get("projectIds", request.get("project_ids", []))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise invalid_argument("Invalid value at 'resource_names' (TYPE_STRING): expected a list of strings.")
    if not isinstance(ids, list) or not all(isinstance(n, str) for n in ids):
        raise invalid_argument("Invalid value at 'project_ids' (TYPE_STRING): expected a list of strings.")
    projects: list[str] = list(ids)
    for name in names:
        match = _RESOURCE_NAME.match(name)
        if not match:
            raise invalid_argument(
                f'Invalid resource name "{name}": the emulator serves projects/PROJECT_ID '
                "(and projects/PROJECT_ID/locations/L/buckets/B/views/V)."
            )
        projects.append(match.group(1))
    if not projects:
        raise invalid_argument("Request must contain at least one resource name in resource_names.")
    filter_text = request.get("filter", "")
    order_by = request.get("orderBy", request.get("order_by", "")) or "timestamp asc"
    page_size = request.get("pageSize", request.get("page_size", 0)) or 0
    token = request.get("pageToken", request.get("page_token", "")) or ""
    if not isinstance(filter_text, str):
        raise invalid_argument("Invalid value at 'filter' (TYPE_STRING).")
    if not isinstance(token, str):
        raise invalid_argument("Invalid value at 'page_token' (TYPE_STRING).")
    try:
        page_size = int(page_size)
    except (TypeError, ValueError):
        raise invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), {page_size!r}") from None
    if page_size < 0:
        raise invalid_argument("page_size must not be negative.")
    normalized = " ".join(str(order_by).lower().split())
    if normalized not in ("timestamp asc", "timestamp desc", "timestamp"):
        raise invalid_argument(f'Invalid orderBy "{order_by}": only "timestamp asc" and "timestamp desc" are allowed.')
    descending = normalized == "timestamp desc"
    predicate = parse_log_filter(filter_text)

    entries: list[dict[str, Any]] = []
    for project in dict.fromkeys(projects):
        entries.extend(e for e in logs.entries(job_records(store, project)) if predicate(e))
    entries.sort(key=lambda e: (parse_timestamp(e["timestamp"]), e["insertId"]), reverse=descending)

    scope = hashlib.sha256(json.dumps([sorted(set(projects)), filter_text, normalized]).encode()).hexdigest()[:16]
    start = _decode_token(token, scope) if token else 0
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    page = entries[start : start + size]
    out: dict[str, Any] = {}
    if page:
        out["entries"] = page
    if start + size < len(entries):
        out["nextPageToken"] = _encode_token(scope, start + size)
    return out


def _encode_token(scope: str, offset: int) -> str:
    raw = json.dumps({"s": scope, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, scope: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
        offset, token_scope = data["o"], data["s"]
    except (ValueError, KeyError, TypeError):
        raise invalid_argument(f"Invalid page_token {token!r}.") from None
    if not isinstance(offset, int) or offset < 0 or token_scope != scope:
        raise invalid_argument("Invalid page_token: it was issued for a different request.")
    return offset
