"""Push hints: Vertex AI's own job-state log entries, routed by a log sink to Pub/Sub (infra/hints.tf), make the
connector look at a job within seconds instead of at the next poll tick.

A hint is only a reason to look: the job is read with one GET (the API is the truth, never the entry) and what
changed is recorded through the tick's own conditional write and outbox (`PollService.record_found`, `Outbox`), so
a hint and a tick never publish one change twice or out of order. The run is read before the GET: a change the tick
recorded meanwhile makes the hint's write a no-op (record.mutation's precondition). A lost, late, duplicated or
malformed hint costs latency only: the tick still observes every active run.

Entries name a job by resource labels (the kind says which: `JobKind.hint_resource_type` / `hint_job_id_label`):
Pipeline Jobs `resource.labels.pipeline_job_id` (documented, Vertex AI "View pipeline job logs",
https://cloud.google.com/vertex-ai/docs/pipelines/logging), Custom Jobs `resource.labels.job_id` of the `ml_job`
service lines (best effort, not documented). An `ml_job` resource carries no location label: every allowed
location is tried, by Firestore reads only. A job with no run recorded (not the connector's) costs no Vertex AI call.
Bounded: one GET per job per batch, at most PSV_HINT_GETS_PER_MINUTE GETs a minute (`core/budget.py`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from ... import log
from ...config import Settings
from ...core import kinds, states
from ...core.budget import MinuteBudget
from ...core.errors import UpstreamError
from ...core.kinds import JobKind
from .outputs import OutputsReads
from .record import Todo
from .service import PollService

GET_BUDGET_SECONDS = 10.0
BY_RESOURCE_TYPE: dict[str, JobKind] = {k.hint_resource_type: k for k in kinds.KINDS if k.hint_resource_type}

# (kind, project, job id, locations to try)
Hint = tuple[JobKind, str, str, tuple[str, ...]]


def parse_entry(entry: Any, allowed_locations: tuple[str, ...]) -> Hint:
    """The job a LogEntry names; ValueError when it names none this connector could hold."""
    if not isinstance(entry, dict):
        raise ValueError("a LogEntry is a JSON object")
    resource = entry.get("resource")
    if not isinstance(resource, dict) or not isinstance(resource.get("labels"), dict):
        raise ValueError("no resource.labels")
    kind = BY_RESOURCE_TYPE.get(str(resource.get("type") or ""))
    if kind is None:
        raise ValueError(f"resource.type {str(resource.get('type'))[:80]!r} names no job kind with hints")
    labels = resource["labels"]
    job_id, project = labels.get(kind.hint_job_id_label), labels.get("project_id")
    if not isinstance(job_id, str) or not kind.id_pattern.match(job_id):
        raise ValueError(f"resource.labels.{kind.hint_job_id_label} is not a job id")
    if not isinstance(project, str) or not project:
        raise ValueError("no resource.labels.project_id")
    location = labels.get("location")
    if isinstance(location, str) and location:
        return kind, project, job_id, (location,)
    return kind, project, job_id, allowed_locations


class HintService:
    def __init__(self, settings: Settings, poll: PollService, budget: MinuteBudget | None = None) -> None:
        self.settings = settings
        self.poll = poll
        self.budget = budget if budget is not None else MinuteBudget(settings.hint_gets_per_minute)

    def handle(self, entries: list[Any]) -> dict[str, Any]:
        """Look at the jobs a batch of LogEntries names; returns the batch's summary (also logged)."""
        vertex_before = sum(self.poll.vertex.calls.values())
        hints: dict[str, JobKind] = {}
        malformed = 0
        for entry in entries:
            try:
                kind, project, job_id, locations = parse_entry(entry, self.settings.allowed_locations)
            except ValueError as exc:
                malformed += 1
                log.warning("malformed hint dropped", error=str(exc)[:200])
                continue
            if project in self.settings.allowed_projects:
                for location in locations:
                    hints[kind.run_doc_id(project, location, job_id)] = kind
        recorded = self.poll.store.get_runs(sorted(hints)) if hints else {}
        active = [(hints[d], run) for d, run in recorded.items() if not states.is_final(run["vertexState"])]
        now = datetime.now(UTC)
        deadline = time.monotonic() + max(GET_BUDGET_SECONDS, self.settings.request_budget_seconds / 2)
        found: dict[str, list[Todo]] = defaultdict(list)
        over_budget = failed = 0
        for kind, run in active:
            if not self.budget.try_spend():
                over_budget += 1
                continue
            try:
                observed = self.poll.observer.get(run["runId"], deadline)
            except UpstreamError as err:  # the tick observes it
                failed += 1
                log.warning("hint: reading the job failed", runId=run["runId"], code=err.code)
                continue
            found[kind.collection].append((run, observed, False))
        changes = 0
        stored: list[dict[str, Any]] = []
        reads = OutputsReads(self.poll.storage)
        for collection, todo in found.items():
            kind = kinds.BY_COLLECTION[collection]
            for latest, written in self.poll.record_found(kind, todo, None, now, deadline, reads):
                changes += written
                stored.append(latest)
        published, _ = self.poll.outbox.publish([run for run in stored if run.get("outbox")])
        summary = {
            "entries": len(entries),
            "malformed": malformed,
            "candidates": len(hints),
            "notOurs": len(hints) - len(recorded),
            "ended": len(recorded) - len(active),
            "overBudget": over_budget,
            "getFailed": failed,
            "changes": changes,
            "eventsPublished": published,
            "vertexCalls": sum(self.poll.vertex.calls.values()) - vertex_before,
        }
        # WARNING when hints were ignored over the GET budget: the alert on dropped hints counts these lines
        # (infra/monitoring.tf, hints_dropped), as it counts Vertex AI's 429s.
        (log.warning if over_budget else log.info)("hint batch", **summary)
        return summary
