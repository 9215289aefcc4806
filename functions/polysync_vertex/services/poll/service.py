"""The poller's entry points: the scheduler's tick (inline, or fanned out to shard workers), a shard worker's
message, and one tick over a shard range, which reads the index, observes each (kind, project, location), records
the changes, adopts or cancels orphans, publishes the outboxes and saves the index."""

from __future__ import annotations

import functools
import math
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from ... import log
from ...config import Settings
from ...core import diagnostics, kinds, runs
from ...core.kinds import JobKind
from ...core.labels import SHARDS
from ...core.names import parent_name
from ...ports import EventPublisher, LogReader, ObjectReader, PollStore, VertexPort
from ..diagnose import Diagnoser
from . import cadence, record
from .index import ActiveIndex
from .observe import Observer, Tuning, UnsupportedFilters
from .orphans import Orphans
from .outbox import Outbox
from .outputs import MAX_READS_PER_TICK, Decision, OutputsReads

STALE_TICK_SECONDS = 300


def shard_ranges(groups: int) -> list[tuple[int, int]]:
    groups = max(1, min(SHARDS, groups))
    bounds = [round(i * SHARDS / groups) for i in range(groups + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(groups) if bounds[i] < bounds[i + 1]]


def is_stale(published: str | None, now: datetime) -> float | None:
    """The age in seconds of a delivery older than STALE_TICK_SECONDS (by its CloudEvent time), else None."""
    sent = runs.parse_time(published)
    if sent is None:
        return None
    age = (now - sent).total_seconds()
    return round(age, 1) if age > STALE_TICK_SECONDS else None


def parse_shard_message(attributes: dict[str, str]) -> tuple[int, int]:
    lo, hi = int(attributes["shardLo"]), int(attributes["shardHi"])
    if not 0 <= lo < hi <= SHARDS:
        raise ValueError(f"bad shard range {lo}..{hi}")
    return lo, hi


def shard_budget(attributes: dict[str, str]) -> float | None:
    """A shard message's share of the list-call budget; None (one pass) when absent or unreadable (a message
    published before the cadence existed)."""
    try:
        budget = float(attributes[cadence.BUDGET_ATTRIBUTE])
    except (KeyError, ValueError):
        return None
    return budget if math.isfinite(budget) and budget >= 0 else None


class PollService:
    def __init__(
        self,
        settings: Settings,
        vertex: VertexPort,
        store: PollStore,
        publisher: EventPublisher,
        unsupported: UnsupportedFilters | None = None,
        storage: ObjectReader | None = None,
        logs: LogReader | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage  # reads Custom Jobs' outputs files (services/poll/outputs.py)
        self.outputs_reads_per_tick = MAX_READS_PER_TICK
        self.vertex = vertex
        self.store = store
        self.publisher = publisher
        self.tuning = Tuning()
        self.observer = Observer(vertex, self.tuning, unsupported if unsupported is not None else UnsupportedFilters())
        self.orphans = Orphans(settings, self.observer, store)
        self.outbox = Outbox(settings, publisher, store)
        self.diagnoser = Diagnoser(vertex, logs, settings.log_reads_per_minute) if logs is not None else None
        self.clock = cadence.Clock()  # the cadence's wall clock and sleep (tests inject theirs)

    # -- entry points --------------------------------------------------------------------------------------
    def tick(self, published: str | None = None) -> dict[str, Any]:
        """The scheduler's tick: poll inline, or fan out to shard workers when there is more than one can do.

        A tick older than STALE_TICK_SECONDS (a retried delivery after an outage) is acknowledged without work:
        the ticks that follow it do the polling, so a backlog of retries cannot pile up.
        """
        s = self.settings
        age = is_stale(published, datetime.now(UTC))
        if age is not None:
            log.info("stale tick skipped", ageSeconds=age)
            return {"skipped": "stale", "ageSeconds": age}
        if s.shard_topic:
            active = self.store.count_active()
            if active > s.poll_inline_max:
                ranges = shard_ranges(math.ceil(active / s.poll_inline_max))
                topic = s.topic_path(s.shard_topic)
                share = {cadence.BUDGET_ATTRIBUTE: f"{s.poll_calls_per_minute / len(ranges):g}"}
                for lo, hi in ranges:
                    self.publisher.publish_plain(topic, b"{}", shardLo=str(lo), shardHi=str(hi), **share)
                log.info("poll fanned out", activeRuns=active, shards=len(ranges))
                return {"fannedOut": len(ranges), "activeRuns": active}
        return self._cadence(None, published, s.poll_calls_per_minute)

    def shard(self, attributes: dict[str, str], published: str | None = None) -> dict[str, Any]:
        """A shard worker's message. A malformed one is logged and acknowledged (retrying it cannot help); one
        older than STALE_TICK_SECONDS is acknowledged without work, like a stale tick (the next tick redoes it)."""
        try:
            shard_range = parse_shard_message(attributes)
        except (KeyError, ValueError) as exc:
            log.error("malformed shard message dropped", attributes=attributes, error=str(exc))
            return {"skipped": "malformed"}
        age = is_stale(published, datetime.now(UTC))
        if age is not None:
            log.info("stale shard work skipped", ageSeconds=age, shardRange=list(shard_range))
            return {"skipped": "stale", "ageSeconds": age}
        return self._cadence(shard_range, published, shard_budget(attributes))

    def _cadence(
        self, shard_range: tuple[int, int] | None, published: str | None, budget: float | None
    ) -> dict[str, Any]:
        """The first pass, then more inside this tick's minute as the budget allows (services/poll/cadence.py)."""
        lo, hi = shard_range or (0, SHARDS)
        sent = runs.parse_time(published)
        plan = cadence.Plan(
            scope=f"{lo:02d}~{hi:02d}",
            tick_time=sent.timestamp() if sent is not None else self.clock.now(),
            interval=self.settings.poll_interval_seconds,
            budget=budget,
        )
        return cadence.run(plan, lambda: self.poll(shard_range), self.store.take_lease, self.clock)

    def poll(self, shard_range: tuple[int, int] | None) -> dict[str, Any]:
        """One tick over the runs of `shard_range` (None: all): read the index, ask Vertex AI per kind and
        location, record changes, publish outboxes, save the index. Returns the tick's summary (also logged)."""
        started = time.monotonic()
        vertex_before = dict(self.vertex.calls)
        store_before = dict(self.store.counts)
        now = datetime.now(UTC)
        deadline = time.monotonic() + max(30.0, self.settings.request_budget_seconds * 10)

        index = ActiveIndex(self.store, shard_range, now).load()
        by_location: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for entry in index.entries.values():
            by_location[
                (kinds.by_collection(entry.get("collection")).collection, entry["project"], entry["location"])
            ].append(entry)
        seen = len(index.entries)

        changes = adopted = 0
        reads = OutputsReads(self.storage, limit=self.outputs_reads_per_tick)
        for (collection, project, location), group in by_location.items():
            kind = kinds.BY_COLLECTION[collection]
            c, a = self._poll_location(kind, index, project, location, group, shard_range, now, deadline, reads)
            changes, adopted = changes + c, adopted + a
        adopted += self.orphans.stranded(index, now, deadline)
        if index.sweep_due:
            adopted += self.orphans.sweep(index, shard_range, now, deadline)
        published, stored = self.outbox.publish([run for run in index.docs.values() if run.get("outbox")])
        for run in stored:
            index.track(run)
        index.save()
        summary = {
            "shardRange": list(shard_range) if shard_range else None,
            "runsSeen": seen,
            "fullScan": index.full_scan,
            "locations": len({(p, loc) for _, p, loc in by_location}),
            "changes": changes,
            "adopted": adopted,
            "eventsPublished": published,
            "outputsRead": reads.reads,
            "failedJobGets": reads.detail_gets,
            "activeRuns": len(index.entries),
            "projectedListCalls": max(cadence.calls_per_pass(index.entries.values()).values(), default=0),
            "vertexCalls": _diff(self.vertex.calls, vertex_before),
            "firestore": _diff(self.store.counts, store_before),
            "seconds": round(time.monotonic() - started, 3),
        }
        log.info("poll tick", **summary)
        return summary

    def _poll_location(
        self,
        kind: JobKind,
        index: ActiveIndex,
        project: str,
        location: str,
        group: list[dict[str, Any]],
        shard_range: tuple[int, int] | None,
        now: datetime,
        deadline: float,
        reads: OutputsReads,
    ) -> tuple[int, int]:
        """One kind in one location: observe, record what changed (one commit), adopt or cancel orphans."""
        parent = parent_name(project, location)
        threshold = self.settings.queued_threshold_seconds
        seen = self.observer.observe(kind, parent, group, shard_range, index.cursor, index.full_scan, deadline)
        todo = record.to_record(kind, group, seen, now, threshold)
        unread = [runs.doc_id(e) for e, _, _ in todo if e["runId"] not in index.docs]
        fetched = self.store.get_runs(unread) if unread else {}
        found: list[tuple[dict[str, Any], dict[str, Any] | None, bool]] = []
        decided: dict[str, Decision] = {}
        for entry, observed, gone in todo:
            run = index.docs.get(entry["runId"]) or fetched.get(runs.doc_id(entry))
            if run is None:
                index.forget(entry["runId"])
                continue
            if observed is not None and record.needs_full_job(kind, run, observed):
                # bounded per tick with the outputs files' reads; a failed GET retried once next tick (outputs.py)
                run_id = entry["runId"]
                full, decision = reads.full_job(run, observed, functools.partial(self.observer.get, run_id, deadline))
                if full is not None:
                    observed = full
                elif decision is not None:
                    decided[run_id] = decision
            found.append((run, observed, gone))
        changes = 0
        for latest, written in self.record_found(kind, found, shard_range, now, deadline, reads, decided):
            changes += written
            index.track(latest)
        adopted = 0
        if seen.listed is not None:
            adopted = self.orphans.in_listing(kind, index, seen.listed, group, now, deadline)
            self.store.mark_polled(project, location, runs.iso(now))
        return changes, adopted

    def record_found(
        self,
        kind: JobKind,
        found: list[record.Todo],
        shard_range: tuple[int, int] | None,
        now: datetime,
        deadline: float,
        reads: OutputsReads,
        decided: dict[str, Decision] | None = None,
    ) -> list[tuple[dict[str, Any], bool]]:
        """Record what was observed of runs (as read before the observation): the one conditional write path of
        the tick and of hints (services/poll/hints.py). Returns each run as stored after, and whether it changed."""
        threshold = self.settings.queued_threshold_seconds
        # Runs ending Failed: diagnosed with the job as read above (a Pipeline Job's GET serves both).
        diagnoses, tails = self._diagnose(kind, [(r, o) for r, o, _ in found], shard_range, now, deadline, reads)
        writes: list[tuple[str, Any]] = list(tails)
        out: list[tuple[dict[str, Any], bool]] = []
        for run, observed, gone in found:
            outputs = (decided or {}).get(run["runId"]) or reads.decide_observed(run, observed, gone, deadline)
            diagnosis = diagnoses.get(run["runId"])
            mutate = record.mutation(run, observed, gone, now, threshold, outputs, diagnosis=diagnosis)
            if mutate is None:
                out.append((run, False))
            else:
                writes.append((runs.doc_id(run), mutate))
        for written, latest in self.store.update_runs(writes):
            if latest is not None:
                out.append((latest, written is not None))
        return out

    def _diagnose(
        self,
        kind: JobKind,
        read: list[tuple[dict[str, Any], dict[str, Any] | None]],
        shard_range: tuple[int, int] | None,
        now: datetime,
        deadline: float,
        reads: OutputsReads,
    ) -> tuple[dict[str, dict[str, Any]], list[tuple[str, Any]]]:
        """Diagnostics of the runs ending Failed now ({runId: diagnostics}) and the writes completing the log tails
        (and the detail) of runs recorded earlier without them (services/diagnose.py). The GETs of failed jobs for
        their detail count against the tick's bound on reads (`reads`)."""
        if self.diagnoser is None:
            return {}, []
        failing = [(run, observed) for run, observed in read if observed and record.ends_failed(run, observed)]
        pending = [run for run, observed in read if diagnostics.tail_pending(run) and not observed]
        diagnoses = self.diagnoser.failures(kind, failing, shard_range, deadline, reads.take_detail)
        return diagnoses, self.diagnoser.tails(kind, pending, now, shard_range, deadline, reads.take_detail)


def _diff(after: Any, before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in dict(after).items() if v - before.get(k, 0)}
