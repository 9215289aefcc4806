"""What :mod:`bench.run` measures: the full plan (`make bench`) and the quick one (`--quick`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    cold_processes: int
    submits: int
    replays: int
    per_client: int
    poll_cases: tuple[tuple[int, int], ...]  # (active runs, repetitions per strategy)
    kind_cases: tuple[tuple[str, int, int, bool], ...]  # (kind, active runs, repetitions, with the per-job baseline)
    scale_cases: tuple[tuple[int, int, float, int], ...]  # (active runs, measured ticks, tick interval, inline max)
    event_changes: int  # event latency: changes per job type and hints setting (half up, half finishing)
    event_spread: float  # seconds the changes are spread over (at the deployed 60 s tick)
    event_background: int  # further active Custom Jobs per phase (PENDING, never changing) in the measured location
    calls_actives: tuple[int, ...]  # calls per minute with hints on at these active runs
    calls_minutes: int  # measured whole ticks


FULL = Plan(
    cold_processes=5,
    submits=500,
    replays=100,
    per_client=50,
    poll_cases=((100, 5), (1000, 3), (10000, 2)),
    kind_cases=(
        ("pipeline", 1000, 2, True),
        ("pipeline", 10000, 1, False),
        ("batch", 1000, 2, True),
        ("batch", 10000, 1, False),
    ),
    scale_cases=((10000, 5, 60.0, 2001), (30000, 5, 60.0, 2001)),
    event_changes=36,
    event_spread=180.0,
    event_background=1000 - 3 * 36,  # 1,000 active runs in the location: issue 24's goals are "up to 1,000"
    calls_actives=(100, 1000, 10000),
    calls_minutes=2,
)


QUICK = Plan(
    cold_processes=3,
    submits=200,
    replays=50,
    per_client=20,
    poll_cases=((100, 3), (1000, 2)),
    kind_cases=(("pipeline", 1000, 1, True), ("batch", 1000, 1, True)),
    scale_cases=((2000, 2, 15.0, 500),),
    event_changes=10,
    event_spread=60.0,
    event_background=0,
    calls_actives=(100, 1000),
    calls_minutes=1,
)
