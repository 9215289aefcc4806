"""The run record: what is stored in Firestore (its fields: `run_record.RunRecord`), what callers see, and how it
changes.

A run's `sequence` is 1 for the state recorded at submit and rises by one per Vertex AI state change. Every change
appends its event to the run's `outbox`; the poller publishes the outbox after the change has committed and then
removes what it published, so a failed publish is retried on the next tick with the same `ce-id`.
`active` is true while the run needs the poller: its job is not final, or its outbox is not empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import diagnostics, events, kinds, outputs, states
from .labels import shard_of
from .names import JobResourceName


def doc_id(run: dict[str, Any]) -> str:
    """The Firestore document id of a run record (`kinds.run_doc_id` of its job)."""
    return kinds.by_collection(run.get("collection")).run_doc_id(run["project"], run["location"], run["jobId"])


@dataclass(frozen=True)
class RunOrigin:
    """Where a run comes from: the request that asked for it (a submit), or what an adopted job's labels and its
    request record tell (the poller). Its shard follows from `key`."""

    request_id: str
    key: str
    job_name: str  # Polysync's free-text jobName
    template: str | None = None
    fingerprint: str = ""
    warnings: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    # A Custom Job writing its Output parameters to a file: {"uri", "parameters": [Declared records]} (core/outputs.py)
    outputs_file: dict[str, Any] | None = None


def parse_time(value: str | None) -> datetime | None:
    """RFC 3339 (Vertex AI's and ours, `Z` or an offset) -> an aware datetime; None for empty or malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Fields of the submit response, in the contract's order.
SUBMIT_FIELDS = ("runId", "requestId", "displayName", "status", "vertexState", "consoleUrl", "warnings")
# Fields of the status response (and of event data).
PUBLIC_FIELDS = SUBMIT_FIELDS + (
    "jobName",
    "sequence",
    "createTime",
    "startTime",
    "endTime",
    "updateTime",
    "error",
    "lastPolled",
)
JOB_TIME_FIELDS = ("createTime", "startTime", "endTime", "updateTime")


def iso(now: datetime) -> str:
    return now.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _error(job: dict[str, Any]) -> dict[str, Any] | None:
    err = job.get("error")
    if not err:
        return None
    return {"code": int(err.get("code", 0)), "message": str(err.get("message", ""))}


def new_run(origin: RunOrigin, name: JobResourceName, job: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The record of a run of `job` (as Vertex AI returned it), named `name`, first recorded at `now`."""
    kind = kinds.kind_of(name)
    output_names = origin.output_names
    state = job.get("state") or kind.states.unspecified
    run: dict[str, Any] = {
        "runId": name.resource_name,
        "requestId": origin.request_id,
        "requestKey": origin.key,
        "jobType": kind.job_type,
        "displayName": job.get("displayName", ""),
        "status": states.polysync_status(state),
        "vertexState": state,
        "consoleUrl": kind.console_url(name),
        "warnings": list(origin.warnings),
        "jobName": origin.job_name,
        "sequence": 1,
        "error": _error(job),
        "lastPolled": None,
        "project": name.project,
        "location": name.location,
        "jobId": name.job_id,
        "collection": name.collection,
        "template": origin.template,
        "fingerprint": origin.fingerprint,
        "acceleratorType": kind.accelerator(job),
        "shard": shard_of(origin.key),
        "outbox": [],
        "waitingSince": iso(now) if state in states.ANY_WAITING else None,
        "queuedAlerted": False,
        "recordedAt": iso(now),
        "outputNames": list(output_names),
    }
    if origin.outputs_file:
        run["outputsFile"] = origin.outputs_file
        run["outputs"] = None  # read by the poller when final (`outputs.due`: also when the job already ended)
    for f in JOB_TIME_FIELDS:
        run[f] = job.get(f)
    if states.is_final(state):
        run.update(kind.outputs(job, output_names))
        diagnostics.attach(run, job)
    run["active"] = needs_poller(run)
    return run


def announce_adopted(run: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An adopted run (its job was found by the poller, its submit never recorded it) starts its events at
    sequence 1 with the state it was found in: nobody has heard of it yet."""
    run["adopted"] = True
    return _append_event(
        run, events.STATUS_CHANGED, str(run["sequence"]), now, {"previousStatus": None, "previousVertexState": None}
    )


def announce_final_at_submit(run: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """A run recorded at submit in a final state (its job ended before the record was written: a retry took over
    a killed attempt, or an ambiguous create was resolved late) gets its terminal event as sequence 1; otherwise no
    poller would ever publish it, since the poller publishes changes from the recorded state."""
    if not states.is_final(run["vertexState"]):
        return None
    return _append_event(
        run, events.STATUS_CHANGED, str(run["sequence"]), now, {"previousStatus": None, "previousVertexState": None}
    )


def _append_event(
    run: dict[str, Any], event_type: str, id_suffix: str, now: datetime, extra: dict[str, Any]
) -> dict[str, Any]:
    """Append an event about the run as it is now to its outbox (ce-id `<runId>/<id_suffix>`)."""
    entry = events.outbox_entry(
        event_type=event_type,
        ce_id=f"{run['runId']}/{id_suffix}",
        run=public(run),
        time=iso(now),
        project=run["project"],
        location=run["location"],
        extra=extra,
    )
    run["outbox"] = [*run.get("outbox", []), entry]
    run["active"] = needs_poller(run)
    return entry


def public(run: dict[str, Any], fields: tuple[str, ...] = PUBLIC_FIELDS) -> dict[str, Any]:
    """The run as callers see it: `fields`, `jobType`, and for the full view the kind's output fields."""
    out = {f: run.get(f) for f in fields}
    out["jobType"] = run.get("jobType") or kinds.DEFAULT.job_type
    if fields is PUBLIC_FIELDS:
        for f in kinds.of_record(run).output_fields:
            out[f] = run.get(f)
        if run.get("outputsFile"):  # a Custom Job with an outputs bucket (core/outputs.py)
            out["outputs"] = run.get("outputs")
        if run.get("diagnostics"):  # a Failed run's (core/diagnostics.py)
            out["diagnostics"] = run["diagnostics"]
    return out


def needs_poller(run: dict[str, Any]) -> bool:
    """Its job is not final, events wait in its outbox, its diagnostics still lack their log tail, or its outputs
    file is still to be read."""
    return (
        bool(run.get("outbox"))
        or not states.is_final(run["vertexState"])
        or diagnostics.tail_pending(run)
        or outputs.due(run)
    )


def complete_outputs(run: dict[str, Any], read: dict[str, Any]) -> None:
    """A run recorded final before its outputs were read (`outputs.due`) gets them, and so does its held terminal
    event (the events of its final state in the outbox; earlier states' events carry none)."""
    run["outputs"] = read
    for entry in run.get("outbox", []):
        if entry["data"].get("vertexState") == run["vertexState"]:
            entry["data"]["outputs"] = read
    run["active"] = needs_poller(run)


def apply_state(
    run: dict[str, Any],
    job: dict[str, Any],
    now: datetime,
    *,
    read_outputs: dict[str, Any] | None = None,
    diagnosis: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Record the job's observed state on `run` (in place). Returns the event appended, or None if unchanged.
    `read_outputs`: a Custom Job's outputs as the poller read them (core/outputs.py) for a final state. A Failed
    run gets `diagnosis` (or, without one, diagnostics without a log tail) before its event is written."""
    kind = kinds.of_record(run)
    state = job.get("state") or kind.states.unspecified
    previous_state = run["vertexState"]
    if state == previous_state or states.is_final(previous_state):
        return None
    previous_status = run["status"]
    run["vertexState"] = state
    run["status"] = states.polysync_status(state)
    run["sequence"] = int(run["sequence"]) + 1
    for f in JOB_TIME_FIELDS:
        if job.get(f):
            run[f] = job[f]
    run["error"] = _error(job)
    run["lastPolled"] = iso(now)
    if states.is_final(state) and state not in states.DELETED_STATES:
        run.update(kind.outputs(job, tuple(run.get("outputNames") or ())))
        if read_outputs is not None:
            run["outputs"] = read_outputs  # otherwise a pending file stays due for the poller (`outputs.due`)
        diagnostics.attach(run, job, diagnosis)
    if state in states.ANY_WAITING:
        run["waitingSince"] = run.get("waitingSince") or iso(now)
    else:
        run["waitingSince"] = None
    return _append_event(
        run,
        events.STATUS_CHANGED,
        str(run["sequence"]),
        now,
        {"previousStatus": previous_status, "previousVertexState": previous_state},
    )


def mark_deleted(run: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The job vanished from Vertex AI (deleted outside the connector): the run becomes Unknown, once."""
    return apply_state(
        run,
        {
            "state": kinds.of_record(run).states.deleted,
            "error": {
                "code": 5,
                "message": "the Vertex AI job no longer exists (deleted outside polysync-vertex); "
                "its final state is unknown",
            },
        },
        now,
    )


def waited_too_long(run: dict[str, Any], now: datetime, threshold_seconds: int) -> float | None:
    """Seconds the run has been PENDING/QUEUED, when that is past the threshold and not yet alerted."""
    since = run.get("waitingSince")
    started = parse_time(since)
    if run.get("queuedAlerted") or run["vertexState"] not in states.ANY_WAITING or started is None:
        return None
    waited = (now - started).total_seconds()
    return waited if waited > threshold_seconds else None


def queued_too_long(run: dict[str, Any], now: datetime, threshold_seconds: int) -> dict[str, Any] | None:
    """Append the one `queued_too_long` event when the run has waited past the threshold."""
    waited = waited_too_long(run, now, threshold_seconds)
    if waited is None:
        return None
    accelerator = run.get("acceleratorType")
    cause = (
        f"accelerator quota for {accelerator} in {run['location']} is most likely exhausted"
        if accelerator
        else f"machine or quota capacity in {run['location']} is most likely exhausted"
    )
    message = (
        f"run has been {run['vertexState']} for {_duration(waited)} (threshold {_duration(threshold_seconds)}): "
        f"{cause}; request more quota or switch region"
    )
    run["queuedAlerted"] = True
    return _append_event(
        run, events.QUEUED_TOO_LONG, "queued_too_long", now, {"message": message, "waitingSeconds": int(waited)}
    )


def _duration(seconds: float) -> str:
    """`45 s` under a minute, else whole minutes (`30 min`)."""
    return f"{int(seconds)} s" if seconds < 60 else f"{int(seconds // 60)} min"


def drop_published(run: dict[str, Any], published_ids: set[str]) -> None:
    run["outbox"] = [e for e in run.get("outbox", []) if e["id"] not in published_ids]
    run["active"] = needs_poller(run)
