"""Polysync's subscriber: every status event copy, in arrival order."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from polysync_local.client import EventReader


class EventCollector(threading.Thread):
    """Pulls (and acks) the status subscription as Polysync would, keeping every copy in arrival order."""

    def __init__(self, subscription: str, host: str) -> None:
        super().__init__(name="events", daemon=True)
        self.reader = EventReader(subscription, host)
        self.events: list[dict[str, Any]] = []
        self.last_arrival = time.monotonic()
        self.stop_event = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                batch = self.reader.pull(timeout=1.0, max_messages=500)
            except Exception:  # noqa: BLE001 - unacked messages come again; duplicates are dropped by ce-id
                time.sleep(0.5)
                continue
            if batch:
                with self._lock:
                    self.events.extend(batch)
                    self.last_arrival = time.monotonic()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        with contextlib.suppress(Exception):
            self.reader.close()
