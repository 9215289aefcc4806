"""Scripted job lifecycles: ``VERTEX_EMULATOR_SCENARIO`` strings and the timelines built from them.

Generic over the collections: what a scenario needs of one (its state names, final states, default scenario, the
error of a state) is passed in, so this module knows no collection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .states import JOB_FINAL

SCENARIO_ENV = "VERTEX_EMULATOR_SCENARIO"
CANCEL_DELAY_ENV = "VERTEX_EMULATOR_CANCEL_DELAY"
CANCEL_DELAY_S = 1.0

CANCELLED_ERROR: dict[str, Any] = {"code": 1, "message": "CANCELED"}

StateError = Callable[[str, str, str], "dict[str, Any] | None"]


class Lifecycle(Protocol):
    """What parsing a scenario needs of a collection (``collection.Resource`` is one)."""

    @property
    def final_states(self) -> frozenset[str]: ...

    @property
    def default_scenario(self) -> str: ...

    def state_name(self, value: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One scenario entry: a state and how long it lasts (``None`` for the last one)."""

    state: str
    seconds: float | None


@dataclass(frozen=True, slots=True)
class Segment:
    """The job is in ``state`` from ``start_us`` until the next segment starts."""

    state: str
    start_us: int
    error: dict[str, Any] | None = None


def parse_scenario(text: str, lifecycle: Lifecycle) -> list[Step]:
    """Parse ``PENDING:1,QUEUED:2,RUNNING:5,SUCCEEDED`` (ValueError with a readable reason).

    States are named without their prefix (or with it) and belong to the collection's state enum (JOB_STATE_* for
    CustomJobs and BatchPredictionJobs, PIPELINE_STATE_* for PipelineJobs).
    """
    default = lifecycle.default_scenario
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"empty entry in scenario {text!r}; expected e.g. '{default}'")
    steps: list[Step] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        name, sep, seconds_text = part.partition(":")
        state = lifecycle.state_name(name)
        seconds: float | None = None
        if sep:
            if last:
                raise ValueError(f"the last scenario state {part!r} takes no duration: it is final or lasts forever")
            try:
                seconds = float(seconds_text)
            except ValueError:
                raise ValueError(f"bad duration in scenario entry {part!r}") from None
            if not seconds >= 0 or seconds == float("inf"):
                raise ValueError(f"duration must be a finite number >= 0 in scenario entry {part!r}")
        elif not last:
            raise ValueError(f"scenario entry {part!r} needs a duration, e.g. '{name}:1'")
        if state in lifecycle.final_states and not last:
            raise ValueError(f"final state {state} must be the last scenario entry")
        steps.append(Step(state, seconds))
    return steps


def timeout_error(timeout_text: str) -> dict[str, Any]:
    return {
        "code": 4,
        "message": f"The job ran longer than its scheduling.timeout of {timeout_text} and was stopped.",
    }


def build_timeline(
    steps: list[Step], start_us: int, time_factor: float, project: str, job_id: str, errors: StateError
) -> list[Segment]:
    """Absolute segments for a scenario; ``errors(state, project, job_id)`` is the error a state reports."""
    segments: list[Segment] = []
    at = start_us
    for step in steps:
        segments.append(Segment(step.state, at, errors(step.state, project, job_id)))
        if step.seconds is not None:
            at += round(step.seconds * time_factor * 1_000_000)
    return segments


def apply_timeout(segments: list[Segment], timeout_s: float, time_factor: float, timeout_text: str) -> list[Segment]:
    """``scheduling.timeout`` (a CustomJob's) counted from the first RUNNING: FAILED at the deadline."""
    running = next((s for s in segments if s.state == "JOB_STATE_RUNNING"), None)
    if running is None:
        return segments
    deadline = running.start_us + round(timeout_s * time_factor * 1_000_000)
    kept = [s for s in segments if s.start_us <= deadline]
    if kept[-1].state in JOB_FINAL:
        return segments
    return [*kept, Segment("JOB_STATE_FAILED", deadline, timeout_error(timeout_text))]
