"""The pure parts of the event-latency benchmark (bench/measure/event_latency.py, calls_per_minute.py,
bench/report/event_latency.py, bench/event_latency.py's options): percentiles, latency per change, the printed
lines issue 24 names, goal verdicts, the background runs that make a phase's location hold 1,000 active runs."""

from __future__ import annotations

import random
import re

import pytest

from bench.common import KINDS, percentile
from bench.event_latency import options
from bench.measure.calls_per_minute import CallsCase, split
from bench.measure.deployed import rfc3339
from bench.measure.event_latency import Case, Phase, Result, active_of, latencies, pass_seconds_of, passes_of, schedule
from bench.plan import FULL, QUICK
from bench.report.event_latency import calls_line, goal_met, line, lines, setup_line

LINE = re.compile(
    r"event-latency kind=(custom|pipeline|batch) hints=(on|off) tick_s=60 p50_s=(\d+\.\d) p99_s=(\d+\.\d) n=(\d+)"
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([3.0, 1.0, 2.0], 99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_is_the_first_event_of_the_changed_state_minus_the_change() -> None:
    changes = [("a", "JOB_STATE_RUNNING", 10.0), ("b", "JOB_STATE_SUCCEEDED", 20.0), ("c", "JOB_STATE_RUNNING", 5.0)]
    received = {
        ("a", "JOB_STATE_RUNNING"): 12.5,
        ("b", "JOB_STATE_RUNNING"): 21.0,  # another state of b: not b's change
        ("b", "JOB_STATE_SUCCEEDED"): 50.0,
    }
    got, missing = latencies(changes, received)
    assert got == [2.5, 30.0]
    assert missing == 1


def test_the_line_is_exactly_the_issues_format() -> None:
    case = Case(kind="pipeline", hints=True, latencies=[1.0, 2.0, 3.0, 4.0, 40.0])
    text = line(case)
    assert text == "event-latency kind=pipeline hints=on tick_s=60 p50_s=3.0 p99_s=40.0 n=5"
    assert LINE.fullmatch(text)
    off = line(Case(kind="batch", hints=False, latencies=[30.04, 59.96]))
    assert off == "event-latency kind=batch hints=off tick_s=60 p50_s=30.0 p99_s=60.0 n=2"


def test_goals_per_kind_and_missing_events_fail_them() -> None:
    fast = [1.0] * 99 + [9.0]
    assert goal_met(Case("custom", True, fast)) is True
    assert goal_met(Case("custom", True, [1.0] * 98 + [11.0, 11.0])) is False  # p99 over 10 s
    assert goal_met(Case("batch", True, [9.0] * 99 + [29.0])) is True  # batch: p50 <= 10, p99 <= 30
    assert goal_met(Case("pipeline", True, [4.0] * 100)) is False  # p50 over 3 s
    assert goal_met(Case("custom", True, fast, missing=1)) is False
    assert goal_met(Case("custom", True, [])) is False
    assert goal_met(Case("custom", False, [30.0, 60.0])) is True  # hints off: no worse than p50 35 s, p99 67 s
    assert goal_met(Case("batch", False, [30.0, 70.0])) is False


def test_calls_are_split_into_lists_and_gets_per_minute() -> None:
    calls = {"ListCustomJobs": 84, "GetCustomJob": 21, "CancelCustomJob": 1, "ListPipelineJobs": 2}
    assert split(calls) == (86, 21)
    case = CallsCase(active=1000, location="us-east1", minutes=2, budget=120, calls=calls)
    assert calls_line(case) == "calls-per-minute active=1000 hints=on list=43 get=10.5 total=53.5 budget=120"


def test_changes_are_spread_uniformly_in_time_order() -> None:
    names = {"custom": [(f"c{i}", "RUNNING") for i in range(50)], "batch": [(f"b{i}", "DONE") for i in range(50)]}
    got = schedule(names, 180.0, random.Random(1))
    offsets = [o for o, _, _ in got]
    assert offsets == sorted(offsets) and len(got) == 100
    assert 0 <= offsets[0] and offsets[-1] < 180.0
    assert sum(o < 90 for o in offsets) in range(35, 66)  # both halves of the spread get changes
    assert {n for _, n, _ in got} == {n for pairs in names.values() for n, _ in pairs}


def test_tick_time_and_passes() -> None:
    assert rfc3339(0.0) == "1970-01-01T00:00:00.000000Z"
    assert passes_of({"runsSeen": 10, "cadence": {"passes": 4, "passesPlanned": 4}}) == 4
    assert passes_of({"runsSeen": 10}) == 1  # one pass: no cadence in the summary
    assert passes_of({"error": "boom"}) == 1


def test_the_full_plan_measures_at_1000_active_runs_and_the_quick_one_adds_none() -> None:
    assert FULL.event_background + len(KINDS) * FULL.event_changes == 1000
    assert QUICK.event_background == 0


def test_background_comes_from_the_plan_unless_given() -> None:
    assert options([]).background == FULL.event_background
    assert options(["--quick"]).background == 0
    assert options(["--quick", "--background", "500"]).background == 500
    assert options(["--background", "0"]).background == 0
    args = options(["--no-calls", "--background", "892"])
    assert (args.plan, args.background, args.no_calls) == (FULL, 892, True)
    with pytest.raises(SystemExit):
        options(["--background", "-1"])


def test_active_runs_and_pass_time_come_from_the_summary() -> None:
    tick = {"activeRuns": 1000, "seconds": 5.25, "cadence": {"passes": 4, "seconds": 51.0}}
    assert active_of(tick) == 1000
    assert pass_seconds_of(tick) == 5.25  # the last pass's, not the invocation's (cadence.seconds)
    assert active_of({"error": "boom"}) is None and pass_seconds_of({"error": "boom"}) is None
    assert active_of({"activeRuns": True}) is None and pass_seconds_of({"seconds": "5"}) is None


def test_each_phase_prints_its_active_runs_before_its_lines() -> None:
    off = Phase(hints=False, location="us-central1", per_kind=36, spread=180.0, background=892, active=1000)
    off.passes, off.pass_seconds = [4, 4, 3], [6.0, 5.0, 9.0]
    off.cases = [Case(kind, False, [7.0]) for kind in KINDS]
    on = Phase(hints=True, location="europe-west4", per_kind=36, spread=180.0, background=892, active=1000)
    on.cases = [Case(kind, True, [2.0]) for kind in KINDS]
    assert setup_line(off) == (
        "event-latency-setup hints=off location=us-central1 tick_s=60 active=1000 measured=108 background=892 "
        "passes_per_tick=3,4 pass_p50_s=6.0"
    )
    assert setup_line(on).endswith("active=1000 measured=108 background=892 passes_per_tick=- pass_p50_s=nan")
    printed = lines(Result(phases=[off, on]))
    assert [t.split()[0] for t in printed] == ["event-latency-setup"] + ["event-latency"] * 3 + (
        ["event-latency-setup"] + ["event-latency"] * 3
    )
    assert all(LINE.fullmatch(t) for t in printed if t.startswith("event-latency "))
    assert "hints=on" in printed[4] and printed[5] == line(on.cases[0])
