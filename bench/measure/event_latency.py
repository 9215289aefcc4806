"""Event latency: from a state change in Vertex AI (the emulator's admin setState) to the CloudEvent on the status
subscription, with the poller ticking every T seconds.

M runs are submitted (jobs that stay PENDING), a thread calls `app.poll.tick()` every T seconds (as Cloud
Scheduler's tick would trigger `poll`), the M changes (PENDING -> RUNNING) are made at random moments spread over
D seconds, and a streaming-pull subscriber notes when each run's event arrives. The latency is bounded below by
the wait for the next tick (uniform over 0..T) and above by T + one poll cycle + Pub/Sub delivery.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..common import Stack, create_topic, log, new_prefix, submit_body


@dataclass
class Result:
    tick: float
    changes: int
    spread: float
    latencies: list[float] = field(default_factory=list)
    ticks: int = 0
    tick_seconds: list[float] = field(default_factory=list)
    missing: int = 0


def run(stack: Stack, tick: float = 10.0, changes: int = 20, spread: float = 120.0, seed: int = 7) -> Result:
    import json

    from google.cloud import pubsub_v1

    # An empty emulator: connector-labelled jobs an earlier benchmark left (with no run record in this benchmark's
    # collections) would be adopted as orphans by the first ticks.
    stack.admin().reset()
    prefix = new_prefix("events")
    app = stack.build_app(prefix)
    subscription = create_topic(f"{prefix}status", subscription=True)
    assert subscription is not None
    run_ids = []
    for i in range(changes):
        code, resp = app.submit.submit(submit_body(f"{prefix}{i}", scenario="PENDING"))
        if code != 201:
            raise RuntimeError(f"submit failed: {code} {resp}")
        run_ids.append(str(resp["runId"]))
    app.poll.tick()  # warm: clients, connections; nothing changes (jobs stay PENDING)

    result = Result(tick=tick, changes=changes, spread=spread)
    received: dict[str, float] = {}
    lock = threading.Lock()

    def on_message(message: Any) -> None:
        now = time.monotonic()
        data = json.loads(message.data)
        if data.get("vertexState") == "JOB_STATE_RUNNING":
            with lock:
                received.setdefault(message.attributes.get("ce-subject", ""), now)
        message.ack()

    subscriber = pubsub_v1.SubscriberClient()
    future = subscriber.subscribe(subscription, callback=on_message)
    stop = threading.Event()

    def ticker() -> None:
        start = time.monotonic()
        n = 0
        while not stop.is_set():  # bounded: stop is set after the last event or the deadline
            t0 = time.monotonic()
            app.poll.tick()
            result.tick_seconds.append(time.monotonic() - t0)
            n += 1
            stop.wait(max(0.0, start + n * tick - time.monotonic()))
        result.ticks = n

    thread = threading.Thread(target=ticker, name="tick-loop", daemon=True)
    admin = stack.admin()
    changed_at: dict[str, float] = {}
    rng = random.Random(seed)
    offsets = sorted(rng.uniform(0, spread) for _ in run_ids)
    try:
        thread.start()
        t_start = time.monotonic()
        for run_id, offset in zip(run_ids, offsets, strict=True):
            time.sleep(max(0.0, t_start + offset - time.monotonic()))
            admin.set_state(run_id, "JOB_STATE_RUNNING")
            changed_at[run_id] = time.monotonic()
        deadline = time.monotonic() + 3 * tick + 30
        while time.monotonic() < deadline:
            with lock:
                if len(received) >= len(run_ids):
                    break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=120)
        future.cancel()
        subscriber.close()
    with lock:
        for run_id, t_change in changed_at.items():
            if run_id in received:
                result.latencies.append(received[run_id] - t_change)
    result.missing = len(run_ids) - len(result.latencies)
    log(f"event latency: tick {tick:g}s, {len(result.latencies)}/{len(run_ids)} events")
    return result
