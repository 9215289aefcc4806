"""The poll cadence (services/poll/cadence.py): its pure decisions, and PollService's loop on the fakes of
tests/fakes.py with a fake clock (no real sleeping): passes at the planned times, list calls within the budget, the
loop's end at 0 active runs, and one pass only for an invocation without the lease."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from polysync_vertex.config import Settings
from polysync_vertex.core import kinds, runs
from polysync_vertex.services.poll import PollService, cadence
from polysync_vertex.services.poll.service import shard_budget
from polysync_vertex.services.submit import SubmitService
from tests.fakes import FakePublisher, FakeStore, FakeVertex
from tests.helpers import example_body

SETTINGS = Settings(
    project="my-proj",
    allowed_projects=("my-proj",),
    allowed_locations=("us-central1",),
    request_budget_seconds=1.0,
    poll_interval_seconds=15.0,
    poll_calls_per_minute=120.0,
)


def entries(n: int, location: str = "us-central1", collection: str = "customJobs") -> list[dict[str, Any]]:
    return [{"project": "p", "location": location, "collection": collection} for _ in range(n)]


# -- pure decisions ------------------------------------------------------------------------------------------------


def test_projection_is_pages_of_100_plus_one_finished_call_per_kind_summed_per_location() -> None:
    calls = cadence.calls_per_pass(
        entries(250) + entries(1, collection="batchPredictionJobs") + entries(10, location="europe-west4")
    )
    assert calls == {("p", "us-central1"): (3 + 1) + (1 + 1), ("p", "europe-west4"): 1 + 1}
    assert cadence.calls_per_pass([]) == {}


@pytest.mark.parametrize(
    ("active", "calls", "passes"),
    [(100, 2, 4), (1_000, 11, 4), (10_000, 101, 1), (5_000, 51, 2), (3_000, 31, 3)],
)
def test_passes_per_minute_follow_the_budget(active: int, calls: int, passes: int) -> None:
    projected = cadence.calls_per_pass(entries(active))
    assert projected == {("p", "us-central1"): calls}
    assert cadence.passes_per_minute(projected, 15, 120) == passes
    assert passes * calls <= 120 or passes == 1


def test_one_pass_at_interval_0_or_a_minute_without_a_budget_or_below_one_pass() -> None:
    small = {("p", "l"): 2}
    assert cadence.passes_per_minute(small, 0, 120) == 1
    assert cadence.passes_per_minute(small, 60, 120) == 1
    assert cadence.passes_per_minute(small, 90, 120) == 1
    assert cadence.passes_per_minute(small, 15, None) == 1  # a shard message from before the cadence
    assert cadence.passes_per_minute({("p", "l"): 11}, 15, 5) == 1  # the budget is smaller than one pass
    assert cadence.passes_per_minute(small, 10, 120) == 6
    assert cadence.passes_per_minute({}, 15, 120) == 4  # nothing to list: the interval alone (the loop ends anyway)


def test_the_window_ends_before_the_next_tick_and_a_late_delivery_shortens_it() -> None:
    assert cadence.latest_start(1000.0, 0.5) == 1055.0
    assert cadence.latest_start(1000.0, 10.0) == 1045.0  # a long pass: 1.5x its time as margin
    assert cadence.next_start(1000.0, 1, 4, 1000.0) == 1015.0
    assert cadence.next_start(1000.0, 1, 4, 1020.0) == 1035.0  # delivered 20 s late: one spacing after its start
    assert cadence.next_start(1000.0, 3, 4, 1030.0) == 1045.0


class FakeClock:
    """cadence.Clock with fake time: `sleep` advances it (and runs `on_sleep`, a test's changes between passes)."""

    def __init__(self, start: float) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] = lambda i: None

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        self.on_sleep(len(self.sleeps))

    def clock(self) -> cadence.Clock:
        return cadence.Clock(now=self.now, sleep=self.sleep)


def run_cadence(passes: list[float], start: float, tick_time: float, *, active: int = 100) -> dict[str, Any]:
    fake = FakeClock(start)

    def one_pass() -> dict[str, Any]:
        passes.append(fake.t - tick_time)
        return {"activeRuns": active, "projectedListCalls": 2, "vertexCalls": {"list_page": 1}}

    plan = cadence.Plan(scope="00~64", tick_time=tick_time, interval=15, budget=120)
    return cadence.run(plan, one_pass, lambda *a: True, fake.clock())


@pytest.mark.parametrize(("late", "expected"), [(0.0, [0, 15, 30, 45]), (20.0, [20, 35, 50]), (40.0, [40])])
def test_a_late_delivery_runs_fewer_passes_never_later_ones(late: float, expected: list[float]) -> None:
    passes: list[float] = []
    summary = run_cadence(passes, 1000.0 + late, 1000.0)
    assert passes == expected
    assert summary["cadence"]["passes"] == len(expected) == summary["cadence"]["passesPlanned"]
    assert summary["cadence"]["vertexCalls"] == {"list_page": len(expected)}


def test_a_failing_extra_pass_or_lease_ends_the_loop_after_the_ticks_pass() -> None:
    fake = FakeClock(1000.0)
    calls: list[int] = []

    def one_pass() -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("Firestore unavailable")
        return {"activeRuns": 5, "projectedListCalls": 2, "changes": 1}

    plan = cadence.Plan(scope="00~64", tick_time=1000.0, interval=15, budget=120)
    summary = cadence.run(plan, one_pass, lambda *a: True, fake.clock())
    assert len(calls) == 3 and summary["cadence"]["passes"] == 2 and summary["cadence"]["changes"] == 2

    def unavailable(*args: Any) -> bool:
        raise RuntimeError("Firestore unavailable")

    calls.clear()
    plan = cadence.Plan(scope="00~64", tick_time=1000.0, interval=15, budget=120)
    summary = cadence.run(plan, one_pass, unavailable, FakeClock(1000.0).clock())
    assert len(calls) == 1 and summary["cadence"]["lease"] is False

    def first_fails() -> dict[str, Any]:
        raise RuntimeError("the tick's own pass")

    with pytest.raises(RuntimeError):  # the tick's own pass fails as before (poll logs it; a shard is redelivered)
        cadence.run(plan, first_fails, lambda *a: True, FakeClock(1000.0).clock())


# -- PollService ---------------------------------------------------------------------------------------------------


def submitted(vertex: FakeVertex, store: FakeStore, n: int) -> list[str]:
    service = SubmitService(SETTINGS, vertex, store)
    return [service.submit(example_body(f"r-{i}"))[1]["runId"] for i in range(n)]


def poller(vertex: FakeVertex, store: FakeStore, settings: Settings = SETTINGS) -> tuple[PollService, FakeClock]:
    service = PollService(settings, vertex, store, FakePublisher())
    fake = FakeClock(time.time())
    service.clock = fake.clock()
    return service, fake


def timed(service: PollService, fake: FakeClock, tick_time: float) -> list[tuple[float, int]]:
    """Record each pass's start (seconds after the tick) and its list calls."""
    starts: list[tuple[float, int]] = []
    original = service.poll

    def spy(shard_range: tuple[int, int] | None) -> dict[str, Any]:
        summary = original(shard_range)
        starts.append((round(fake.t - tick_time, 3), summary["vertexCalls"].get("list_page", 0)))
        return summary

    service.poll = spy  # type: ignore[method-assign]
    return starts


def record_of(store: FakeStore, run_id: str) -> dict[str, Any]:
    run = store.get_run(kinds.run_doc_id(kinds.parse_run_name(run_id, "runId")[1]))
    assert run is not None
    return run


def published_at(t: float) -> str:
    return runs.iso(datetime.fromtimestamp(t, UTC))


@pytest.mark.parametrize(("budget", "times"), [(120.0, [0, 15, 30, 45]), (8.0, [0, 30]), (3.0, [0])])
def test_passes_happen_at_the_planned_times_within_the_budget(
    vertex: FakeVertex, store: FakeStore, budget: float, times: list[float]
) -> None:
    run_ids = submitted(vertex, store, 250)  # 3 pages of the non-final walk (+1 finished call): 4 per pass
    service, fake = poller(vertex, store, replace(SETTINGS, poll_calls_per_minute=budget))
    tick_time = fake.t
    fake.on_sleep = lambda i: vertex.set_state(run_ids[i], "JOB_STATE_RUNNING")  # a change between passes
    starts = timed(service, fake, tick_time)
    summary = service.tick(published_at(tick_time))
    assert [t for t, _ in starts] == times
    calls = sum(c for _, c in starts)
    assert calls <= budget or len(times) == 1
    assert summary["cadence"]["passes"] == len(times) == summary["cadence"]["passesPlanned"]
    assert summary["cadence"]["listCallsPerMinute"] == 4 * len(times)
    assert summary["cadence"]["vertexCalls"]["list_page"] == calls
    assert summary["cadence"]["lease"] is (len(times) > 1)
    # each change made between passes was recorded by the pass after it, inside the tick's minute
    assert summary["cadence"]["changes"] == len(times) - 1
    assert [record_of(store, r)["vertexState"] for r in run_ids[: len(times) + 1]] == (
        ["JOB_STATE_PENDING"] + ["JOB_STATE_RUNNING"] * (len(times) - 1) + ["JOB_STATE_PENDING"]
    )


def test_at_0_active_runs_the_invocation_is_one_pass(vertex: FakeVertex, store: FakeStore) -> None:
    service, fake = poller(vertex, store)
    summary = service.tick(published_at(fake.t))
    assert summary["cadence"]["passes"] == 1 and fake.sleeps == [] and store.leases == {}
    assert vertex.calls["list_page"] == 0


def test_the_loop_ends_after_the_pass_that_saw_the_last_run_end(vertex: FakeVertex, store: FakeStore) -> None:
    (run_id,) = submitted(vertex, store, 1)
    service, fake = poller(vertex, store)
    fake.on_sleep = lambda i: vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    summary = service.tick(published_at(fake.t))
    assert summary["cadence"]["passes"] == 2 and summary["activeRuns"] == 0
    assert summary["cadence"]["changes"] == 1 and len(fake.sleeps) == 1


def test_a_second_invocation_without_the_lease_runs_only_its_first_pass(vertex: FakeVertex, store: FakeStore) -> None:
    submitted(vertex, store, 5)
    first, clock1 = poller(vertex, store)
    tick_time = clock1.t
    assert first.tick(published_at(tick_time))["cadence"]["passes"] == 4
    second, clock2 = poller(vertex, store)  # a duplicate delivery of the same tick, 1 s later
    clock2.t = tick_time + 1
    before = vertex.calls["list_page"]
    summary = second.tick(published_at(tick_time))
    assert summary["cadence"]["passes"] == 1 and summary["cadence"]["lease"] is False and clock2.sleeps == []
    assert vertex.calls["list_page"] - before == 1


def test_the_lease_is_a_conditional_write_a_racing_holder_wins(vertex: FakeVertex, store: FakeStore) -> None:
    submitted(vertex, store, 5)
    service, fake = poller(vertex, store)

    def racer(doc_id: str) -> None:
        if doc_id.startswith("lease~"):
            store.before_write = lambda _: None
            assert store.take_lease("00~64", "other", fake.t + 60, fake.t)

    store.before_write = racer
    summary = service.tick(published_at(fake.t))
    assert summary["cadence"]["passes"] == 1 and summary["cadence"]["lease"] is False
    assert store.leases["lease~00~64"][0]["holder"] == "other" and store.counts["refused"] == 1
    # once its `until` passed, the next tick takes it over
    later, clock = poller(vertex, store)
    clock.t = fake.t + 61
    assert later.tick(published_at(clock.t))["cadence"]["lease"] is True


def test_fan_out_gives_each_shard_its_share_and_old_messages_one_pass(vertex: FakeVertex, store: FakeStore) -> None:
    submitted(vertex, store, 30)
    settings = replace(SETTINGS, shard_topic="shards", poll_inline_max=10)
    service, fake = poller(vertex, store, settings)
    publisher = service.publisher
    assert isinstance(publisher, FakePublisher)
    assert service.tick(published_at(fake.t))["fannedOut"] == 3 and fake.sleeps == []
    assert {a["callsPerMinute"] for a in publisher.plain} == {"40"}
    assert shard_budget({"callsPerMinute": "40"}) == 40.0
    assert shard_budget({}) is None and shard_budget({"callsPerMinute": "x"}) is None
    shard = publisher.plain[0]
    worker, clock = poller(vertex, store, settings)
    assert worker.shard(shard, published_at(clock.t))["cadence"]["passes"] == 4
    old, clock = poller(vertex, store, settings)
    clock.t += 100  # past the first worker's lease
    legacy = {"shardLo": shard["shardLo"], "shardHi": shard["shardHi"]}
    summary = old.shard(legacy, published_at(clock.t))
    assert summary["cadence"]["passes"] == 1 and summary["cadence"]["budget"] is None
