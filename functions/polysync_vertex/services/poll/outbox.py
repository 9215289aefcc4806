"""Publishing the runs' outboxes: each change's event was written to its run with the change; it is published
after the write committed, then removed from the run. A failed publish stays in the outbox for the next tick, which
publishes it with the same `ce-id`."""

from __future__ import annotations

from typing import Any

from ...config import Settings
from ...core import events, outputs, runs
from ...ports import EventPublisher, PollStore


class Outbox:
    def __init__(self, settings: Settings, publisher: EventPublisher, store: PollStore) -> None:
        self.settings = settings
        self.publisher = publisher
        self.store = store

    def publish(self, pending: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        """Publish the outboxes of `pending` runs in order; returns the count and the runs as stored after. A run
        whose outputs are still to be read (`outputs.due`) keeps its events until a tick has read them."""
        pending = [run for run in pending if not outputs.due(run)]
        if not pending:
            return 0, []
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
