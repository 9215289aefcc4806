"""The baseline poller: what Airflow's, Kubeflow's and Prefect's Vertex AI integrations do on every tick.

For each active run: GET the job (one Vertex AI call per run per tick), then record a change exactly as our
poller does (the same conditional writes in one commit, the same outbox, the same publish, the same per-location
poll stamp), so
that the only difference measured is how the Vertex AI states are obtained. GETs are sequential, as in those
connectors' per-task loops.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from polysync_vertex.core import runs, states
from polysync_vertex.core.errors import UpstreamError
from polysync_vertex.services.poll import PollService, record


def per_job_poll(app: Any, *, budget_seconds: float = 900.0) -> dict[str, Any]:
    """One tick of per-job GET polling over every active run; returns a summary like PollService.poll's."""
    service = PollService(app.settings, app.vertex, app.store, app.publisher)
    started = time.monotonic()
    deadline = started + budget_seconds
    now = datetime.now(UTC)
    seen = changes = 0
    locations: set[tuple[str, str]] = set()
    with_outbox: list[dict[str, Any]] = []
    writes: list[tuple[str, Any]] = []
    for run in app.store.active_runs(None):
        seen += 1
        locations.add((run["project"], run["location"]))
        observed: dict[str, Any] | None = None
        deleted = False
        if not states.is_final(run["vertexState"]):
            try:
                observed = app.vertex.get(run["runId"], deadline)
            except UpstreamError as err:
                deleted = err.code == "NOT_FOUND"
        mutate = record.mutation(run, observed, deleted, now, app.settings.queued_threshold_seconds)
        if mutate is not None:
            writes.append((runs.doc_id(run), mutate))
        elif run.get("outbox"):
            with_outbox.append(run)
    for written, latest in app.store.update_runs(writes):
        changes += written is not None
        if latest is not None and latest.get("outbox"):
            with_outbox.append(latest)
    for project, location in sorted(locations):
        app.store.mark_polled(project, location, runs.iso(now))
    published, _ = service.outbox.publish(with_outbox)
    return {
        "runsSeen": seen,
        "changes": changes,
        "eventsPublished": published,
        "seconds": round(time.monotonic() - started, 3),
    }
