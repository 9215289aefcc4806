"""The connector as deployed, in this process: Cloud Scheduler's 60 s tick, the hints path, the status subscription.

- `TickLoop`: a thread starts `poll`'s code (`PollService.tick(<RFC3339 tick time>)`) every 60 s of real wall time,
  each tick in its own thread on an idle app instance (a new one when all are busy, as Cloud Functions would start
  another instance), so a tick that runs long (the poll cadence's extra passes inside the tick's invocation,
  `PSV_POLL_INTERVAL_SECONDS` / `PSV_POLL_CALLS_PER_MINUTE`) never delays the next one. Whatever `tick()` does is
  measured as is: one pass, or the cadence's passes.
- `HintPipe`: the log-router stand-in (`polysync_local.log_router.LogRouter`: the emulator's Vertex AI job-state
  entries that infra/hints.tf's sink keeps, published to a hints topic after 1-2 s) and a streaming-pull subscriber
  that hands each entry to the `hint` function's code (`HintService.handle([entry])`) of every connector given,
  each call on an idle app instance (concurrency 1 per instance, as deployed).
- `StatusListener`: streaming pull on a status subscription; notes when each (runId, vertexState) first arrives.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..common import PROJECT, create_topic, log
from .poll_scale import method_latencies

TICK_S = 60.0  # Cloud Scheduler's minimum, as deployed
# The poll cadence's settings as deployed (infra/variables.tf defaults); passed to every app explicitly.
POLL_INTERVAL_SECONDS = 15
POLL_CALLS_PER_MINUTE = 120
DEPLOYED_ENV = {
    "PSV_POLL_INTERVAL_SECONDS": str(POLL_INTERVAL_SECONDS),
    "PSV_POLL_CALLS_PER_MINUTE": str(POLL_CALLS_PER_MINUTE),
}
STATUS_CHANGED = "com.polysync.vertex.run.status_changed"
# The log router reads only the last minute's entries: reading all of 10,000 jobs' entries took the emulator 4-5 s
# a read (2026-12-03), CPU a real sink does not take from Vertex AI. Entries older than that were never routed.
LOOKBACK_SECONDS = 60.0


def rfc3339(wall: float) -> str:
    """A CloudEvent `time` as Cloud Scheduler's Pub/Sub delivery carries it (UTC, microseconds, Z)."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inject_latency(admin: Any) -> None:
    """The scale benchmark's realistic Vertex AI latency (bench.measure.poll_scale.LATENCY_MS) on every call."""
    for method, ms in method_latencies().items():
        admin.add_fault(method=method, latency_ms=ms, ratio=1.0)


def vertex_calls(apps: list[Any]) -> dict[str, int]:
    """The apps' own Vertex AI call counters (by method), summed."""
    out: dict[str, int] = {}
    for app in apps:
        for method, n in dict(app.vertex.calls).items():
            out[method] = out.get(method, 0) + int(n)
    return out


class AppPool:
    """App instances of one connector (one set of collections): take an idle one or build another."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build
        self.apps: list[Any] = []
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        app = self.build()
        with self._lock:
            self.apps.append(app)
        return app

    def give(self, app: Any) -> None:
        with self._lock:
            self._idle.append(app)


@dataclass
class TickRun:
    index: int
    start: float  # monotonic
    end: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)


class TickLoop:
    def __init__(self, pool: AppPool, name: str, interval: float = TICK_S) -> None:
        self.pool, self.name, self.interval = pool, name, interval
        self.ticks: list[TickRun] = []
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop = threading.Thread(target=self._run, name=f"ticks-{name}", daemon=True)

    def _one(self, run: TickRun) -> None:
        app = self.pool.take()
        try:
            run.summary = app.poll.tick(rfc3339(time.time()))
        except Exception as exc:  # noqa: BLE001 - reported; the next tick runs as Cloud Scheduler's would
            run.summary = {"error": repr(exc)}
            log(f"{self.name} tick {run.index} failed: {exc!r}")
        finally:
            run.end = time.monotonic()
            self.pool.give(app)

    def _run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self.stop.is_set():  # bounded: stop() ends it
            run = TickRun(n, time.monotonic())
            self.ticks.append(run)
            thread = threading.Thread(target=self._one, args=(run,), name=f"tick-{self.name}-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()
            n += 1
            self.stop.wait(max(0.0, start + n * self.interval - time.monotonic()))

    def start(self) -> TickLoop:
        self._loop.start()
        return self

    def wait_first(self, timeout: float = 600.0) -> TickRun:
        """Wait for the first tick (every scope's first is a full scan) to end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (self.ticks and self.ticks[0].end):
            time.sleep(0.1)
        if not (self.ticks and self.ticks[0].end):
            raise RuntimeError(f"{self.name}: the first tick did not end in {timeout:g} s")
        return self.ticks[0]

    def close(self, timeout: float = 150.0) -> None:
        """No more ticks; wait for the running ones (a cadence's tick runs up to its minute)."""
        self.stop.set()
        self._loop.join(timeout=10)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))


class StatusListener:
    def __init__(self, subscription: str) -> None:
        from google.cloud import pubsub_v1

        self.received: dict[tuple[str, str], float] = {}  # (runId, vertexState) -> monotonic time, first copy
        self._lock = threading.Lock()
        self._client = pubsub_v1.SubscriberClient()
        self._future = self._client.subscribe(subscription, callback=self._on_message)

    def _on_message(self, message: Any) -> None:
        now = time.monotonic()
        if message.attributes.get("ce-type") == STATUS_CHANGED:
            try:
                state = str(json.loads(message.data).get("vertexState"))
            except ValueError:
                state = ""
            with self._lock:
                self.received.setdefault((message.attributes.get("ce-subject", ""), state), now)
        message.ack()

    def snapshot(self) -> dict[tuple[str, str], float]:
        with self._lock:
            return dict(self.received)

    def close(self) -> None:
        self._future.cancel()
        self._client.close()


class HintPipe:
    """Log router stand-in -> hints topic -> streaming pull -> `hint` code of each connector (its AppPool)."""

    def __init__(self, vertex_url: str, topic_id: str, pools: list[AppPool], *, period: float = 0.5) -> None:
        from google.cloud import pubsub_v1

        from polysync_local.log_router import LogRouter

        self.pools = pools
        self.summaries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        subscription = create_topic(topic_id, subscription=True)
        assert subscription is not None
        self.stop = threading.Event()
        self._publisher = pubsub_v1.PublisherClient()
        self.router = LogRouter(
            self._publisher,
            f"projects/{PROJECT}/topics/{topic_id}",
            vertex_url,
            PROJECT,
            self.stop,
            period=period,
            lookback=LOOKBACK_SECONDS,
            not_before=time.time(),  # the sink routes what is written from now on, not the seeded jobs' first entries
        )
        self._client = pubsub_v1.SubscriberClient()
        self._future = self._client.subscribe(subscription, callback=self._on_message)
        self.router.start()

    def _on_message(self, message: Any) -> None:
        try:
            entry = json.loads(message.data)
        except ValueError:
            entry = None
        for pool in self.pools:
            app = pool.take()
            try:
                summary = app.hints.handle([entry])
            except Exception as exc:  # noqa: BLE001 - a failed hint costs latency only; the tick covers it
                summary = {"error": repr(exc)}
                log(f"hint failed: {exc!r}")
            finally:
                pool.give(app)
            with self._lock:
                self.summaries.append(summary)
        message.ack()

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._lock:
            for s in self.summaries:
                for k in ("entries", "notOurs", "overBudget", "getFailed", "changes", "eventsPublished"):
                    out[k] = out.get(k, 0) + int(s.get(k, 0))
        return out

    def close(self) -> None:
        self.stop.set()
        self.router.join(timeout=10)
        self._future.cancel()
        self._client.close()
