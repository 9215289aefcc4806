"""Orphans: connector-labelled jobs that no run record holds (their create landed after the submit gave up).

An orphan is adopted as its request's run when the request has none (recorded, events from sequence 1), and
cancelled, with a WARNING, when the request already holds another job. Found three ways: the walks of the
observation see every non-final connector job (`in_listing`); each tick looks up the jobs of "stranded" requests (a
claim left "creating", a takeover under watch: `stranded`); every SWEEP_SECONDS a list of the connector jobs created
since the previous sweep, in every allowed project, location and kind, catches those already final when they landed
(`sweep`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ... import log
from ...config import Settings
from ...core import kinds, runs, states
from ...core.errors import UpstreamError
from ...core.kinds import JobKind
from ...core.labels import LABEL_JOB, LABEL_REQUEST, shard_of
from ...core.names import parent_name
from ...ports import PollStore
from .index import ActiveIndex
from .observe import Jobs, Observer, list_filter

# Requests left "creating" by a submit that gave up: looked up for this long after their lease, at most this many
# a tick.
STRANDED_MAX_AGE_SECONDS = 24 * 3600
STRANDED_LIMIT = 20


class Orphans:
    def __init__(self, settings: Settings, observer: Observer, store: PollStore) -> None:
        self.settings = settings
        self.observer = observer
        self.store = store

    def in_listing(
        self,
        kind: JobKind,
        index: ActiveIndex,
        listed: Jobs,
        group: list[dict[str, Any]],
        now: datetime,
        deadline: float,
    ) -> int:
        """Adopt or cancel the non-final listed jobs the index does not hold. Final jobs outside the index are
        recorded runs that ended (the update_time walk lists them for its margin); orphans that were final when
        they landed are the sweep's and the stranded lookup's. Returns the number adopted."""
        known = {e["runId"] for e in group}
        orphans = [
            job for name, job in listed.items() if name not in known and not states.is_final(job.get("state", ""))
        ]
        return sum(self.adopt_or_cancel(kind, index, job, now, deadline) for job in orphans)

    def stranded(self, index: ActiveIndex, now: datetime, deadline: float) -> int:
        """Requests whose earlier create may still land, looked up by label every tick (one list call each, for at
        most STRANDED_MAX_AGE_SECONDS after the lease ran out, or while a takeover's watch lasts): a job of a request
        without a run is adopted; a job of a recorded request that is not its run is cancelled while it runs."""
        adopted = 0
        lo, hi = index.range
        for key, record in self.store.stranded_requests(now.timestamp(), STRANDED_MAX_AGE_SECONDS, STRANDED_LIMIT):
            kind = kinds.by_collection(record.get("collection"))
            if not lo <= shard_of(key) < hi:
                continue
            filter_ = f'labels.{LABEL_REQUEST}="{key}"'
            try:
                jobs, _ = self.observer.page(kind, str(record["parent"]), filter_, deadline)
            except UpstreamError as err:
                log.warning("looking up a request's late jobs failed", requestKey=key, code=err.code)
                continue
            recorded = record.get("runId")
            for job in jobs:
                if job.get("name") == recorded or job.get("name") in index.entries:
                    continue
                if recorded:
                    if not states.is_final(job.get("state", "")):
                        self.cancel_duplicate(job["name"], key, recorded, job, deadline)
                else:
                    adopted += self.adopt_or_cancel(kind, index, job, now, deadline)
        return adopted

    def sweep(self, index: ActiveIndex, shard_range: tuple[int, int] | None, now: datetime, deadline: float) -> int:
        """Every SWEEP_SECONDS: the connector's jobs created since the previous sweep, in every allowed project,
        location and kind, whatever their state — so a late create is found even where no run is active, and when
        it was already final before anyone saw it. Returns the number adopted."""
        margin = timedelta(seconds=self.observer.tuning.update_time_margin)
        since = runs.iso((index.swept_at or now) - margin)
        adopted = 0
        for kind in kinds.KINDS:
            for project in self.settings.allowed_projects:
                for location in self.settings.allowed_locations:
                    parent = parent_name(project, location)
                    filter_ = list_filter(shard_range, kind, with_state=False, created_since=since)
                    try:
                        jobs = self.observer.walk(kind, parent, filter_, deadline, drop_final=False)
                    except UpstreamError as err:
                        log.warning("sweeping for orphan jobs failed; next sweep", parent=parent, code=err.code)
                        return adopted  # the sweep time is not advanced: the next tick sweeps again
                    for name, job in jobs.items():
                        if name not in index.entries:
                            adopted += self.adopt_or_cancel(kind, index, job, now, deadline)
        index.swept()
        return adopted

    def adopt_or_cancel(
        self, kind: JobKind, index: ActiveIndex, job: dict[str, Any], now: datetime, deadline: float
    ) -> int:
        """Adopt or cancel a connector job that the index does not hold. Returns 1 if adopted."""
        labels = job.get("labels") or {}
        key = labels.get(LABEL_REQUEST)
        name = job.get("name", "")
        if not key:
            return 0
        try:
            _, resource = kinds.parse_run_name(name, "name")
        except Exception:  # noqa: BLE001 - a name Vertex AI gave us that we cannot parse: leave it alone
            return 0
        existing = index.docs.get(name) or self.store.get_run(kinds.run_doc_id(resource))
        if existing is not None:  # recorded; the index had not caught up
            if runs.needs_poller(existing):
                index.track(existing)
            return 0
        if job.get("labels") is None or "displayName" not in job:  # a masked list entry: read it in full
            try:
                job = self.observer.get(name, deadline)
            except UpstreamError:
                return 0
        request = self.store.get_request(key) or {}
        if request.get("runId") not in (None, name):
            self.cancel_duplicate(name, key, request.get("runId"), job, deadline)
            return 0
        origin = runs.RunOrigin(
            request_id=str(request.get("requestId") or key),
            key=key,
            job_name=str(labels.get(LABEL_JOB) or job.get("displayName") or key),
            fingerprint=str(request.get("fingerprint") or ""),
            output_names=tuple(request.get("outputNames") or ()),
            outputs_file=request.get("outputsFile") or None,
        )
        run = runs.new_run(origin, resource, job, now)
        runs.announce_adopted(run, now)
        stored = self.store.adopt(key, run, kinds.run_doc_id(resource))
        if stored is None:
            request = self.store.get_request(key) or {}
            self.cancel_duplicate(name, key, request.get("runId"), job, deadline)
            return 0
        log.warning("orphan job adopted as its request's run", runId=name, requestKey=key)
        index.track(stored)
        return 1 if stored.get("adopted") else 0

    def cancel_duplicate(self, name: str, key: str, recorded: object, job: dict[str, Any], deadline: float) -> None:
        if states.is_final(job.get("state", "")):
            log.warning("duplicate job of a request found already ended", runId=name, requestKey=key, recorded=recorded)
            return
        try:
            self.observer.cancel(name, deadline)
        except UpstreamError as err:
            if err.code not in ("FAILED_PRECONDITION", "NOT_FOUND"):
                log.warning("cancelling a duplicate job failed; retried next tick", runId=name, code=err.code)
                return
        log.warning("duplicate job of a request cancelled", runId=name, requestKey=key, recorded=recorded)
