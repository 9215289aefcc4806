"""Vertex AI calls per minute at N active Custom Jobs in one location, hints on, 1% of the runs changing a minute.

Run by `python -m bench.event_latency` after the latency phases. Each N is its own connector (own collections,
own location, so one connector never lists or adopts another's jobs), all at once on the one Vertex AI emulator:
N jobs are seeded directly (staying PENDING; run records as submit leaves them, like bench.measure.poll_scale),
the realistic latency is injected, and each connector gets its 60 s tick loop (inline: no shard fan-out) and the
`hint` code behind the one log-router stand-in (each deployed connector's sink sees every entry of the project; a
job that is not a connector's costs it a Firestore read, no Vertex AI call). Each connector's first pass (a full
scan) runs before the measurement. Measured: exactly `minutes` ticks of every connector (each with all the passes
its cadence runs inside its minute), while 1% of each connector's active runs a minute finish (admin setState
SUCCEEDED) at uniformly random moments, and the hints those changes bring; divided by `minutes`. Calls are counted
by each connector's apps (tick and hint instances, by method; list = List*, get = Get*) and, for the sum of all
connectors, by the emulator's server-side counters.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..common import SUCCEEDED, Stack, create_topic, diff, log, new_prefix, run_records, seed_jobs, write_records
from .deployed import (
    DEPLOYED_ENV,
    POLL_CALLS_PER_MINUTE,
    TICK_S,
    AppPool,
    HintPipe,
    TickLoop,
    inject_latency,
    vertex_calls,
)

LOCATIONS = ("us-east1", "us-west1", "asia-east1", "europe-west1")
CHANGE_RATIO = 0.01  # of the active runs, a minute


def split(calls: dict[str, int]) -> tuple[int, int]:
    """(list calls, GETs) of a by-method count of Vertex AI job calls."""
    lists = sum(n for m, n in calls.items() if m.startswith("List") and m.endswith("Jobs"))
    gets = sum(n for m, n in calls.items() if m.startswith("Get") and m.endswith("Job"))
    return lists, gets


@dataclass
class CallsCase:
    active: int
    location: str
    minutes: int
    budget: int = POLL_CALLS_PER_MINUTE
    changes: int = 0
    calls: dict[str, int] = field(default_factory=dict)  # the connector's apps, in the window, by method
    passes: list[int] = field(default_factory=list)
    tick_seconds: list[float] = field(default_factory=list)

    def per_minute(self) -> tuple[float, float, float]:
        lists, gets = split(self.calls)
        m = max(1, self.minutes)
        return lists / m, gets / m, (lists + gets) / m


@dataclass
class CallsResult:
    cases: list[CallsCase] = field(default_factory=list)
    emulator: dict[str, int] = field(default_factory=dict)  # all connectors, in the window, server side
    minutes: int = 0
    wall_seconds: float = 0.0

    def apps_total(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cases:
            for k, v in c.calls.items():
                out[k] = out.get(k, 0) + v
        return out


def run(stack: Stack, actives: tuple[int, ...], minutes: int = 2, seed: int = 11) -> CallsResult:
    from polysync_vertex import bootstrap
    from polysync_vertex.config import Settings

    from .event_latency import passes_of

    began = time.monotonic()
    admin = stack.admin()
    admin.clear_faults()
    result = CallsResult(minutes=minutes)
    pools: list[AppPool] = []
    names: list[list[str]] = []
    for n, location in zip(actives, LOCATIONS, strict=False):
        prefix = new_prefix(f"calls{n}")
        create_topic(f"{prefix}status", subscription=False)
        env = stack.env(prefix, PSV_DEFAULT_LOCATION=location, PSV_ALLOWED_LOCATIONS=location, **DEPLOYED_ENV)
        pool = AppPool(functools.partial(bootstrap.build, Settings.from_env(env)))
        app = pool.take()
        t0 = time.monotonic()
        jobs = seed_jobs(stack.vertex_host, n, prefix.rstrip("-"), location=location)
        write_records(app, run_records(jobs), threads=6)
        log(f"calls-per-minute N={n}: seeded in {time.monotonic() - t0:.0f} s")
        budget = int(getattr(app.settings, "poll_calls_per_minute", POLL_CALLS_PER_MINUTE))
        pool.give(app)
        pools.append(pool)
        names.append([job["name"] for _, job in jobs])
        result.cases.append(CallsCase(active=n, location=location, minutes=minutes, budget=budget))
    inject_latency(admin)
    warm = [threading.Thread(target=warm_pass, args=(pool,), daemon=True) for pool in pools]
    for t in warm:
        t.start()
    for t in warm:
        t.join(timeout=900)
    log("calls-per-minute: every connector's first pass (a full scan) done")
    pipe = HintPipe(stack.vertex_url, new_prefix("calls") + "hints", pools, period=2.0)
    loops = [TickLoop(pool, f"calls{c.active}") for pool, c in zip(pools, result.cases, strict=True)]
    stop = threading.Event()
    rng = random.Random(seed)
    made = [0] * len(names)
    w0 = time.monotonic()
    w1 = w0 + minutes * TICK_S - 2.0

    def changer(i: int) -> None:
        active = list(names[i])
        rng_i = random.Random(rng.random())
        rng_i.shuffle(active)
        count = max(1, round(CHANGE_RATIO * len(active))) * minutes
        for offset in sorted(rng_i.uniform(0, w1 - w0) for _ in range(count)):
            if stop.wait(max(0.0, w0 + offset - time.monotonic())):
                return
            admin.set_state(active.pop(), SUCCEEDED["custom"])
            made[i] += 1

    try:
        e0, a0 = admin.calls(), [vertex_calls(p.apps) for p in pools]
        w0 = time.monotonic()
        w1 = w0 + minutes * TICK_S - 2.0
        for loop in loops:
            loop.start()
        changers = [threading.Thread(target=changer, args=(i,), daemon=True) for i in range(len(names))]
        for t in changers:
            t.start()
        time.sleep(max(0.0, w1 - time.monotonic()))
        for loop in loops:
            loop.stop.set()  # exactly `minutes` ticks
        for t in changers:
            t.join(timeout=30)
        for loop in loops:
            loop.close(timeout=150)  # their passes end within their minute (the cadence's window)
        time.sleep(4.0)  # the last changes' hints (1-2 s routing, one GET)
        e1, a1 = admin.calls(), [vertex_calls(p.apps) for p in pools]
    finally:
        stop.set()
        pipe.close()
        for loop in loops:
            loop.close(timeout=150)
        admin.clear_faults()
    result.emulator = diff(e1, e0)
    for case, loop, before, after, count in zip(result.cases, loops, a0, a1, made, strict=True):
        case.calls = diff(after, before)
        case.changes = count
        inside = [t for t in loop.ticks if t.end]
        case.passes = [passes_of(t.summary) for t in inside]
        case.tick_seconds = [t.end - t.start for t in inside]
    result.wall_seconds = time.monotonic() - began
    return result


def warm_pass(pool: AppPool) -> None:
    """One pass outside the measurement (every scope's first is a full scan: reads every run, writes the index)."""
    app = pool.take()
    try:
        app.poll.poll(None)
    finally:
        pool.give(app)


def cross_check(result: CallsResult) -> dict[str, Any]:
    """List calls and GETs in the window: the emulator's server-side count against the connectors' own counters."""
    e_list, e_get = split(result.emulator)
    a_list, a_get = split(result.apps_total())
    return {"emulator_list": e_list, "emulator_get": e_get, "apps_list": a_list, "apps_get": a_get}
