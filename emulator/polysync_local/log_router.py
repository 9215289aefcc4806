"""Stand-in for Cloud Logging's log router with the hints sink of infra/hints.tf: it reads the Vertex AI emulator's
`entries:list` every `period` seconds, keeps the entries the sink filter keeps (Pipeline Jobs' pipeline_job_events,
Custom Jobs' service lines with the label ml.googleapis.com/job_state), and publishes each new one (one LogEntry per
message, as a sink does) to the hints topic after `delay` seconds (default 1-2 s); `drop_rate` of them are dropped,
for tests of hint loss; `duplicate` copies of each are published (each copy its own delay) and with `shuffle` what is
due goes out in random order, for hint storms (the chaos run: 3 copies, shuffled). All three may be changed while it
runs. The stack's Eventarc forwarder then delivers them to `hint`."""

from __future__ import annotations

import heapq
import json
import logging
import random
import threading
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("polysync_local.stack")


def sink_keeps(entry: dict[str, Any]) -> bool:
    """infra/hints.tf's sink filter, for the entries the emulator writes."""
    resource = entry.get("resource") or {}
    labels = resource.get("labels") or {}
    if resource.get("type") == "aiplatform.googleapis.com/PipelineJob":
        return str(entry.get("logName", "")).endswith("/logs/aiplatform.googleapis.com%2Fpipeline_job_events")
    return (
        resource.get("type") == "ml_job"
        and labels.get("task_name") == "service"
        and "ml.googleapis.com/job_state" in (entry.get("labels") or {})
    )


def list_entries(vertex_url: str, project: str, filter_: str = "") -> list[dict[str, Any]]:
    """Every entry of `project` the emulator holds (all pages), or those `filter_` (Logging query language) keeps."""
    out: list[dict[str, Any]] = []
    token = ""
    while True:
        body: dict[str, Any] = {"resourceNames": [f"projects/{project}"], "pageSize": 1000}
        if filter_:
            body["filter"] = filter_
        if token:
            body["pageToken"] = token
        req = urllib.request.Request(
            f"{vertex_url}/v2/entries:list",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            page = json.loads(resp.read())
        out += page.get("entries", [])
        token = page.get("nextPageToken", "")
        if not token:
            return out


class LogRouter(threading.Thread):
    def __init__(
        self,
        publisher: Any,
        topic: str,
        vertex_url: str,
        project: str,
        stop: threading.Event,
        *,
        period: float = 0.5,
        delay: tuple[float, float] = (1.0, 2.0),
        drop_rate: float = 0.0,
        duplicate: int = 1,
        shuffle: bool = False,
        seed: int | None = None,
        lookback: float | None = None,
        not_before: float | None = None,
    ) -> None:
        """`lookback`: read only entries of the last `lookback` seconds (a `timestamp >=` filter), so a read costs
        the emulator one page instead of every entry it holds (benchmarks with 10,000 jobs); None reads all.
        `not_before` (with `lookback`; wall time): no entry older than it is read, as a sink created then routes only
        entries written after it (a benchmark's thousands of seeded jobs are not a hint storm)."""
        super().__init__(name="log-router", daemon=True)
        self.publisher, self.topic, self.vertex_url, self.project = publisher, topic, vertex_url, project
        self.stop_event, self.period, self.delay, self.drop_rate = stop, period, delay, drop_rate
        self.duplicate, self.shuffle = duplicate, shuffle
        self.lookback, self.not_before = lookback, not_before
        self.rng = random.Random(seed)
        self.seen: set[str] = set()
        self.published = self.dropped = self.duplicated = 0  # duplicated: copies beyond the first
        self._due: list[tuple[float, str, bytes]] = []

    def route_once(self, now: float) -> None:
        """Read the entries, schedule the new ones the sink keeps, publish those that are due."""
        filter_ = ""
        if self.lookback is not None:
            oldest = max(time.time() - self.lookback, self.not_before or 0.0)
            since = datetime.fromtimestamp(oldest, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            filter_ = f'timestamp >= "{since}"'
        for entry in list_entries(self.vertex_url, self.project, filter_):
            key = str(entry.get("insertId") or json.dumps(entry, sort_keys=True))
            if key in self.seen or not sink_keeps(entry):
                continue
            self.seen.add(key)
            if self.rng.random() < self.drop_rate:
                self.dropped += 1
                continue
            copies = max(1, self.duplicate)
            self.duplicated += copies - 1
            for copy in range(copies):
                due = now + self.rng.uniform(*self.delay)
                heapq.heappush(self._due, (due, f"{key}#{copy}", json.dumps(entry).encode()))
        ready: list[bytes] = []
        while self._due and self._due[0][0] <= now:
            ready.append(heapq.heappop(self._due)[2])
        if self.shuffle:
            self.rng.shuffle(ready)
        for data in ready:
            self.publisher.publish(self.topic, data).result(timeout=10)
            self.published += 1

    def run(self) -> None:
        while not self.stop_event.wait(self.period):
            try:
                self.route_once(time.monotonic())
            except Exception as exc:  # noqa: BLE001 - a missed read is retried next period; the tick covers all
                if not self.stop_event.is_set():
                    log.warning("log router: %s", exc)
