"""`diagnostics` of a run that ended Failed: what failed and where, its last log lines, a Logs Explorer link, a hint.

    {"summary": "<one line>", "failedTasks": [...], "logTail": [{"time", "severity", "source", "text"}],
     "logsUrl": "https://console.cloud.google.com/logs/query;query=...?project=P", "hint": "<cause and fix>" | null}

Which logs belong to a job, and what its failed tasks are, differs by job type and is asked of the job's kind
(`JobKind.log_filter`, `log_sources`, `failed_tasks`, `failure_lines`). This module turns Cloud Logging entries
(the v2 `LogEntry` REST JSON: https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry) into lines,
picks the tail, and assembles the rest. `logTail` is absent while the logs could not be read yet (over the read
budget, or Cloud Logging failed): the poller reads them on a later tick. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import quote

from . import hints, kinds
from .names import JobResourceName
from .shape import as_dict

if TYPE_CHECKING:
    from .kinds.base import JobKind

TAIL_LINES = 20
LINE_CHARS = 1000
SUMMARY_CHARS = 300
# Cloud Logging's LogSeverity, by level (https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry).
SEVERITY_LEVEL = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}
ERROR_LEVEL = SEVERITY_LEVEL["ERROR"]
# Vertex AI's own lines: task_name "service" on ml_job entries; the pipeline's events are "pipeline".
SERVICE_SOURCES = frozenset({"service", "pipeline", "vertex-ai"})
# Resource labels that name the job an entry belongs to: ml_job's job_id, the PipelineJob resource's
# pipeline_job_id (https://cloud.google.com/vertex-ai/docs/pipelines/logging).
ID_LABELS = ("job_id", "pipeline_job_id")
LOGS_EXPLORER = "https://console.cloud.google.com/logs/query;query="


class LogLine(TypedDict):
    time: str
    severity: str
    source: str
    text: str


def entry_job_id(entry: Mapping[str, Any]) -> str:
    """The id of the job a LogEntry belongs to (ml_job's `job_id`, the PipelineJob's `pipeline_job_id`)."""
    labels = as_dict(as_dict(entry.get("resource")).get("labels"))
    return next((str(labels[k]) for k in ID_LABELS if labels.get(k)), "")


def line_of(entry: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> LogLine:
    """One LogEntry as a log line. `source`: the task (`service` for Vertex AI's own lines, `workerpool0-0` for the
    workload's), or what `sources` maps the entry's job id to (a pipeline task's name), `pipeline` for a pipeline's
    events."""
    resource = as_dict(entry.get("resource"))
    labels = as_dict(resource.get("labels"))
    task = str(labels.get("task_name") or "")
    mapped = (sources or {}).get(entry_job_id(entry), "")
    if mapped:
        source = f"{mapped}/{task}" if task else mapped
    elif task:
        source = task
    else:
        source = "pipeline" if labels.get("pipeline_job_id") else str(resource.get("type") or "")
    return {
        "time": str(entry.get("timestamp") or entry.get("receiveTimestamp") or ""),
        "severity": str(entry.get("severity") or "DEFAULT"),
        "source": source,
        "text": cut(_text(entry)),
    }


def _text(entry: Mapping[str, Any]) -> str:
    if isinstance(entry.get("textPayload"), str):
        return str(entry["textPayload"])
    payload = entry.get("jsonPayload")
    if isinstance(payload, dict):
        message = payload.get("message")
        if isinstance(message, str) and message:
            return message
        if isinstance(payload.get("state"), str):  # a pipeline_job_events entry
            return f"state: {payload['state']}"
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))
    if isinstance(entry.get("protoPayload"), dict):
        return json.dumps(entry["protoPayload"], sort_keys=True, separators=(",", ":"))
    return ""


def cut(text: str, limit: int = LINE_CHARS) -> str:
    text = text.rstrip("\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def level(severity: str) -> int:
    return SEVERITY_LEVEL.get(severity.upper(), 0)


def is_workload(line: LogLine) -> bool:
    """A line of the job's own code (workerpool0-0, a pipeline task's workerpool0-0), not Vertex AI's."""
    return line["source"].rsplit("/", 1)[-1] not in SERVICE_SOURCES


def combined_filter(filters: Iterable[str], since: str | None = None) -> str:
    """One entries:list filter for several jobs (an OR of their filters), from `since` on (RFC 3339)."""
    parts = [f for f in dict.fromkeys(filters) if f]
    if not parts:
        return ""
    text = parts[0] if len(parts) == 1 else " OR ".join(f"({f})" for f in parts)
    return f'({text}) AND timestamp>="{since}"' if since else text


def select_tail(lines: Iterable[LogLine], limit: int = TAIL_LINES) -> list[LogLine]:
    """At most `limit` lines: the last lines at ERROR and above first, then the workload's last lines (not Vertex AI's
    own), each group in time order and every line cut to LINE_CHARS."""
    ordered = sorted(lines, key=lambda line: line["time"])
    errors = [i for i, line in enumerate(ordered) if level(line["severity"]) >= ERROR_LEVEL][-limit:]
    chosen = set(errors)
    rest = [i for i, line in enumerate(ordered) if i not in chosen and is_workload(line)]
    fill = rest[len(rest) - (limit - len(errors)) :] if limit > len(errors) else []
    return [{**ordered[i], "text": cut(ordered[i]["text"])} for i in [*errors, *fill]]


def logs_url(project: str, query: str) -> str:
    """Logs Explorer with `query` (the same form Google's own tools link to: console.cloud.google.com/logs/query;
    query=<filter>?project=P, e.g. GoogleCloudDataproc/dataproc-jupyter-plugin's VIEW_LOGS_*_URL)."""
    return f"{LOGS_EXPLORER}{quote(query, safe='')}?project={quote(project, safe='')}"


def summary(kind: JobKind, name: JobResourceName, job: Mapping[str, Any], failed_tasks: list[dict[str, Any]]) -> str:
    """One line: what failed, where, and Vertex AI's first line about it."""
    error = str(as_dict(job.get("error")).get("message") or "").strip()
    state = str(job.get("state") or "")
    where = f"{kind.job_type} {name.job_id} in {name.project}/{name.location}"
    if failed_tasks:
        task = failed_tasks[0]
        more = f" (and {len(failed_tasks) - 1} more)" if len(failed_tasks) > 1 else ""
        detail = str(task.get("error") or error).strip()
        head = f"task {task.get('name')}{more} of {where} failed"
    else:
        detail = error
        head = f"{where} failed" if not state.endswith("EXPIRED") else f"{where} expired"
    first = detail.splitlines()[0].strip() if detail else ""
    return cut(f"{head}: {first}" if first else head, SUMMARY_CHARS)


def diagnose(
    kind: JobKind,
    name: JobResourceName,
    job: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]] | None,
    *,
    queued_too_long: bool = False,
    detailed: bool = True,
) -> dict[str, Any]:
    """The run's `diagnostics`. `entries`: the job's LogEntries (any order), or None when they could not be read
    (then no `logTail`, a later read adds it with `with_tail`). `detailed` False: `job` lacks what `failed_tasks`
    reads and could not be read whole this tick (a kind with `failure_needs_detail`): no `failedTasks` and no
    `logTail` (`detail_pending`; the poller diagnoses the run again on a later tick)."""
    failed_tasks = kind.failed_tasks(dict(job)) if detailed else []
    out: dict[str, Any] = {
        "summary": summary(kind, name, job, failed_tasks),
        "failedTasks": failed_tasks,
        "logsUrl": logs_url(name.project, kind.logs_query(name, dict(job))),
        "hint": None,
    }
    if not detailed:
        del out["failedTasks"]
        entries = None
    tail = tail_of(kind, job, entries)
    if tail is not None:
        out["logTail"] = tail
    out["hint"] = hint_text(job, failed_tasks, tail, queued_too_long=queued_too_long)
    return out


def tail_of(kind: JobKind, job: Mapping[str, Any], entries: Sequence[Mapping[str, Any]] | None) -> list[LogLine] | None:
    """The job's lines from its entries and from the job itself (`failure_lines`: e.g. a Batch Prediction Job's
    error and partialFailures); None when the kind reads logs and they are missing."""
    own = [
        LogLine(time=x["time"], severity=x["severity"], source=x["source"], text=x["text"])
        for x in kind.failure_lines(dict(job))
    ]
    if entries is None and kind.reads_logs:
        return None
    sources = kind.log_sources(dict(job))
    lines = [line_of(e, sources) for e in entries or ()]
    return select_tail([*lines, *own])


def with_tail(
    diagnostics: Mapping[str, Any],
    kind: JobKind,
    job: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    *,
    queued_too_long: bool = False,
) -> dict[str, Any]:
    """Diagnostics recorded without a tail, completed with the entries read later (the hint may now be found)."""
    out = dict(diagnostics)
    out.setdefault("failedTasks", [])  # a run whose detail was never read (given up): none known
    tail = tail_of(kind, job, entries) or []
    out["logTail"] = tail
    out["hint"] = hint_text(job, list(out.get("failedTasks") or []), tail, queued_too_long=queued_too_long)
    return out


def tail_pending(run: Mapping[str, Any]) -> bool:
    """A Failed run whose diagnostics were recorded before its logs could be read (the poller reads them later)."""
    found = run.get("diagnostics")
    return isinstance(found, dict) and "logTail" not in found


def detail_pending(run: Mapping[str, Any]) -> bool:
    """A Failed run diagnosed without the job's detail (`diagnose(..., detailed=False)`: its GET was over the tick's
    bound or failed): no `failedTasks` yet; its log tail is pending too (`tail_pending`)."""
    found = run.get("diagnostics")
    return isinstance(found, dict) and "failedTasks" not in found


def attach(run: dict[str, Any], job: Mapping[str, Any], diagnosis: dict[str, Any] | None = None) -> None:
    """A Failed run gets its diagnostics: `diagnosis` when the caller read the job's logs, else the job's own
    account of the failure without a log tail (the poller adds the tail later)."""
    if run.get("status") != "Failed":
        return
    kind = kinds.of_record(run)
    if diagnosis is None:
        name = JobResourceName(run["project"], run["location"], run["jobId"], run.get("collection") or kind.collection)
        diagnosis = diagnose(kind, name, job, None, queued_too_long=bool(run.get("queuedAlerted")))
    run["diagnostics"] = diagnosis
    if kind.failed_tasks_on_run:
        name_failed_tasks(run, diagnosis)


def name_failed_tasks(run: dict[str, Any], diagnosis: Mapping[str, Any]) -> None:
    """Kinds with `failed_tasks_on_run` (Pipeline Jobs, issue 23): the run carries `failedTasks` [{name, state,
    error}] (from its diagnostics' failedTasks, read once) and its error message begins with the first failed task's
    name (so do `outputs._error`, which is that message)."""
    if "failedTasks" not in diagnosis:
        return  # not known yet (`detail_pending`): named when the run is diagnosed again
    found = [t for t in diagnosis.get("failedTasks") or [] if isinstance(t, Mapping)]
    run["failedTasks"] = [{"name": t.get("name"), "state": t.get("state"), "error": t.get("error")} for t in found]
    error = run.get("error")
    if not found or not isinstance(error, dict):
        return
    first = str(found[0].get("name") or "")
    message = str(error.get("message") or "")
    if first and not message.startswith(first):
        old, error["message"] = message, f"{first}: {message}" if message else first
        outs = run.get("outputs")
        if isinstance(outs, dict) and outs.get("_error") == old:
            outs["_error"] = error["message"]


def hint_text(
    job: Mapping[str, Any],
    failed_tasks: list[dict[str, Any]],
    tail: list[LogLine] | None,
    *,
    queued_too_long: bool = False,
) -> str | None:
    texts = [str(as_dict(job.get("error")).get("message") or "")]
    texts += [str(t.get("error") or "") for t in failed_tasks]
    texts += [line["text"] for line in tail or ()]
    if queued_too_long:
        texts.append(hints.QUEUED_TOO_LONG)
    found = hints.match(texts)
    return found.fix if found else None
