"""The poll cadence: more passes inside one scheduler tick's minute, as many as the list-call budget allows.

Cloud Scheduler ticks `poll` once a minute (its shortest period; infra/scheduler.tf). Jobs without hints (Batch
Prediction Jobs, Custom Jobs whose best-effort hints do not come) would wait for the next tick, so the tick's own
invocation runs further passes between ticks: every `PSV_POLL_INTERVAL_SECONDS` while the projected list calls stay
within `PSV_POLL_CALLS_PER_MINUTE`, stretched above it, down to one pass a minute (as before the cadence).

- Projection: a pass lists, per kind in a (project, location), the non-final jobs at 100 a page plus one call for the
  runs that finished (docs/benchmarks.md, "Calls model"): `ceil(n / 100) + 1`, summed over kinds per location. The
  region's quota (600 requests a minute) is per location, so the busiest location decides.
- Passes per minute P = clamp(floor(budget / projection), 1, floor(60 / interval)); recomputed after every pass from
  what that pass saw (new submits are seen by the next pass: it reloads the index).
- Window: pass i starts at tick_time + i * 60 / P (never sooner than 60 / P after the previous start), and only while
  that is before tick_time + 60 - max(5 s, 1.5 x the last pass): the loop ends before the next tick arrives (the poll
  function runs one invocation at a time and a tick refused meanwhile is not retried). tick_time is the delivery's
  CloudEvent time, so a late delivery gets a shorter loop, not a later one.
- The loop ends after a pass that left no active run: at 0 active runs an invocation is one pass (idle cost ~0).
- Extra passes need the scope's lease (`PollStore.take_lease`): a duplicate delivery, or a shard worker redelivered
  while its first copy runs, does its first pass (as before) and nothing more.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import log
from ...core import kinds
from .observe import LIST_PAGE_SIZE

MINUTE = 60.0  # Cloud Scheduler's tick (infra/scheduler.tf, `* * * * *`)
MIN_MARGIN_SECONDS = 5.0
MARGIN_FACTOR = 1.5
BUDGET_ATTRIBUTE = "callsPerMinute"  # a shard message's share of PSV_POLL_CALLS_PER_MINUTE


def calls_per_pass(entries: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """Projected list calls of one pass per (project, location): per kind `ceil(n / 100) + 1`, summed."""
    runs_of: Counter[tuple[str, str, str]] = Counter()
    for entry in entries:
        kind = kinds.by_collection(entry.get("collection"))
        runs_of[(str(entry["project"]), str(entry["location"]), kind.collection)] += 1
    calls: Counter[tuple[str, str]] = Counter()
    for (project, location, _), n in runs_of.items():
        calls[(project, location)] += math.ceil(n / LIST_PAGE_SIZE) + 1
    return dict(calls)


def passes_per_minute(calls_by_location: Mapping[Any, int], interval_s: float, budget: float | None) -> int:
    """How many passes a minute fit: clamp(floor(budget / busiest location's calls), 1, floor(60 / interval)).
    Interval 0 or >= 60, or no budget (an old shard message): one."""
    if budget is None or interval_s <= 0 or interval_s >= MINUTE:
        return 1
    most = math.floor(MINUTE / interval_s)
    worst = max(calls_by_location.values(), default=0)
    if worst <= 0:
        return most
    return max(1, min(most, math.floor(budget / worst)))


def latest_start(tick_time: float, last_pass_seconds: float) -> float:
    """No pass starts at or after this: the last one should end before the next tick arrives."""
    return tick_time + MINUTE - max(MIN_MARGIN_SECONDS, MARGIN_FACTOR * last_pass_seconds)


def next_start(tick_time: float, done: int, per_minute: int, previous_start: float) -> float:
    """When the pass after `done` passes starts: on the minute's grid of `per_minute`, and never sooner than one
    spacing after the previous pass started (a late delivery does not squeeze passes together)."""
    spacing = MINUTE / per_minute
    return max(tick_time + done * spacing, previous_start + spacing)


@dataclass
class Clock:
    """Wall-clock seconds and sleeping (tests inject both: no real sleeping in unit tests)."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Plan:
    scope: str  # the lease's scope: the shard range ("00~64" inline)
    tick_time: float  # the delivery's CloudEvent time (epoch seconds)
    interval: float
    budget: float | None  # list calls a minute for this scope; None: one pass (an old shard message)
    totals: Counter[str] = field(default_factory=Counter)


def run(
    plan: Plan,
    one_pass: Callable[[], dict[str, Any]],
    take_lease: Callable[[str, str, float, float], bool],
    clock: Clock,
) -> dict[str, Any]:
    """The first pass (always), then more while the plan allows them and this invocation holds the lease. Returns
    the last pass's summary with `cadence` (also logged as `poll cadence`)."""
    started = clock.now()
    passes, planned, lease = 0, 1, None
    projected = 0
    start = started
    summary: dict[str, Any] = {}
    while True:
        began = clock.now()
        if passes == 0:
            summary = one_pass()  # the tick's own pass: a failure is the invocation's, as without the cadence
        else:
            try:
                summary = one_pass()
            except Exception as exc:  # noqa: BLE001 - the tick's pass is done; the next tick polls again
                log.error("poll cadence pass failed", error=f"{type(exc).__name__}: {str(exc)[:500]}")
                break
        passes += 1
        took = clock.now() - began
        for key in ("changes", "adopted", "eventsPublished"):
            plan.totals[key] += int(summary.get(key) or 0)
        for method, n in (summary.get("vertexCalls") or {}).items():
            plan.totals[f"vertex.{method}"] += int(n)
        if not summary.get("activeRuns"):
            break  # nothing left to follow: the next tick looks again
        calls = {"busiest": int(summary.get("projectedListCalls") or 0)}
        per_minute = passes_per_minute(calls, plan.interval, plan.budget)
        projected = per_minute * calls["busiest"]
        planned = max(planned, passes + _remaining(plan, passes, per_minute, start, took))
        if per_minute <= 1:
            break
        at = next_start(plan.tick_time, passes, per_minute, start)
        if at >= latest_start(plan.tick_time, took):
            break
        if lease is None:
            lease = _lease(take_lease, plan, clock)
        if not lease:
            break
        clock.sleep(max(0.0, at - clock.now()))
        start = at
    cadence = {
        "passes": passes,
        "passesPlanned": planned,
        "intervalSeconds": plan.interval,
        "listCallsPerMinute": projected,
        "budget": plan.budget,
        "lease": bool(lease),
        "changes": plan.totals["changes"],
        "eventsPublished": plan.totals["eventsPublished"],
        "vertexCalls": {k.removeprefix("vertex."): v for k, v in plan.totals.items() if k.startswith("vertex.")},
        "seconds": round(clock.now() - started, 3),
    }
    log.info("poll cadence", shardRange=summary.get("shardRange"), **cadence)
    return {**summary, "cadence": cadence}


def _lease(take_lease: Callable[[str, str, float, float], bool], plan: Plan, clock: Clock) -> bool:
    """Take the scope's lease until the end of the tick's minute; a store that fails counts as not held."""
    try:
        return take_lease(plan.scope, uuid.uuid4().hex, plan.tick_time + MINUTE, clock.now())
    except Exception as exc:  # noqa: BLE001 - without the lease the invocation is its first pass, as before
        log.warning("poll cadence lease not taken", scope=plan.scope, error=f"{type(exc).__name__}: {str(exc)[:300]}")
        return False


def _remaining(plan: Plan, done: int, per_minute: int, start: float, took: float) -> int:
    """Passes still to come in this window at `per_minute` (for the summary's passesPlanned)."""
    count, previous = 0, start
    while per_minute > 1:
        at = next_start(plan.tick_time, done + count, per_minute, previous)
        if at >= latest_start(plan.tick_time, took):
            break
        count, previous = count + 1, at
    return count
