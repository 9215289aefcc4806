"""poll: follow every active run at the cost of a few Vertex AI calls per tick, and publish each change once.

Per (project, location) with active runs, one walk over the connector's non-final jobs (label and state filter,
pages of 100, only the fields needed) tells which runs changed; only runs the walk no longer shows (they ended,
or were deleted) are fetched one by one. Each change is recorded in a transaction that re-reads the run, so
overlapping pollers and a racing cancel record it once; its event goes to the run's outbox in the same write and
is published after the commit, then removed. A failed publish stays in the outbox for the next tick.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from .. import log
from ..core import events, runs, states
from ..core.errors import UpstreamError
from ..core.jobs import LABEL_MANAGED_BY, LABEL_SHARD, MANAGED_BY, SHARDS
from ..core.names import parent_name
from .poll_index import ActiveIndex, needs_record

LIST_PAGE_SIZE = 100
STALE_TICK_SECONDS = 300
# Per-call budgets inside a tick: a call still failing after them is left for the next tick, so one bad job or
# page cannot eat the whole invocation.
GET_BUDGET_SECONDS = 5.0
PAGE_BUDGET_SECONDS = 20.0
READ_MASK = ("name", "state", "create_time", "start_time", "end_time", "update_time", "error")
_fallback_logged: set[str] = set()


def list_filter(shard_range: tuple[int, int] | None, *, with_state: bool = True) -> str:
    parts = [f'labels.{LABEL_MANAGED_BY}="{MANAGED_BY}"']
    if with_state:
        parts.append("(" + " OR ".join(f'state="{s}"' for s in states.NON_FINAL_STATES) + ")")
    if shard_range is not None and shard_range != (0, SHARDS):
        lo, hi = shard_range
        parts.append("(" + " OR ".join(f'labels.{LABEL_SHARD}="{i:02d}"' for i in range(lo, hi)) + ")")
    return " AND ".join(parts)


def shard_ranges(groups: int) -> list[tuple[int, int]]:
    groups = max(1, min(SHARDS, groups))
    bounds = [round(i * SHARDS / groups) for i in range(groups + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(groups) if bounds[i] < bounds[i + 1]]


class PollService:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.settings = app.settings
        self.get_budget = GET_BUDGET_SECONDS
        self.page_budget = PAGE_BUDGET_SECONDS

    # -- entry points --------------------------------------------------------------------------------------
    def tick(self, published: str | None = None) -> dict[str, Any]:
        """The scheduler's tick: poll inline, or fan out to shard workers when there is more than one can do.

        A tick older than STALE_TICK_SECONDS (a retried delivery after an outage) is acknowledged without work:
        the ticks that follow it do the polling, so a backlog of retries cannot pile up.
        """
        s = self.settings
        sent = _parse_time(published)
        if sent is not None:
            age = (datetime.now(UTC) - sent).total_seconds()
            if age > STALE_TICK_SECONDS:
                log.info("stale tick skipped", ageSeconds=round(age, 1))
                return {"skipped": "stale", "ageSeconds": round(age, 1)}
        if s.shard_topic:
            active = self.app.store.count_active()
            if active > s.poll_inline_max:
                ranges = shard_ranges(math.ceil(active / s.poll_inline_max))
                topic = s.topic_path(s.shard_topic)
                for lo, hi in ranges:
                    self.app.publisher.publish_plain(topic, b"{}", shardLo=str(lo), shardHi=str(hi))
                log.info("poll fanned out", activeRuns=active, shards=len(ranges))
                return {"fannedOut": len(ranges), "activeRuns": active}
        return self.poll(None)

    def shard(self, attributes: dict[str, str]) -> dict[str, Any]:
        """A shard worker's message. A malformed one is logged and acknowledged (retrying it cannot help)."""
        try:
            shard_range = parse_shard_message(attributes)
        except (KeyError, ValueError) as exc:
            log.error("malformed shard message dropped", attributes=attributes, error=str(exc))
            return {"skipped": "malformed"}
        return self.poll(shard_range)

    def poll(self, shard_range: tuple[int, int] | None) -> dict[str, Any]:
        started = time.monotonic()
        vertex_before = dict(self.app.vertex.calls)
        store_before = dict(self.app.store.counts)
        now = datetime.now(UTC)
        deadline = time.monotonic() + max(30.0, self.settings.request_budget_seconds * 10)

        index = ActiveIndex(self.app.store, shard_range, now).load()
        by_location: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for entry in index.entries.values():
            by_location[(entry["project"], entry["location"])].append(entry)
        seen = len(index.entries)

        changes = 0
        for (project, location), group in by_location.items():
            changes += self._poll_location(index, project, location, group, shard_range, now, deadline)
        published, stored = self._publish([run for run in index.docs.values() if run.get("outbox")])
        for run in stored:
            index.track(run)
        index.save()
        summary = {
            "shardRange": list(shard_range) if shard_range else None,
            "runsSeen": seen,
            "fullScan": index.full_scan,
            "locations": len(by_location),
            "changes": changes,
            "eventsPublished": published,
            "vertexCalls": _diff(self.app.vertex.calls, vertex_before),
            "firestore": _diff(self.app.store.counts, store_before),
            "seconds": round(time.monotonic() - started, 3),
        }
        log.info("poll tick", **summary)
        return summary

    # -- one location --------------------------------------------------------------------------------------
    def _list_active(
        self, parent: str, shard_range: tuple[int, int] | None, deadline: float
    ) -> dict[str, dict[str, Any]]:
        with_state = parent not in _fallback_logged
        try:
            return self._walk(
                parent, list_filter(shard_range, with_state=with_state), deadline, drop_final=not with_state
            )
        except UpstreamError as err:
            if not (with_state and err.code == "INVALID_ARGUMENT"):
                raise
        _fallback_logged.add(parent)
        log.warning(
            "Vertex AI rejected the state filter; listing by label alone and dropping final jobs client-side",
            parent=parent,
        )
        return self._walk(parent, list_filter(shard_range, with_state=False), deadline, drop_final=True)

    def _walk(self, parent: str, filter_: str, deadline: float, *, drop_final: bool) -> dict[str, dict[str, Any]]:
        listed: dict[str, dict[str, Any]] = {}
        token = ""
        while True:
            jobs, token = self.app.vertex.list_page(
                parent,
                min(deadline, time.monotonic() + self.page_budget),
                filter=filter_,
                page_size=LIST_PAGE_SIZE,
                page_token=token,
                read_mask=READ_MASK,
            )
            for job in jobs:
                if drop_final and states.is_final(job.get("state", "")):
                    continue
                listed[job["name"]] = job
            if not token:
                return listed

    def _poll_location(
        self,
        index: ActiveIndex,
        project: str,
        location: str,
        group: list[dict[str, Any]],
        shard_range: tuple[int, int] | None,
        now: datetime,
        deadline: float,
    ) -> int:
        parent = parent_name(project, location)
        changes = 0
        threshold = self.settings.queued_threshold_seconds
        listed: dict[str, dict[str, Any]] | None = None
        if any(not states.is_final(e["vertexState"]) for e in group):
            try:
                listed = self._list_active(parent, shard_range, deadline)
            except UpstreamError as err:
                log.warning(
                    "listing jobs failed; this location is polled again next tick", parent=parent, code=err.code
                )
        for entry in group:
            run_id = entry["runId"]
            observed: dict[str, Any] | None = None
            deleted = False
            if listed is not None and not states.is_final(entry["vertexState"]):
                observed = listed.get(run_id)
                if observed is None:  # left the non-final list: it ended (or was deleted)
                    try:
                        observed = self.app.vertex.get(run_id, min(deadline, time.monotonic() + self.get_budget))
                    except UpstreamError as err:
                        if err.code == "NOT_FOUND":
                            deleted = True
                        else:
                            log.warning("reading a job failed; retried next tick", runId=run_id, code=err.code)
            alert_due = runs.waited_too_long(entry, now, threshold) is not None
            observed_state = (observed.get("state") or states.UNSPECIFIED) if observed is not None else None
            if not needs_record(entry, observed_state, deleted, alert_due):
                continue
            run = index.docs.get(run_id) or self.app.store.get_run(
                f"{entry['project']}~{entry['location']}~{entry['jobId']}"
            )
            if run is None:
                index.forget(run_id)
                continue
            updated = self._record(run, observed, deleted, now)
            if updated is not None:
                changes += 1
                run = updated
            index.track(run)
        if listed is not None:
            self.app.store.mark_polled(project, location, runs.iso(now))
        return changes

    def _record(
        self, run: dict[str, Any], observed: dict[str, Any] | None, deleted: bool, now: datetime
    ) -> dict[str, Any] | None:
        """Record a change (or the queued_too_long alert) with the run's precondition; returns the run if written."""
        threshold = self.settings.queued_threshold_seconds
        state_changed = deleted or (observed is not None and observed.get("state") != run["vertexState"])
        alert_due = not state_changed and runs.waited_too_long(run, now, threshold) is not None
        if not (state_changed or alert_due):
            return None
        doc_id = f"{run['project']}~{run['location']}~{run['jobId']}"
        result: dict[str, Any] = {}

        def mutate(r: dict[str, Any]) -> dict[str, Any] | None:
            result.clear()  # a transaction retried after contention runs this again on fresh data
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
            if entry is None or r["vertexState"] in states.WAITING_STATES:
                entry = runs.queued_too_long(r, now, threshold) or entry
            if entry is not None:
                result["run"] = r
            return entry

        self.app.store.update_run(doc_id, mutate)
        return result.get("run")

    # -- outbox --------------------------------------------------------------------------------------------
    def _publish(self, pending: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        """Publish the outboxes of `pending` runs in order; returns the count and the runs as stored after."""
        stored: list[dict[str, Any]] = []
        if not pending:
            return 0, stored
        topic = self.settings.topic_path(self.settings.status_topic)
        messages = [events.to_message(e) for run in pending for e in run["outbox"]]
        published = self.app.publisher.publish(topic, messages)
        for run in pending:
            ids = {e["id"] for e in run["outbox"]} & published
            if not ids:
                continue
            doc_id = f"{run['project']}~{run['location']}~{run['jobId']}"
            latest: dict[str, Any] = {}

            def drop(r: dict[str, Any], ids: set[str] = ids, latest: dict[str, Any] = latest) -> bool | None:
                latest["run"] = r
                before = len(r.get("outbox", []))
                runs.drop_published(r, ids)
                return True if len(r["outbox"]) != before else None

            self.app.store.update_run(doc_id, drop)
            if "run" in latest:
                stored.append(latest["run"])
        return len(published), stored


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _diff(after: Any, before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in dict(after).items() if v - before.get(k, 0)}


def parse_shard_message(attributes: dict[str, str]) -> tuple[int, int]:
    lo, hi = int(attributes["shardLo"]), int(attributes["shardHi"])
    if not 0 <= lo < hi <= SHARDS:
        raise ValueError(f"bad shard range {lo}..{hi}")
    return lo, hi
