"""The poller's index of active runs, so a tick does not read every run record.

What a tick needs to know of each active run is small: its recorded state and sequence, whether its outbox holds
events, and since when it waits. The index keeps exactly that, one `pollindex` document per (project, location,
shard), and a "scope" document per shard range with the tick's cursor and the list of index documents in use.

A tick reads the scope document, the index documents it lists, and the runs recorded since the cursor (minus a
margin longer than a submit can take, so a run committed late is still seen); only runs whose listed Vertex AI state
differs from the index, that left the non-final list, that have events to publish or that are due a queued alert are
read in full. The run records stay the truth: the index only decides what to read, and every change is still written
to the run with its precondition. Whatever the index could miss (a lost write of overlapping pollers, a new shard
range after a change of fan-out) is healed by a full scan every FULL_SCAN_SECONDS and whenever the scope document
is missing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, TypedDict

from ...core import diagnostics, kinds, outputs, runs
from ...core.labels import SHARDS
from ...ports import PollStore

FULL_SCAN_SECONDS = 600
# How often a tick also sweeps every allowed location for orphan jobs (`orphans.Orphans.sweep`).
SWEEP_SECONDS = 600
NEW_RUN_MARGIN_SECONDS = 120


def entry_of(run: dict[str, Any]) -> dict[str, Any]:
    """The index entry of a run record (`fetch`: a finished job whose GET is still due, services/poll/outputs.py)."""
    entry = {
        "runId": run["runId"],
        "vertexState": run["vertexState"],
        "sequence": run["sequence"],
        "pending": bool(run.get("outbox")) or diagnostics.tail_pending(run) or outputs.due(run),
        "waitingSince": run.get("waitingSince"),
        "queuedAlerted": bool(run.get("queuedAlerted")),
        "acceleratorType": run.get("acceleratorType"),
        "location": run["location"],
        "project": run["project"],
        "jobId": run["jobId"],
        "collection": kinds.by_collection(run.get("collection")).collection,
        "requestKey": run.get("requestKey"),
        "shard": int(run.get("shard", 0)),
    }
    if isinstance(run.get("fullJobDue"), dict):
        entry["fetch"] = run["fullJobDue"]
    return entry


def _doc_id(project: str, location: str, shard: int) -> str:
    return f"runs~{project}~{location}~{shard:02d}"


class IndexEntry(TypedDict):
    """What the index keeps of one active run (`entry_of`)."""

    runId: str
    vertexState: str
    sequence: int
    pending: bool
    waitingSince: str | None
    queuedAlerted: bool
    acceleratorType: str | None
    location: str
    project: str
    jobId: str
    collection: str
    requestKey: str | None
    shard: int


class ActiveIndex:
    """Load with `load()`, read `entries` (runId -> entry) and `docs` (full records read this tick), update with
    `track()` / `forget()`, then `save()`."""

    def __init__(self, store: PollStore, shard_range: tuple[int, int] | None, now: datetime) -> None:
        self.store = store
        self.range = shard_range or (0, SHARDS)
        self.now = now
        self.scope_id = f"scope~{self.range[0]:02d}~{self.range[1]:02d}"
        self.entries: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self.full_scan = False
        self._scope_version: Any = None
        self._loaded: dict[str, tuple[dict[str, Any], Any]] = {}
        self._full_scan_at: str | None = None
        self.cursor: datetime | None = None  # when the previous tick of this range started (None: unknown)
        self.swept_at: datetime | None = None  # when the last orphan sweep of this range started
        self.sweep_due = False
        self._swept_now = False

    def _in_range(self, shard: int) -> bool:
        return self.range[0] <= shard < self.range[1]

    def load(self) -> ActiveIndex:
        scope = self.store.get_index_docs([self.scope_id]).get(self.scope_id)
        cursor: str | None = None
        if scope is not None:
            data, self._scope_version = scope
            cursor = data.get("cursor")
            self._full_scan_at = data.get("fullScanAt")
            self._loaded = self.store.get_index_docs(list(data.get("docs", [])))
        due = self._full_scan_at is None or self._full_scan_at < runs.iso(
            self.now - timedelta(seconds=FULL_SCAN_SECONDS)
        )
        self.cursor = runs.parse_time(cursor)
        self.swept_at = runs.parse_time(scope[0].get("sweptAt")) if scope is not None else None
        if self.swept_at is None:
            self.swept_at = self.now  # the first tick of a range starts the sweep clock; its first sweep comes later
        self.sweep_due = self.swept_at < self.now - timedelta(seconds=SWEEP_SECONDS)
        if cursor is None or due:
            self.full_scan = True
            for run in self.store.active_runs(None if self.range == (0, SHARDS) else self.range):
                self._add_doc(run)
            return self
        for data, _ in self._loaded.values():
            for entry in _members(data).values():
                self.entries[entry["runId"]] = entry
        assert self.cursor is not None
        since = self.cursor - timedelta(seconds=NEW_RUN_MARGIN_SECONDS)
        for run in self.store.runs_recorded_since(runs.iso(since)):
            if self._in_range(int(run.get("shard", 0))):
                self._add_doc(run)
        return self

    def _add_doc(self, run: dict[str, Any]) -> None:
        self.docs[run["runId"]] = run
        self.entries[run["runId"]] = entry_of(run)

    def track(self, run: dict[str, Any]) -> None:
        """Record the run's latest known state (drops it once it no longer needs the poller)."""
        self.docs[run["runId"]] = run
        if runs.needs_poller(run):
            self.entries[run["runId"]] = entry_of(run)
        else:
            self.forget(run["runId"])

    def swept(self) -> None:
        """This tick swept for orphans: the next sweep is due SWEEP_SECONDS from now."""
        self._swept_now = True

    def forget(self, run_id: str) -> None:
        self.entries.pop(run_id, None)

    def save(self) -> None:
        """Write the index documents that changed and advance the cursor to this tick's start."""
        grouped: dict[str, dict[str, dict[str, Any]]] = {}
        for entry in self.entries.values():
            doc_id = _doc_id(entry["project"], entry["location"], entry["shard"])
            member = kinds.by_collection(entry.get("collection")).stored_id(entry["jobId"])
            grouped.setdefault(doc_id, {})[member] = entry
        for doc_id in set(grouped) | set(self._loaded):
            content = grouped.get(doc_id, {})
            loaded = self._loaded.get(doc_id)
            if loaded is not None and _members(loaded[0]) == content:
                continue
            version = loaded[1] if loaded is not None else "any"
            self.store.put_index_doc(doc_id, {"runs": _encode(content)}, version)
        scope = {
            "cursor": runs.iso(self.now),
            "fullScanAt": runs.iso(self.now) if self.full_scan else self._full_scan_at,
            "sweptAt": runs.iso(self.now if self._swept_now or self.swept_at is None else self.swept_at),
            "docs": sorted(grouped),
        }
        self.store.put_index_doc(self.scope_id, scope, self._scope_version or None)


def _encode(members: dict[str, dict[str, Any]]) -> str:
    """An index document's `runs`: its entries as one compact JSON text. Firestore then encodes, stores and
    returns one string value instead of a map of ~100 maps of 13 fields (a tick reads every index document of its
    range and rewrites those with a change: decoding the maps was most of a tick's CPU; the field is exempt from
    indexing, and nothing queries it)."""
    return json.dumps(members, separators=(",", ":"), sort_keys=True)


def _members(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries of an index document: JSON text, or a map as written before (healed at the next write)."""
    raw = data.get("runs")
    if isinstance(raw, str):
        decoded: dict[str, dict[str, Any]] = json.loads(raw)
        return decoded
    return dict(raw or {})
