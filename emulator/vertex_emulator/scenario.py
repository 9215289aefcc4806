"""Scripted job lifecycles: ``VERTEX_EMULATOR_SCENARIO`` strings and the timelines built from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .enums import FINAL_STATES, state_name

if TYPE_CHECKING:
    from .resources import Resource

SCENARIO_ENV = "VERTEX_EMULATOR_SCENARIO"
CANCEL_DELAY_ENV = "VERTEX_EMULATOR_CANCEL_DELAY"
DEFAULT_SCENARIO = "PENDING:1,QUEUED:1,RUNNING:3,SUCCEEDED"
CANCEL_DELAY_S = 1.0

CANCELLED_ERROR: dict[str, Any] = {"code": 1, "message": "CANCELED"}


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


def parse_scenario(text: str, resource: Resource | None = None) -> list[Step]:
    """Parse ``PENDING:1,QUEUED:2,RUNNING:5,SUCCEEDED`` (ValueError with a readable reason).

    States are named without their prefix (or with it) and belong to ``resource``'s state enum (JOB_STATE_* for
    CustomJobs and BatchPredictionJobs, PIPELINE_STATE_* for PipelineJobs).
    """
    to_state = resource.state_name if resource is not None else state_name
    final_states = resource.final_states if resource is not None else FINAL_STATES
    default = resource.default_scenario if resource is not None else DEFAULT_SCENARIO
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"empty entry in scenario {text!r}; expected e.g. '{default}'")
    steps: list[Step] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        name, sep, seconds_text = part.partition(":")
        state = to_state(name)
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
        if state in final_states and not last:
            raise ValueError(f"final state {state} must be the last scenario entry")
        steps.append(Step(state, seconds))
    return steps


def failed_error(project: str, job_id: int | str, exit_code: int = 1, detail: str = "") -> dict[str, Any]:
    logs = f"https://console.cloud.google.com/logs/viewer?project={project}&resource=ml_job%2Fjob_id%2F{job_id}"
    message = (
        f"The replica workerpool0-0 exited with a non-zero status of {exit_code}. "
        f"{detail}To find out more about why your job exited please check the logs: {logs}"
    )
    return {"code": 13, "message": message}


def state_error(state: str, project: str, job_id: int | str) -> dict[str, Any] | None:
    """The ``error`` Vertex AI reports for a job that reached ``state`` on its own."""
    if state == "JOB_STATE_FAILED":
        return failed_error(project, job_id)
    if state == "JOB_STATE_EXPIRED":
        return {
            "code": 4,
            "message": "The job expired: the requested resources did not become available "
            "before the job's maximum wait time.",
        }
    if state == "JOB_STATE_CANCELLED":
        return dict(CANCELLED_ERROR)
    return None


def timeout_error(timeout_text: str) -> dict[str, Any]:
    return {
        "code": 4,
        "message": f"The job ran longer than its scheduling.timeout of {timeout_text} and was stopped.",
    }


def build_timeline(
    steps: list[Step],
    start_us: int,
    time_factor: float,
    project: str,
    job_id: int | str,
    timeout_s: float | None = None,
    timeout_text: str = "",
    resource: Resource | None = None,
) -> list[Segment]:
    """Absolute segments for a scenario, with ``scheduling.timeout`` applied from the first RUNNING."""
    errors = resource.state_error if resource is not None else state_error
    segments: list[Segment] = []
    at = start_us
    for step in steps:
        segments.append(Segment(step.state, at, errors(step.state, project, str(job_id))))
        if step.seconds is not None:
            at += round(step.seconds * time_factor * 1_000_000)
    if timeout_s is not None:
        segments = apply_timeout(segments, timeout_s, time_factor, timeout_text)
    return segments


def apply_timeout(segments: list[Segment], timeout_s: float, time_factor: float, timeout_text: str) -> list[Segment]:
    running = next((s for s in segments if s.state == "JOB_STATE_RUNNING"), None)
    if running is None:
        return segments
    deadline = running.start_us + round(timeout_s * time_factor * 1_000_000)
    kept = [s for s in segments if s.start_us <= deadline]
    if kept[-1].state in FINAL_STATES:
        return segments
    return [*kept, Segment("JOB_STATE_FAILED", deadline, timeout_error(timeout_text))]
