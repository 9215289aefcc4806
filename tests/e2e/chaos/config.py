"""Settings of a chaos run and the shapes of its plans, outcomes and result."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polysync_local.client import Response
from tests.helpers import LOCATION, PARENT, PROJECT

__all__ = ["LOCATION", "PARENT", "PROJECT"]  # re-exported for the package's modules


STATUS_CHANGED = "com.polysync.vertex.run.status_changed"
IMAGE = "us-docker.pkg.dev/local-project/chaos/trainer:1"
FINAL_STATUSES = frozenset({"Success", "Failed", "Cancelled", "Unknown"})
RETRYABLE = frozenset({0, 429, 500, 502, 503, 504})
CUSTOM, PIPELINE, BATCH = "Vertex AI Custom Job", "Vertex AI Pipeline Job", "Vertex AI Batch Prediction Job"
JOB_TYPES = (CUSTOM, PIPELINE, BATCH)
SHORT_TYPE = {CUSTOM: "custom", PIPELINE: "pipeline", BATCH: "batch"}
# Vertex AI's state enum per job type: Pipeline Jobs have PIPELINE_STATE_*, the others JOB_STATE_*.
STATE_PREFIX = {CUSTOM: "JOB_STATE_", PIPELINE: "PIPELINE_STATE_", BATCH: "JOB_STATE_"}
CANCELLED_STATES = frozenset(
    {"JOB_STATE_CANCELLED", "JOB_STATE_CANCELLING", "PIPELINE_STATE_CANCELLED", "PIPELINE_STATE_CANCELLING"}
)
EXPECTED_STATE = {"SUCCEEDED": "JOB_STATE_SUCCEEDED", "FAILED": "JOB_STATE_FAILED", "CANCEL": "JOB_STATE_CANCELLED"}
_FINAL_NAME = {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED", "CANCEL": "CANCELLED"}
# A job's lifecycle order; a published state may never go back in it.
STATE_RANK = {
    f"{prefix}{state}": rank
    for prefix in ("JOB_STATE_", "PIPELINE_STATE_")
    for state, rank in (("PENDING", 1), ("QUEUED", 2), ("RUNNING", 3), ("CANCELLING", 4))
}
PUBLISH_TIMEOUT = 30.0  # functions/polysync_vertex/adapters/pubsub.py: a Pub/Sub outage must outlast it to be seen
SAVED_ENV = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")


@dataclass
class ChaosConfig:
    runs: int = 40
    clients: int = 8
    seed: int = 20261122
    time_factor: float = 0.05
    tick_seconds: float = 1.0
    request_budget: float = 10.0  # PSV_REQUEST_BUDGET_SECONDS: leases of killed attempts expire after it + 15 s
    submit_window: float = 20.0  # runs start spread over this many seconds
    vertex_error_ratio: float = 0.2
    create_timeouts: int = 3  # CreateCustomJob calls held longer than the request budget
    # Shares of the runs that are Pipeline Jobs and Batch Prediction Jobs (the rest are Custom Jobs).
    pipeline_share: float = 0.2
    batch_share: float = 0.2
    # CreatePipelineJob and CreateBatchPredictionJob calls held longer than the request budget (each).
    other_create_timeouts: int = 1
    slow_creates: int = 2  # CreateCustomJob calls held for 2x the request budget
    very_slow_creates: int = 1  # ... and for very_slow_create_seconds
    very_slow_create_seconds: float = 40.0
    settle_ticks: int = 2  # poll ticks after every held create landed, before the invariants are checked
    kills: int = 2
    outage_seconds: float = 33.0  # Pub/Sub refused for this long (0: no outage), starting a few s into the phase
    # Pipeline runs whose output Firestore cannot store natively (issue 30: an array in an array, nesting over 20
    # levels, a reserved key), in the middle of the runs: every run, these included, must still complete in order.
    poison_runs: int = 3
    # Hints (issue 24): the log router stand-in delivers every hint entry 3x shuffled (a storm) for the first
    # `hint_storm` seconds, drops every one (loss) for the next `hint_loss` seconds, then routes normally; its delay
    # is `hint_delay` (shorter than the stack's 1-2 s, so hints race the 1 s ticks). 0 and 0: hints as the stack has.
    # Each phase lasts until it stormed / dropped at least `hint_min_entries` entries (entries come later on a loaded
    # machine).
    hint_storm: float = 12.0
    hint_loss: float = 12.0
    hint_min_entries: int = 10
    hint_delay: tuple[float, float] = (0.2, 1.0)
    deadline: float = 240.0  # every run final and every event drained within this many s after the last submit
    work_dir: Path | None = None
    verbose: bool = False


@dataclass
class Plan:
    index: int
    request_id: str
    outcome: str  # SUCCEEDED | FAILED | CANCEL
    sends: int
    concurrent: bool
    start_at: float  # seconds after the chaos phase starts
    body: dict[str, Any]
    job_type: str = CUSTOM
    # What a succeeded run's record must carry: {"outputs": {...}} (Pipeline Job) or {"successfulCount": "N",
    # "outputUriPrefix": "gs://..."} (Batch Prediction Job).
    expect: dict[str, Any] = field(default_factory=dict)


def expected_state(plan: Plan) -> str:
    """The final Vertex AI state the plan asks for, in its type's enum."""
    return STATE_PREFIX[plan.job_type] + _FINAL_NAME[plan.outcome]


def running_state(job_type: str) -> str:
    return STATE_PREFIX[job_type] + "RUNNING"


@dataclass
class Outcome:
    plan: Plan
    responses: list[Response] = field(default_factory=list)
    cancels: list[Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    run_id: str = ""
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    counts: dict[str, Any]
    violations: list[str]
    seconds: float
    log_dir: Path | None = None

    def summary(self) -> str:
        parts = " ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"chaos: {parts} violations={len(self.violations)} time={self.seconds:.0f}s"


def log(config: ChaosConfig, message: str) -> None:
    if config.verbose:
        print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
