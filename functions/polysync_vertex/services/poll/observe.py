"""Asking Vertex AI what changed: the poller's list filters, its walks over list pages, the final states of runs
that left the non-final list, and the fallbacks when Vertex AI rejects a filter.

Per (kind, project, location) with active runs, one observation:
- Kinds whose list filters on `update_time` (Pipeline Jobs), between full scans: one walk over the connector's jobs
  updated since the previous tick (minus a margin); runs it does not show are unchanged.
- Otherwise, and for every kind at the full scan: one walk over the connector's non-final jobs (label and state
  filter, pages of 100, only the fields needed). Runs the walk no longer shows ended (or were deleted): their final
  states are read with list calls filtered by their request labels, FINISHED_BATCH per call, and by a GET for any
  such a call does not return.
A filter Vertex AI rejects (INVALID_ARGUMENT) is remembered in `UnsupportedFilters` (one per App), counted and
logged: the state filter falls back to the label filter with final jobs dropped here, the label OR to one GET per
run, until a back-off ends and the normal filter is tried again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ... import log
from ...core import runs, states
from ...core.errors import UpstreamError
from ...core.kinds import JobKind
from ...core.labels import LABEL_REQUEST, LABEL_SHARD, SHARDS
from ...ports import VertexPort

LIST_PAGE_SIZE = 100
# Per-call budgets inside a tick: a call still failing after them is left for the next tick, so one bad job or
# page cannot eat the whole invocation.
GET_BUDGET_SECONDS = 5.0
PAGE_BUDGET_SECONDS = 20.0
# Request labels per list call that reads finished jobs' final states (an OR of label equalities). 50 keys of at
# most 57 characters make a filter of about 4.4 KB, well inside the URL sizes Google front ends accept.
FINISHED_BATCH = 50
# How far before the previous tick an update_time walk (and the orphan sweep) starts: clock skew and updates that
# commit late.
UPDATE_TIME_MARGIN_SECONDS = 120

Jobs = dict[str, dict[str, Any]]  # runId (the job's resource name) -> the job as listed or read


def list_filter(
    shard_range: tuple[int, int] | None,
    kind: JobKind,
    *,
    with_state: bool = True,
    since: str | None = None,
    created_since: str | None = None,
) -> str:
    """The connector's jobs of `kind`: in its non-final states, updated at or after `since`, created at or after
    `created_since`, in the shard range."""
    extra: list[str] = []
    if with_state:
        extra.append("(" + " OR ".join(f'state="{s}"' for s in kind.states.non_final) + ")")
    if since is not None:
        extra.append(f'update_time>="{since}"')
    if created_since is not None:
        extra.append(f'create_time>="{created_since}"')
    if shard_range is not None and shard_range != (0, SHARDS):
        lo, hi = shard_range
        extra.append("(" + " OR ".join(f'labels.{LABEL_SHARD}="{i:02d}"' for i in range(lo, hi)) + ")")
    return kind.list_filter(extra=tuple(extra))


class UnsupportedFilters:
    """The list filters Vertex AI rejected, per kind of filter, kind and parent (one object per App). A rejection
    makes the poller take the fallback until a back-off ends (`FIRST_BACKOFF_SECONDS`, doubled per rejection in a
    row up to `MAX_BACKOFF_SECONDS`), then try the normal filter again: a transient 400 costs a tick or two, not the
    life of the instance (the fallbacks' calls grow with every connector job in the location). Each rejection is
    counted (`counts`) and logged by the caller; a success resets the back-off."""

    FIRST_BACKOFF_SECONDS = 60.0
    MAX_BACKOFF_SECONDS = 3600.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._until: dict[str, float] = {}
        self._streak: Counter[str] = Counter()
        self._lock = threading.Lock()

    def rejected(self, key: str) -> bool:
        """Whether the fallback is still to be taken for `key` (its back-off has not ended)."""
        with self._lock:
            return self.clock() < self._until.get(key, 0.0)

    def reject(self, key: str) -> float:
        """Record a rejection; returns the seconds until the normal filter is tried again."""
        with self._lock:
            backoff = min(self.MAX_BACKOFF_SECONDS, self.FIRST_BACKOFF_SECONDS * float(2 ** self._streak[key]))
            self._streak[key] += 1
            self.counts[key] += 1
            self._until[key] = self.clock() + backoff
            return backoff

    def accept(self, key: str) -> None:
        """The normal filter worked: the next rejection starts from the first back-off again."""
        with self._lock:
            self._streak.pop(key, None)
            self._until.pop(key, None)


@dataclass
class Tuning:
    """The poller's per-call budgets and the update_time margin (tests and benchmarks change them)."""

    get_budget: float = GET_BUDGET_SECONDS
    page_budget: float = PAGE_BUDGET_SECONDS
    update_time_margin: float = UPDATE_TIME_MARGIN_SECONDS


@dataclass
class Observation:
    """What Vertex AI said about one kind in one location. `listed` None: the lists failed, nothing is known."""

    listed: Jobs | None
    finished: Jobs = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def job_of(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The job observed for a run in flight (None: not observed, or the run was already final)."""
        if self.listed is None or states.is_final(entry["vertexState"]):
            return None
        return self.listed.get(entry["runId"]) or self.finished.get(entry["runId"])


class Observer:
    def __init__(self, vertex: VertexPort, tuning: Tuning, unsupported: UnsupportedFilters) -> None:
        self.vertex = vertex
        self.tuning = tuning
        self.unsupported = unsupported

    def get(self, name: str, deadline: float) -> dict[str, Any]:
        return self.vertex.get(name, min(deadline, time.monotonic() + self.tuning.get_budget))

    def cancel(self, name: str, deadline: float) -> None:
        self.vertex.cancel(name, min(deadline, time.monotonic() + self.tuning.get_budget))

    def page(
        self, kind: JobKind, parent: str, filter_: str, deadline: float, token: str = ""
    ) -> tuple[list[dict[str, Any]], str]:
        """One list call of the poller: pages of 100, the kind's read mask, the per-call budget."""
        return self.vertex.list_page(
            parent,
            min(deadline, time.monotonic() + self.tuning.page_budget),
            kind=kind,
            filter=filter_,
            page_size=LIST_PAGE_SIZE,
            page_token=token,
            read_mask=kind.read_mask,
        )

    def walk(self, kind: JobKind, parent: str, filter_: str, deadline: float, *, drop_final: bool) -> Jobs:
        listed: Jobs = {}
        token = ""
        while True:
            jobs, token = self.page(kind, parent, filter_, deadline, token)
            for job in jobs:
                if drop_final and states.is_final(job.get("state", "")):
                    continue
                listed[job["name"]] = job
            if not token:
                return listed

    def observe(
        self,
        kind: JobKind,
        parent: str,
        group: list[dict[str, Any]],
        shard_range: tuple[int, int] | None,
        cursor: datetime | None,
        full_scan: bool,
        deadline: float,
    ) -> Observation:
        """The jobs of `group` (index entries of one kind in `parent`) as Vertex AI has them now. `cursor`: when
        the previous tick of the range started (an update_time walk starts there, minus the margin)."""
        in_flight = [e for e in group if not states.is_final(e["vertexState"])]
        by_update_time = kind.poll_by_update_time and not full_scan and cursor is not None
        try:
            if by_update_time and in_flight:
                assert cursor is not None
                since = runs.iso(cursor - timedelta(seconds=self.tuning.update_time_margin))
                filter_ = list_filter(shard_range, kind, with_state=False, since=since)
                return Observation(self.walk(kind, parent, filter_, deadline, drop_final=False))
            if not (in_flight or full_scan):
                return Observation(None)
            observation = Observation(self._list_active(kind, parent, shard_range, deadline))
            left = [e for e in in_flight if e["runId"] not in (observation.listed or {})]
            if left:
                observation.finished, observation.deleted = self._read_finished(kind, parent, left, deadline)
            return observation
        except UpstreamError as err:
            log.warning("listing jobs failed; this location is polled again next tick", parent=parent, code=err.code)
            return Observation(None)

    def _list_active(self, kind: JobKind, parent: str, shard_range: tuple[int, int] | None, deadline: float) -> Jobs:
        fallback_key = f"{kind.collection}:{parent}"
        with_state = not self.unsupported.rejected(fallback_key)
        try:
            filter_ = list_filter(shard_range, kind, with_state=with_state)
            listed = self.walk(kind, parent, filter_, deadline, drop_final=not with_state)
            if with_state:
                self.unsupported.accept(fallback_key)
            return listed
        except UpstreamError as err:
            if not (with_state and err.code == "INVALID_ARGUMENT"):
                raise
        self._fall_back(
            fallback_key,
            kind,
            parent,
            "Vertex AI rejected the state filter; listing by label alone and dropping final jobs client-side",
        )
        return self.walk(kind, parent, list_filter(shard_range, kind, with_state=False), deadline, drop_final=True)

    def _fall_back(self, fallback_key: str, kind: JobKind, parent: str, message: str) -> None:
        """Vertex AI rejected a filter (INVALID_ARGUMENT): its fallback is taken until the back-off ends; the
        rejection is counted and logged at WARNING with the count and when the filter is tried again."""
        retry_in = self.unsupported.reject(fallback_key)
        log.warning(
            message,
            parent=parent,
            jobType=kind.job_type,
            rejections=self.unsupported.counts[fallback_key],
            retryInSeconds=retry_in,
        )

    def _read_finished(
        self, kind: JobKind, parent: str, entries: list[dict[str, Any]], deadline: float
    ) -> tuple[Jobs, set[str]]:
        """Final states of runs that left the non-final list: ({runId: job}, {runIds whose job no longer exists}).
        By list calls filtered by request labels, FINISHED_BATCH per call; a GET for anything those miss."""
        found: Jobs = {}
        deleted: set[str] = set()
        keyed = [e for e in entries if e.get("requestKey")]
        fallback_key = f"labels:{kind.collection}:{parent}"
        if not self.unsupported.rejected(fallback_key):
            for i in range(0, len(keyed), FINISHED_BATCH):
                batch = keyed[i : i + FINISHED_BATCH]
                filter_ = " OR ".join(f'labels.{LABEL_REQUEST}="{e["requestKey"]}"' for e in batch)
                try:
                    jobs, _ = self.page(kind, parent, filter_, deadline)
                    self.unsupported.accept(fallback_key)
                except UpstreamError as err:
                    if err.code == "INVALID_ARGUMENT":
                        self._fall_back(
                            fallback_key,
                            kind,
                            parent,
                            "Vertex AI rejected the label OR filter; reading finished jobs one by one",
                        )
                        break
                    log.warning("listing finished jobs failed; read one by one", parent=parent, code=err.code)
                    continue
                for job in jobs:
                    found[job["name"]] = job
        for entry in entries:
            run_id = entry["runId"]
            if run_id in found:
                continue
            try:
                found[run_id] = self.get(run_id, deadline)
            except UpstreamError as err:
                if err.code == "NOT_FOUND":
                    deleted.add(run_id)
                else:
                    log.warning("reading a job failed; retried next tick", runId=run_id, code=err.code)
        return found, deleted
