"""The poller's diagnostics of runs that end Failed: their failed tasks and their log tail, within a read budget.

Per (job kind, location) and tick, the jobs seen failing are diagnosed together:
- a kind whose list view lacks what its diagnostics need (Pipeline Jobs: `jobDetail` names the failed tasks and their
  CustomJobs) gets one GET per failed job, unless the job observed already carries it. These GETs count against the
  tick's bound on reads and GETs (`allow`: services/poll/outputs.py `OutputsReads.take_detail`, 100 a tick, shared
  with outputs reads). A run over it (or whose GET failed) is recorded on time, diagnosed without its failed tasks
  and log tail (`diagnostics.detail_pending`); a later tick GETs it within the same bound and writes the whole
  diagnosis (failed tasks, tail, the run's `failedTasks` and error message) without a new event;
- one Cloud Logging `entries:list` for all of them (an OR of their filters, newest first, from the earliest
  creation on), if the per-minute read budget (PSV_LOG_READS_PER_MINUTE, a shard worker's share in proportion to its
  shard range) allows it and the kind's jobs write logs at all.
Over budget, or when Logging fails, the runs are recorded on time with diagnostics without `logTail` (the terminal
event goes out in the same tick); later ticks read the missing tails, within the same budget, and write them to the
records without a new event. A tail still missing TAIL_GIVE_UP_SECONDS after the run ended is given up (an empty
tail; the logs URL still leads to the logs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .. import log
from ..core import diagnostics, kinds, runs
from ..core.budget import MinuteBudget
from ..core.errors import UpstreamError
from ..core.kinds import JobKind
from ..core.labels import SHARDS
from ..core.names import JobResourceName
from ..ports import LogReader, VertexPort

READ_BUDGET_SECONDS = 10.0
GET_BUDGET_SECONDS = 5.0
PAGE_SIZE = 1000
TAIL_GIVE_UP_SECONDS = 3600


Allow = Callable[[], bool]  # one GET within the tick's bound (False: over it)


def _name(run: dict[str, Any], kind: JobKind) -> JobResourceName:
    return JobResourceName(run["project"], run["location"], run["jobId"], run.get("collection") or kind.collection)


def _unbounded() -> bool:
    return True


class Diagnoser:
    def __init__(self, vertex: VertexPort, logs: LogReader, reads_per_minute: float) -> None:
        self.vertex = vertex
        self.logs = logs
        self.reads_per_minute = reads_per_minute
        self._budgets: dict[tuple[int, int], MinuteBudget] = {}
        self.reads = self.skipped = self.failed_reads = 0

    def budget(self, shard_range: tuple[int, int] | None) -> MinuteBudget:
        """This shard range's share of the per-minute reads (the whole budget for the whole range)."""
        lo, hi = shard_range or (0, SHARDS)
        if (lo, hi) not in self._budgets:
            self._budgets[(lo, hi)] = MinuteBudget(self.reads_per_minute * (hi - lo) / SHARDS)
        return self._budgets[(lo, hi)]

    # -- runs failing in this tick ------------------------------------------------------------------------
    def failures(
        self,
        kind: JobKind,
        failing: list[tuple[dict[str, Any], dict[str, Any]]],
        shard_range: tuple[int, int] | None,
        deadline: float,
        allow: Allow = _unbounded,
    ) -> dict[str, dict[str, Any]]:
        """{runId: diagnostics} for runs (as recorded) whose job (as observed) ended Failed. A job whose detail
        could not be read this tick (over `allow`, or its GET failed) is diagnosed without it (`detail_pending`)."""
        if not failing:
            return {}
        out = {}
        jobs = []
        for run, job in failing:
            full = self._detailed(kind, job["name"], job, deadline, allow)
            if full is None:
                out[run["runId"]] = diagnostics.diagnose(
                    kind, _name(run, kind), job, None, queued_too_long=bool(run.get("queuedAlerted")), detailed=False
                )
            else:
                jobs.append((run, full))
        wanted = [(_name(r, kind), j, r.get("createTime")) for r, j in jobs]
        entries = self._read(kind, wanted, shard_range, deadline) if wanted else []
        for run, job in jobs:
            name = _name(run, kind)
            mine = self._entries_of(kind, name, job, entries)
            out[run["runId"]] = diagnostics.diagnose(
                kind, name, job, mine, queued_too_long=bool(run.get("queuedAlerted"))
            )
        return out

    def _detailed(
        self, kind: JobKind, name: str, job: dict[str, Any], deadline: float, allow: Allow
    ) -> dict[str, Any] | None:
        """`job` with what its diagnostics need: as given, or read whole (one GET within `allow`); None when that
        GET must wait for a later tick (over the bound, or it failed)."""
        if not kind.failure_needs_detail or job.get("jobDetail"):
            return job
        if not allow():
            log.info("reading a failed job's detail deferred: over the tick's bound on reads", runId=name)
            return None
        try:
            return self.vertex.get(name, min(deadline, time.monotonic() + GET_BUDGET_SECONDS))
        except UpstreamError as err:
            log.warning("reading a failed job's detail failed; diagnosed again next tick", runId=name, code=err.code)
            return None

    # -- tails recorded later ------------------------------------------------------------------------------
    def tails(
        self,
        kind: JobKind,
        pending: list[dict[str, Any]],
        now: datetime,
        shard_range: tuple[int, int] | None,
        deadline: float,
        allow: Allow = _unbounded,
    ) -> list[tuple[str, Callable[[dict[str, Any]], bool | None]]]:
        """Writes (doc id, mutation) completing the diagnostics of `pending` runs (recorded without a log tail;
        those also without their detail are read whole first, within `allow`, and diagnosed again)."""
        if not pending:
            return []
        expired = {r["runId"] for r in pending if _age(r, now) > TAIL_GIVE_UP_SECONDS}
        views: list[tuple[dict[str, Any], dict[str, Any], bool]] = []  # (run, job, whether to diagnose it anew)
        for run in pending:
            if run["runId"] in expired or not (kind.failure_needs_detail and diagnostics.detail_pending(run)):
                views.append((run, kind.run_job_view(run), False))
                continue
            full = self._detailed(kind, run["runId"], {}, deadline, allow)
            if full is not None:
                views.append((run, full, True))
        wanted = [(_name(r, kind), j, r.get("createTime")) for r, j, _ in views if r["runId"] not in expired]
        entries = self._read(kind, wanted, shard_range, deadline) if wanted else None
        writes = []
        for run, job, anew in views:
            name = _name(run, kind)
            mine = [] if run["runId"] in expired else self._entries_of(kind, name, job, entries)
            if anew:
                writes.append((runs.doc_id(run), _diagnosed(kind, name, job, mine)))
                continue
            if mine is None:
                continue
            if run["runId"] in expired:
                log.warning("log tail given up: Cloud Logging could not be read in time", runId=run["runId"])
            writes.append((runs.doc_id(run), _complete(job, mine)))
        return writes

    # -- reading ------------------------------------------------------------------------------------------
    def _read(
        self,
        kind: JobKind,
        jobs: list[tuple[JobResourceName, dict[str, Any], str | None]],
        shard_range: tuple[int, int] | None,
        deadline: float,
    ) -> list[dict[str, Any]] | None:
        """One entries:list for all `jobs` (their filters ORed); None when over budget or Logging failed."""
        if not kind.reads_logs:
            return []
        since = min((c for _, _, c in jobs if c), default=None)
        filter_ = diagnostics.combined_filter([kind.log_filter(n, j) for n, j, _ in jobs], since=since)
        if not self.budget(shard_range).try_spend():
            self.skipped += 1
            log.info("log tail read deferred: over PSV_LOG_READS_PER_MINUTE", jobs=len(jobs), jobType=kind.job_type)
            return None
        self.reads += 1
        projects = sorted({n.project for n, _, _ in jobs})
        try:
            entries, _ = self.logs.list_entries(
                projects, filter_, min(deadline, time.monotonic() + READ_BUDGET_SECONDS), page_size=PAGE_SIZE
            )
        except UpstreamError as err:
            self.failed_reads += 1
            log.warning("reading failed jobs' logs failed; their tails come later", code=err.code, jobs=len(jobs))
            return None
        return entries

    @staticmethod
    def _entries_of(
        kind: JobKind, name: JobResourceName, job: dict[str, Any], entries: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]] | None:
        if entries is None:
            return None
        ids = {name.job_id, *kind.log_sources(job)}
        return [e for e in entries if diagnostics.entry_job_id(e) in ids]


def _age(run: dict[str, Any], now: datetime) -> float:
    ended = runs.parse_time(run.get("endTime") or run.get("updateTime") or run.get("recordedAt"))
    return (now - ended).total_seconds() if ended else 0.0


def _diagnosed(
    kind: JobKind, name: JobResourceName, job: dict[str, Any], entries: list[dict[str, Any]] | None
) -> Callable[[dict[str, Any]], bool | None]:
    """A run recorded without its detail gets its whole diagnosis (its tail too when `entries` were read), and with
    it the run's `failedTasks` and error message (kinds with `failed_tasks_on_run`)."""

    def mutate(r: dict[str, Any]) -> bool | None:
        if not diagnostics.detail_pending(r):
            return None  # another poller wrote it first
        diagnosis = diagnostics.diagnose(kind, name, job, entries, queued_too_long=bool(r.get("queuedAlerted")))
        r["diagnostics"] = diagnosis
        if kind.failed_tasks_on_run:
            diagnostics.name_failed_tasks(r, diagnosis)
        r["active"] = runs.needs_poller(r)
        return True

    return mutate


def _complete(job: dict[str, Any], entries: list[dict[str, Any]]) -> Callable[[dict[str, Any]], bool | None]:
    def mutate(r: dict[str, Any]) -> bool | None:
        if not diagnostics.tail_pending(r):
            return None  # another poller wrote it first
        r["diagnostics"] = diagnostics.with_tail(
            r["diagnostics"], kinds.of_record(r), job, entries, queued_too_long=bool(r.get("queuedAlerted"))
        )
        r["active"] = runs.needs_poller(r)
        return True

    return mutate
