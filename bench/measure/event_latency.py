"""Event latency at the deployed 60 s tick, per job type, hints on and off, with realistic Vertex AI latency.

    python -m bench.event_latency [--quick]

Two phases, hints off then hints on, each in its own location of the one Vertex AI emulator (so the first phase's
last tick, still running its cadence, cannot touch the second's jobs) and its own collections and status topic.
Per phase and job type, `per_kind` jobs are seeded directly (emulator creates, run records as submit leaves them,
`bench.common.seed_jobs` / `run_records`): half staying PENDING, half staying RUNNING. Then the scale benchmark's
realistic latency is injected on every Vertex AI call (`bench.measure.poll_scale.LATENCY_MS`: list 400 ms, get 150
ms, ...) and the deployed parts start (`bench.measure.deployed`): the 60 s tick loop (one loop covers all three
types, as one `poll` function does), with hints on the log-router stand-in and the `hint` code, and a streaming-pull
subscriber on the status topic. After a first pass (a full scan, before the loop starts) the changes are made with
the emulator's admin setState at uniformly random moments over `spread` seconds (>= 3 ticks in the full plan), in
random order across types: PENDING -> RUNNING for the first half, RUNNING -> SUCCEEDED for the other. Latency = the
first copy of the change's event (runId, vertexState) on the status subscription minus the change (the middle of the
setState call), real wall time: nothing is scaled. An event that has not come `TICK_S + 45` s after the last change
is missing.

`background` further Custom Jobs per phase (PENDING, never changing; bench.plan's FULL: 1,000 minus the measured
runs) are seeded the same way in the phase's location and connector before its first pass, so every pass walks
1,000 active runs (10+ list pages at the injected latency): pass duration and the cadence's passes per minute are
those at 1,000. They bring no hints: their entries are written before the log-router stand-in starts, and it routes
only what is written after (`HintPipe`: `not_before`, `lookback`), as calls_per_minute does.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from ..common import KINDS, SUCCEEDED, Stack, create_topic, log, new_prefix, run_records, seed_jobs, write_records
from .deployed import DEPLOYED_ENV, TICK_S, AppPool, HintPipe, StatusListener, TickLoop, inject_latency

RUNNING = {"custom": "JOB_STATE_RUNNING", "pipeline": "PIPELINE_STATE_RUNNING", "batch": "JOB_STATE_RUNNING"}
LOCATIONS = {False: "us-central1", True: "europe-west4"}  # hints off, hints on

# (run name, target vertexState, monotonic time of the change)
Change = tuple[str, str, float]


def latencies(changes: list[Change], received: dict[tuple[str, str], float]) -> tuple[list[float], int]:
    """Each change's latency (its event's arrival minus the change), and how many changes had no event."""
    out: list[float] = []
    missing = 0
    for name, state, at in changes:
        got = received.get((name, state))
        if got is None:
            missing += 1
        else:
            out.append(got - at)
    return out, missing


def schedule(
    names: dict[str, list[tuple[str, str]]], spread: float, rng: random.Random
) -> list[tuple[float, str, str]]:
    """(offset, run name, target state) for every change of every kind, at uniformly random offsets in [0, spread),
    in time order."""
    return sorted((rng.uniform(0, spread), name, state) for pairs in names.values() for name, state in pairs)


@dataclass
class Case:
    kind: str
    hints: bool
    latencies: list[float] = field(default_factory=list)
    missing: int = 0


@dataclass
class Phase:
    hints: bool
    location: str
    per_kind: int
    spread: float
    background: int = 0  # further active Custom Jobs, never changing
    active: int = 0  # active runs the first pass saw (activeRuns of its summary)
    cases: list[Case] = field(default_factory=list)
    tick_seconds: list[float] = field(default_factory=list)  # wall time of each tick's invocation
    passes: list[int] = field(default_factory=list)  # poll passes per tick, where the summary says
    pass_seconds: list[float] = field(default_factory=list)  # each tick's last pass (its summary's `seconds`)
    hint_totals: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0


@dataclass
class Result:
    phases: list[Phase] = field(default_factory=list)
    load_start: str = ""
    load_end: str = ""
    wall_seconds: float = 0.0

    @property
    def cases(self) -> list[Case]:
        return [c for p in self.phases for c in p.cases]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def passes_of(summary: dict[str, Any]) -> int:
    """Poll passes one tick's invocation ran: the cadence's count (`cadence.passes`), else 1 (one pass)."""
    cadence = summary.get("cadence")
    value = cadence.get("passes") if isinstance(cadence, dict) else None
    return value if isinstance(value, int) else 1


def active_of(summary: dict[str, Any]) -> int | None:
    """Active runs a pass saw (`activeRuns` of its summary; a tick's is its last pass's), None if it does not say."""
    value = summary.get("activeRuns")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def pass_seconds_of(summary: dict[str, Any]) -> float | None:
    """One pass's wall time (`seconds` of its summary; a tick's is its last pass's), None if it does not say."""
    value = summary.get("seconds")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def run_phase(
    stack: Stack,
    hints: bool,
    per_kind: int,
    spread: float,
    seed: int = 7,
    lingering: list[TickLoop] | None = None,
    background: int = 0,
) -> Phase:
    """One phase; its tick loop is stopped at the end, its last tick left to finish (appended to `lingering`)."""
    from polysync_vertex import bootstrap
    from polysync_vertex.config import Settings

    began = time.monotonic()
    location = LOCATIONS[hints]
    phase = Phase(hints=hints, location=location, per_kind=per_kind, spread=spread, background=background)
    admin = stack.admin()
    admin.clear_faults()
    prefix = new_prefix(f"events-{'on' if hints else 'off'}")
    status_sub = create_topic(f"{prefix}status", subscription=True)
    assert status_sub is not None
    env = stack.env(prefix, PSV_DEFAULT_LOCATION=location, PSV_ALLOWED_LOCATIONS=location, **DEPLOYED_ENV)
    pool = AppPool(lambda: bootstrap.build(Settings.from_env(env)))
    app = pool.take()
    targets: dict[str, list[tuple[str, str]]] = {}
    for kind in KINDS:
        up = per_kind // 2
        jobs = seed_jobs(stack.vertex_host, up, f"{prefix}{kind}-up", kind=kind, location=location, scenario="PENDING")
        jobs += seed_jobs(
            stack.vertex_host, per_kind - up, f"{prefix}{kind}-end", kind=kind, location=location, scenario="RUNNING"
        )
        write_records(app, run_records(jobs))
        targets[kind] = [(job["name"], RUNNING[kind] if i < up else SUCCEEDED[kind]) for i, (_, job) in enumerate(jobs)]
    if background:
        t0 = time.monotonic()
        idle = seed_jobs(stack.vertex_host, background, f"{prefix}bg", location=location)  # Custom Jobs, PENDING
        write_records(app, run_records(idle), threads=6)
        log(f"event latency hints={'on' if hints else 'off'}: {background} background runs seeded in "
            f"{time.monotonic() - t0:.0f} s")  # fmt: skip
    pool.give(app)
    kind_of = {name: kind for kind, pairs in targets.items() for name, _ in pairs}
    inject_latency(admin)
    app = pool.take()
    first = app.poll.poll(None)  # every scope's first pass is a full scan: done before the measurement
    phase.active = active_of(first) or 0
    pool.give(app)
    listener = StatusListener(status_sub)
    pipe = HintPipe(stack.vertex_url, f"{prefix}hints", [pool]) if hints else None
    loop = TickLoop(pool, f"events-{'on' if hints else 'off'}").start()
    changes: list[Change] = []
    try:
        rng = random.Random(seed)
        t0 = time.monotonic()
        for offset, name, state in schedule(targets, spread, rng):
            time.sleep(max(0.0, t0 + offset - time.monotonic()))
            before = time.monotonic()
            admin.set_state(name, state)
            changes.append((name, state, (before + time.monotonic()) / 2))
        deadline = time.monotonic() + TICK_S + 45
        while time.monotonic() < deadline:
            got = listener.snapshot()
            if all((n, s) in got for n, s, _ in changes):
                break
            time.sleep(0.2)
    finally:
        if pipe is not None:
            pipe.close()
            phase.hint_totals = pipe.totals()
        loop.close(timeout=5)  # the running tick finishes in the background (its own location); not waited for
        if lingering is not None:
            lingering.append(loop)
        listener.close()
        admin.clear_faults()
    received = listener.snapshot()
    for kind in KINDS:
        lat, missing = latencies([c for c in changes if kind_of[c[0]] == kind], received)
        phase.cases.append(Case(kind=kind, hints=hints, latencies=lat, missing=missing))
    finished = [t for t in loop.ticks if t.end]
    phase.tick_seconds = [t.end - t.start for t in finished]
    phase.passes = [passes_of(t.summary) for t in finished]
    phase.pass_seconds = [x for x in (pass_seconds_of(t.summary) for t in finished) if x is not None]
    phase.wall_seconds = time.monotonic() - began
    log(f"event latency hints={'on' if hints else 'off'}: {len(changes)} changes in {phase.wall_seconds:.0f} s")
    return phase


def run(stack: Stack, per_kind: int, spread: float, seed: int = 7, background: int = 0) -> Result:
    began = time.monotonic()
    result = Result(load_start=_load())
    stack.admin().reset()  # connector-labelled jobs of earlier benchmarks would be adopted as orphans
    lingering: list[TickLoop] = []
    for hints in (False, True):
        result.phases.append(run_phase(stack, hints, per_kind, spread, seed, lingering, background))
    for loop in lingering:  # their calls would land in the next benchmark's counts (the emulator's are global)
        loop.close(timeout=90)
    result.load_end = _load()
    result.wall_seconds = time.monotonic() - began
    return result
