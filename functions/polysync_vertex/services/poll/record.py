"""Whether and what a tick writes for a run: the one place that decides.

A run is read in full only when something is to be recorded: its state changed (or its job was deleted), its
outbox holds events, or its queued_too_long alert is due (`needs_record`, from the index entry alone). What is
written is the state change and/or the alert (`mutation`), applied by the store with the run's precondition and
re-applied to a fresh read when another writer got there first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ...core import outputs as core_outputs
from ...core import runs, states
from ...core.kinds import JobKind
from .observe import Observation
from .outputs import Decision

Mutation = Callable[[dict[str, Any]], dict[str, Any] | None]
# (index entry, the job observed for it or None, whether its job was deleted)
Todo = tuple[dict[str, Any], dict[str, Any] | None, bool]


def alert_due(run_or_entry: dict[str, Any], now: datetime, threshold_seconds: int) -> bool:
    """The run has waited (PENDING / QUEUED) past the threshold and was not alerted yet."""
    return runs.waited_too_long(run_or_entry, now, threshold_seconds) is not None


def ends_failed(run: dict[str, Any], observed: dict[str, Any] | None) -> bool:
    """The observed job ends the run Failed (its diagnostics are read before it is recorded)."""
    if observed is None or states.is_final(run["vertexState"]):
        return False
    state = observed.get("state") or ""
    return state != run["vertexState"] and states.polysync_status(state) == "Failed"


def needs_record(entry: dict[str, Any], observed_state: str | None, deleted: bool, alert: bool) -> bool:
    """Whether a tick must read the run in full: something changed, events wait, or an alert is due."""
    if entry["pending"] or deleted or alert:
        return True
    return observed_state is not None and observed_state != entry["vertexState"]


def to_record(
    kind: JobKind, group: list[dict[str, Any]], seen: Observation, now: datetime, threshold_seconds: int
) -> list[Todo]:
    """The runs of `group` to read and record after the observation `seen`."""
    todo: list[Todo] = []
    for entry in group:
        observed = seen.job_of(entry)
        gone = entry["runId"] in seen.deleted
        if observed is None and not gone and isinstance(entry.get("fetch"), dict):
            observed = entry["fetch"]  # seen final by an earlier tick, its GET still due (outputs.full_job)
        observed_state = (observed.get("state") or kind.states.unspecified) if observed is not None else None
        if needs_record(entry, observed_state, gone, alert_due(entry, now, threshold_seconds)):
            todo.append((entry, observed, gone))
    return todo


def needs_full_job(kind: JobKind, run: dict[str, Any], observed: dict[str, Any] | None) -> bool:
    """The run ends with this observation and its outputs are not in a list entry (Pipeline Jobs that declared
    outputs: they are on the run's root task, in jobDetail, which the list view omits): one GET of the job."""
    if observed is None or observed.get("state") == run["vertexState"]:
        return False
    state = observed.get("state") or kind.states.unspecified
    return states.is_final(state) and kind.needs_full_job(observed, tuple(run.get("outputNames") or ()))


def mutation(
    run: dict[str, Any],
    observed: dict[str, Any] | None,
    deleted: bool,
    now: datetime,
    threshold_seconds: int,
    outputs: Decision | None = None,
    diagnosis: dict[str, Any] | None = None,
) -> Mutation | None:
    """How to record a change (or the queued_too_long alert) on the run, or None when there is nothing to
    record. Applied by the store with the run's precondition (re-applied to a fresh read if it changed).

    `outputs`: for a final state whose job wrote an outputs file (services/poll/outputs.py), the outputs read with
    it, or no outputs yet: then the state waits for the next tick, and a failed read is noted on the run.
    `diagnosis`: a run that ends Failed gets it (its logs read this tick), or diagnostics without a log tail."""
    if outputs is not None and outputs.outputs is None:
        return _note_failed_read(run, now, outputs.due) if outputs.note_failure else None
    if outputs is not None and outputs.outputs is not None and core_outputs.due(run):
        return _complete_outputs(run, outputs.outputs)
    state_changed = deleted or (observed is not None and observed.get("state") != run["vertexState"])
    if not (state_changed or alert_due(run, now, threshold_seconds)):
        return None

    def mutate(r: dict[str, Any]) -> dict[str, Any] | None:
        if r["vertexState"] != run["vertexState"]:
            # Another poller or a cancel recorded a change since this tick read the run: the observation may be
            # older than that change (recording it would move the run back); the next tick looks again.
            return None
        r.pop("fullJobDue", None)
        if deleted:
            entry = runs.mark_deleted(r, now)
        elif state_changed and observed is not None:
            entry = runs.apply_state(
                r, observed, now, read_outputs=outputs.outputs if outputs else None, diagnosis=diagnosis
            )
        else:
            entry = None
        if entry is None or r["vertexState"] in states.ANY_WAITING:
            entry = runs.queued_too_long(r, now, threshold_seconds) or entry
        return entry

    return mutate


def _complete_outputs(run: dict[str, Any], read: dict[str, Any]) -> Mutation:
    """A run recorded final before its outputs were read (a cancel, a takeover, an adoption) gets them, in the run
    and in its held terminal event (no new event: its state does not change)."""

    def mutate(r: dict[str, Any]) -> bool | None:
        if r["vertexState"] != run["vertexState"] or not core_outputs.due(r):
            return None
        runs.complete_outputs(r, read)
        return True

    return mutate  # type: ignore[return-value]


def _note_failed_read(run: dict[str, Any], now: datetime, due: dict[str, Any] | None = None) -> Mutation:
    """Note on the run that reading its outputs failed (no event: its state is recorded next tick). `due`: the
    finished job as observed, when its GET failed (kept for the next tick, outputs.full_job)."""

    def mutate(r: dict[str, Any]) -> bool | None:
        if r["vertexState"] != run["vertexState"] or r.get("outputsReadFailed"):
            return None
        r["outputsReadFailed"] = runs.iso(now)
        if due is not None:
            r["fullJobDue"] = due
        return True

    return mutate  # type: ignore[return-value]
