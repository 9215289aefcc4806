"""poll: follow every active run at the cost of a few Vertex AI calls per tick, and publish each change once.

Per (job kind, project, location) with active runs, a tick asks Vertex AI which runs changed:
- Kinds whose list filters on `update_time` (Pipeline Jobs): one walk over the connector's jobs updated since the
  previous tick (minus a margin); runs it does not show are unchanged. Between full scans that is about one call per
  location plus one per 100 changed jobs, whatever the number in flight.
- Otherwise (Custom, Batch Prediction Jobs), and for every kind at the full scan: one walk over the connector's
  non-final jobs (label and state filter, pages of 100, only the fields needed). Runs the walk no longer shows
  ended (or were deleted): their final states are read with list calls filtered by their request labels, up to
  FINISHED_BATCH per call, and by a GET for any such a call does not return.
Each change is written to the run with an update-time precondition, so overlapping pollers and a racing cancel
record it once; its event goes to the run's outbox in the same write and is published after the write, then
removed. A tick's changes go in one commit (and the removal of their published events in one more), each run with
its own precondition; if another writer touched one of them, that commit is refused whole and its runs are written
one by one. A failed publish stays in the outbox for the next tick.

Orphans: a connector-labelled job that no run record holds (its create landed after the submit gave up) is adopted
as its request's run when the request has none (recorded, events from sequence 1), and cancelled, with a WARNING,
when the request already holds another job. The walks above see every non-final connector job; at the full scan a
list of recently ended connector jobs also catches orphans that were already final when they appeared.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import log
from ..config import Settings
from ..core import events, kinds, runs, states
from ..core.errors import UpstreamError
from ..core.kinds import JobKind
from ..core.labels import LABEL_JOB, LABEL_REQUEST, LABEL_SHARD, SHARDS, shard_of
from ..core.names import parent_name
from ..ports import EventPublisher, PollStore, VertexPort
from .poll_index import ActiveIndex, needs_record

LIST_PAGE_SIZE = 100
STALE_TICK_SECONDS = 300
# Per-call budgets inside a tick: a call still failing after them is left for the next tick, so one bad job or
# page cannot eat the whole invocation.
GET_BUDGET_SECONDS = 5.0
PAGE_BUDGET_SECONDS = 20.0
# Request labels per list call that reads finished jobs' final states (an OR of label equalities). 50 keys of at
# most 57 characters make a filter of about 4.4 KB, well inside the URL sizes Google front ends accept.
FINISHED_BATCH = 50
# How far before the previous tick an update_time walk starts: clock skew and updates that commit late.
UPDATE_TIME_MARGIN_SECONDS = 120
# Requests left "creating" by a submit that gave up: looked up for this long after their lease, at most this many
# a tick.
STRANDED_MAX_AGE_SECONDS = 24 * 3600
STRANDED_LIMIT = 20
READ_MASK = ("name", "state", "create_time", "start_time", "end_time", "update_time", "error")
_fallback_logged: set[str] = set()


def list_filter(
    shard_range: tuple[int, int] | None,
    *,
    with_state: bool = True,
    kind: JobKind = kinds.DEFAULT,
    state_set: tuple[str, ...] | None = None,
    since: str | None = None,
    created_since: str | None = None,
) -> str:
    """The connector's jobs of `kind`: in `state_set` (default: its non-final states), updated at or after `since`,
    in the shard range."""
    extra: list[str] = []
    if with_state:
        chosen = state_set if state_set is not None else kind.states.non_final
        extra.append("(" + " OR ".join(f'state="{s}"' for s in chosen) + ")")
    if since is not None:
        extra.append(f'update_time>="{since}"')
    if created_since is not None:
        extra.append(f'create_time>="{created_since}"')
    if shard_range is not None and shard_range != (0, SHARDS):
        lo, hi = shard_range
        extra.append("(" + " OR ".join(f'labels.{LABEL_SHARD}="{i:02d}"' for i in range(lo, hi)) + ")")
    return kind.list_filter(extra=tuple(extra))


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


class PollService:
    def __init__(self, settings: Settings, vertex: VertexPort, store: PollStore, publisher: EventPublisher) -> None:
        self.settings = settings
        self.vertex = vertex
        self.store = store
        self.publisher = publisher
        self.get_budget = GET_BUDGET_SECONDS
        self.page_budget = PAGE_BUDGET_SECONDS

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
                for lo, hi in ranges:
                    self.publisher.publish_plain(topic, b"{}", shardLo=str(lo), shardHi=str(hi))
                log.info("poll fanned out", activeRuns=active, shards=len(ranges))
                return {"fannedOut": len(ranges), "activeRuns": active}
        return self.poll(None)

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
        return self.poll(shard_range)

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
            collection = entry.get("collection") or kinds.DEFAULT.collection
            by_location[(collection, entry["project"], entry["location"])].append(entry)
        seen = len(index.entries)

        changes = adopted = 0
        for (collection, project, location), group in by_location.items():
            kind = kinds.BY_COLLECTION[collection]
            c, a = self._poll_location(kind, index, project, location, group, shard_range, now, deadline)
            changes, adopted = changes + c, adopted + a
        adopted += self._stranded(index, now, deadline)
        if index.sweep_due:
            adopted += self._sweep(index, shard_range, now, deadline)
        published, stored = self._publish([run for run in index.docs.values() if run.get("outbox")])
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
            "vertexCalls": _diff(self.vertex.calls, vertex_before),
            "firestore": _diff(self.store.counts, store_before),
            "seconds": round(time.monotonic() - started, 3),
        }
        log.info("poll tick", **summary)
        return summary

    # -- asking Vertex AI ------------------------------------------------------------------------------------
    def _page(
        self, kind: JobKind, parent: str, filter_: str, deadline: float, token: str = ""
    ) -> tuple[list[dict[str, Any]], str]:
        """One list call of the poller: pages of 100, the kind's read mask, the per-call budget."""
        return self.vertex.list_page(
            parent,
            min(deadline, time.monotonic() + self.page_budget),
            kind=kind,
            filter=filter_,
            page_size=LIST_PAGE_SIZE,
            page_token=token,
            read_mask=kind.read_mask,
        )

    def _walk(
        self, kind: JobKind, parent: str, filter_: str, deadline: float, *, drop_final: bool
    ) -> dict[str, dict[str, Any]]:
        listed: dict[str, dict[str, Any]] = {}
        token = ""
        while True:
            jobs, token = self._page(kind, parent, filter_, deadline, token)
            for job in jobs:
                if drop_final and states.is_final(job.get("state", "")):
                    continue
                listed[job["name"]] = job
            if not token:
                return listed

    def _list_active(
        self, kind: JobKind, parent: str, shard_range: tuple[int, int] | None, deadline: float
    ) -> dict[str, dict[str, Any]]:
        fallback_key = f"{kind.collection}:{parent}"
        with_state = fallback_key not in _fallback_logged
        try:
            return self._walk(
                kind,
                parent,
                list_filter(shard_range, with_state=with_state, kind=kind),
                deadline,
                drop_final=not with_state,
            )
        except UpstreamError as err:
            if not (with_state and err.code == "INVALID_ARGUMENT"):
                raise
        _fallback_logged.add(fallback_key)
        log.warning(
            "Vertex AI rejected the state filter; listing by label alone and dropping final jobs client-side",
            parent=parent,
            jobType=kind.job_type,
        )
        return self._walk(
            kind, parent, list_filter(shard_range, with_state=False, kind=kind), deadline, drop_final=True
        )

    def _read_finished(
        self, kind: JobKind, parent: str, entries: list[dict[str, Any]], deadline: float
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """Final states of runs that left the non-final list: ({runId: job}, {runIds whose job no longer exists}).
        By list calls filtered by request labels, FINISHED_BATCH per call; a GET for anything those miss."""
        found: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        keyed = [e for e in entries if e.get("requestKey")]
        fallback_key = f"labels:{kind.collection}:{parent}"
        if fallback_key not in _fallback_logged:
            for i in range(0, len(keyed), FINISHED_BATCH):
                batch = keyed[i : i + FINISHED_BATCH]
                filter_ = " OR ".join(f'labels.{LABEL_REQUEST}="{e["requestKey"]}"' for e in batch)
                try:
                    jobs, _ = self._page(kind, parent, filter_, deadline)
                except UpstreamError as err:
                    if err.code == "INVALID_ARGUMENT":
                        _fallback_logged.add(fallback_key)
                        log.warning(
                            "Vertex AI rejected the label OR filter; reading finished jobs one by one",
                            parent=parent,
                            jobType=kind.job_type,
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
                found[run_id] = self.vertex.get(run_id, min(deadline, time.monotonic() + self.get_budget))
            except UpstreamError as err:
                if err.code == "NOT_FOUND":
                    deleted.add(run_id)
                else:
                    log.warning("reading a job failed; retried next tick", runId=run_id, code=err.code)
        return found, deleted

    # -- one kind in one location --------------------------------------------------------------------------
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
    ) -> tuple[int, int]:
        parent = parent_name(project, location)
        threshold = self.settings.queued_threshold_seconds
        listed: dict[str, dict[str, Any]] | None = None
        finished: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        by_update_time = kind.poll_by_update_time and not index.full_scan and index.cursor is not None
        in_flight = [e for e in group if not states.is_final(e["vertexState"])]
        try:
            if by_update_time and in_flight:
                assert index.cursor is not None
                since = runs.iso(index.cursor - timedelta(seconds=UPDATE_TIME_MARGIN_SECONDS))
                listed = self._walk(
                    kind,
                    parent,
                    list_filter(shard_range, with_state=False, kind=kind, since=since),
                    deadline,
                    drop_final=False,
                )
            elif in_flight or index.full_scan:
                listed = self._list_active(kind, parent, shard_range, deadline)
                left = [e for e in in_flight if e["runId"] not in listed]
                if left:
                    finished, deleted = self._read_finished(kind, parent, left, deadline)
        except UpstreamError as err:
            log.warning("listing jobs failed; this location is polled again next tick", parent=parent, code=err.code)
            listed = None
        # The runs to record: those whose state changed, were deleted, have events waiting or are due an alert.
        todo: list[tuple[dict[str, Any], dict[str, Any] | None, bool]] = []  # (entry, observed job, deleted)
        for entry in group:
            run_id = entry["runId"]
            observed: dict[str, Any] | None = None
            if listed is not None and not states.is_final(entry["vertexState"]):
                observed = listed.get(run_id) or finished.get(run_id)
            alert_due = runs.waited_too_long(entry, now, threshold) is not None
            gone = run_id in deleted
            observed_state = (observed.get("state") or kind.states.unspecified) if observed is not None else None
            if needs_record(entry, observed_state, gone, alert_due):
                todo.append((entry, observed, gone))
        doc_ids = {e["runId"]: kind.run_doc_id(e["project"], e["location"], e["jobId"]) for e, _, _ in todo}
        unread = [doc_ids[e["runId"]] for e, _, _ in todo if e["runId"] not in index.docs]
        fetched = self.store.get_runs(unread) if unread else {}
        writes: list[tuple[str, Any]] = []
        for entry, observed, gone in todo:
            run = index.docs.get(entry["runId"]) or fetched.get(doc_ids[entry["runId"]])
            if run is None:
                index.forget(entry["runId"])
                continue
            mutate = self._mutation(run, observed, gone, now)
            if mutate is None:
                index.track(run)
            else:
                writes.append((runs.doc_id(run), mutate))
        changes = 0
        for written, latest in self.store.update_runs(writes):
            if latest is None:
                continue
            changes += written is not None
            index.track(latest)
        adopted = 0
        if listed is not None:
            known = {e["runId"] for e in group}
            # Final jobs outside the index are recorded runs that ended (the update_time walk lists them for its
            # margin); orphans that were final when they landed are the sweep's and the stranded lookup's.
            orphans = [
                job for name, job in listed.items() if name not in known and not states.is_final(job.get("state", ""))
            ]
            for job in orphans:
                adopted += self._orphan(kind, index, job, now, deadline)
            self.store.mark_polled(project, location, runs.iso(now))
        return changes, adopted

    def _stranded(self, index: ActiveIndex, now: datetime, deadline: float) -> int:
        """Requests whose earlier create may still land, looked up by label every tick (one list call each, for at
        most STRANDED_MAX_AGE_SECONDS after the lease ran out, or while a takeover's watch lasts): a job of a request
        without a run is adopted; a job of a recorded request that is not its run is cancelled while it runs."""
        adopted = 0
        lo, hi = index.range
        for key, record in self.store.stranded_requests(now.timestamp(), STRANDED_MAX_AGE_SECONDS, STRANDED_LIMIT):
            kind = kinds.BY_COLLECTION.get(str(record.get("collection") or ""), kinds.DEFAULT)
            if not lo <= shard_of(key) < hi:
                continue
            filter_ = f'labels.{LABEL_REQUEST}="{key}"'
            try:
                jobs, _ = self._page(kind, str(record["parent"]), filter_, deadline)
            except UpstreamError as err:
                log.warning("looking up a request's late jobs failed", requestKey=key, code=err.code)
                continue
            recorded = record.get("runId")
            for job in jobs:
                if job.get("name") == recorded or job.get("name") in index.entries:
                    continue
                if recorded:
                    if not states.is_final(job.get("state", "")):
                        self._cancel_duplicate(job["name"], key, recorded, job, deadline)
                else:
                    adopted += self._orphan(kind, index, job, now, deadline)
        return adopted

    def _sweep(self, index: ActiveIndex, shard_range: tuple[int, int] | None, now: datetime, deadline: float) -> int:
        """Every SWEEP_SECONDS: the connector's jobs created since the previous sweep, in every allowed project,
        location and kind, whatever their state — so a late create is found even where no run is active, and when
        it was already final before anyone saw it. Returns the number adopted."""
        since = runs.iso((index.swept_at or now) - timedelta(seconds=UPDATE_TIME_MARGIN_SECONDS))
        adopted = 0
        for kind in kinds.KINDS:
            for project in self.settings.allowed_projects:
                for location in self.settings.allowed_locations:
                    parent = parent_name(project, location)
                    filter_ = list_filter(shard_range, with_state=False, kind=kind, created_since=since)
                    try:
                        jobs = self._walk(kind, parent, filter_, deadline, drop_final=False)
                    except UpstreamError as err:
                        log.warning("sweeping for orphan jobs failed; next sweep", parent=parent, code=err.code)
                        return adopted  # the sweep time is not advanced: the next tick sweeps again
                    for name, job in jobs.items():
                        if name not in index.entries:
                            adopted += self._orphan(kind, index, job, now, deadline)
        index.swept()
        return adopted

    def _orphan(self, kind: JobKind, index: ActiveIndex, job: dict[str, Any], now: datetime, deadline: float) -> int:
        """Adopt or cancel a connector job that the index does not hold. Returns 1 if adopted."""
        labels = job.get("labels") or {}
        key = labels.get(LABEL_REQUEST)
        name = job.get("name", "")
        if not key:
            return 0
        try:
            _, job_name = kinds.parse_run_name(name, "name")
        except Exception:  # noqa: BLE001 - a name Vertex AI gave us that we cannot parse: leave it alone
            return 0
        existing = index.docs.get(name) or self.store.get_run(kinds.run_doc_id(job_name))
        if existing is not None:  # recorded; the index had not caught up
            if runs.needs_poller(existing):
                index.track(existing)
            return 0
        if job.get("labels") is None or "displayName" not in job:  # a masked list entry: read it in full
            try:
                job = self.vertex.get(name, min(deadline, time.monotonic() + self.get_budget))
            except UpstreamError:
                return 0
        request = self.store.get_request(key) or {}
        if request.get("runId") not in (None, name):
            self._cancel_duplicate(name, key, request.get("runId"), job, deadline)
            return 0
        origin = runs.RunOrigin(
            request_id=str(request.get("requestId") or key),
            key=key,
            job_name=str(labels.get(LABEL_JOB) or job.get("displayName") or key),
            fingerprint=str(request.get("fingerprint") or ""),
            output_names=tuple(request.get("outputNames") or ()),
        )
        run = runs.new_run(origin, job_name, job, now)
        runs.announce_adopted(run, now)
        stored = self.store.adopt(key, run, kinds.run_doc_id(job_name))
        if stored is None:
            request = self.store.get_request(key) or {}
            self._cancel_duplicate(name, key, request.get("runId"), job, deadline)
            return 0
        log.warning("orphan job adopted as its request's run", runId=name, requestKey=key)
        index.track(stored)
        return 1 if stored.get("adopted") else 0

    def _cancel_duplicate(self, name: str, key: str, recorded: object, job: dict[str, Any], deadline: float) -> None:
        if states.is_final(job.get("state", "")):
            log.warning("duplicate job of a request found already ended", runId=name, requestKey=key, recorded=recorded)
            return
        try:
            self.vertex.cancel(name, min(deadline, time.monotonic() + self.get_budget))
        except UpstreamError as err:
            if err.code not in ("FAILED_PRECONDITION", "NOT_FOUND"):
                log.warning("cancelling a duplicate job failed; retried next tick", runId=name, code=err.code)
                return
        log.warning("duplicate job of a request cancelled", runId=name, requestKey=key, recorded=recorded)

    def _mutation(self, run: dict[str, Any], observed: dict[str, Any] | None, deleted: bool, now: datetime) -> Any:
        """How to record a change (or the queued_too_long alert) on the run, or None when there is nothing to
        record. Applied by the store with the run's precondition (re-applied to a fresh read if it changed)."""
        threshold = self.settings.queued_threshold_seconds
        state_changed = deleted or (observed is not None and observed.get("state") != run["vertexState"])
        alert_due = not state_changed and runs.waited_too_long(run, now, threshold) is not None
        if not (state_changed or alert_due):
            return None

        def mutate(r: dict[str, Any]) -> dict[str, Any] | None:
            if r["vertexState"] != run["vertexState"]:
                # Another poller or a cancel recorded a change since this tick read the run: the observation may be
                # older than that change (recording it would move the run back); the next tick looks again.
                return None
            if deleted:
                entry = runs.mark_deleted(r, now)
            elif state_changed and observed is not None:
                entry = runs.apply_state(r, observed, now)
            else:
                entry = None
            if entry is None or r["vertexState"] in states.ANY_WAITING:
                entry = runs.queued_too_long(r, now, threshold) or entry
            return entry

        return mutate

    # -- outbox --------------------------------------------------------------------------------------------
    def _publish(self, pending: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        """Publish the outboxes of `pending` runs in order; returns the count and the runs as stored after."""
        stored: list[dict[str, Any]] = []
        if not pending:
            return 0, stored
        topic = self.settings.topic_path(self.settings.status_topic)
        messages = [events.to_message(e) for run in pending for e in run["outbox"]]
        published = self.publisher.publish(topic, messages)
        drops: list[tuple[str, Any]] = []
        for run in pending:
            ids = {e["id"] for e in run["outbox"]} & published
            if not ids:
                continue

            def drop(r: dict[str, Any], ids: set[str] = ids) -> bool | None:
                before = len(r.get("outbox", []))
                runs.drop_published(r, ids)
                return True if len(r["outbox"]) != before else None

            drops.append((runs.doc_id(run), drop))
        # One commit for all of them (each with its own precondition), not one per run.
        stored = [latest for _, latest in self.store.update_runs(drops) if latest is not None]
        return len(published), stored


def _diff(after: Any, before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in dict(after).items() if v - before.get(k, 0)}


def parse_shard_message(attributes: dict[str, str]) -> tuple[int, int]:
    lo, hi = int(attributes["shardLo"]), int(attributes["shardHi"])
    if not 0 <= lo < hi <= SHARDS:
        raise ValueError(f"bad shard range {lo}..{hi}")
    return lo, hi
