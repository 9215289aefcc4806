"""Vertex AI job states and the Polysync status each maps to (seed 000; contract, "Job types").

Custom Jobs and Batch Prediction Jobs use `JobState` (JOB_STATE_*), Pipeline Jobs `PipelineState`
(PIPELINE_STATE_*). A job kind names its `StateSet`; since the two enums' names never coincide, the module-level
helpers (`polysync_status`, `is_final`, `WAITING_STATES`) answer for a state of either set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

SUCCEEDED = "JOB_STATE_SUCCEEDED"
FAILED = "JOB_STATE_FAILED"
CANCELLED = "JOB_STATE_CANCELLED"
CANCELLING = "JOB_STATE_CANCELLING"
EXPIRED = "JOB_STATE_EXPIRED"
PENDING = "JOB_STATE_PENDING"
QUEUED = "JOB_STATE_QUEUED"
RUNNING = "JOB_STATE_RUNNING"
PAUSED = "JOB_STATE_PAUSED"
UNSPECIFIED = "JOB_STATE_UNSPECIFIED"
PARTIALLY_SUCCEEDED = "JOB_STATE_PARTIALLY_SUCCEEDED"
UPDATING = "JOB_STATE_UPDATING"
# The pseudo state recorded when the job disappeared from Vertex AI (deleted outside the connector).
DELETED = "JOB_STATE_DELETED"


@dataclass(frozen=True)
class StateSet:
    """One Vertex AI state enum: its Polysync mapping and the sets the connector decides by."""

    status: Mapping[str, str]
    final: frozenset[str]
    # States a poll lists as "still in flight" (everything Vertex AI may still move on from).
    non_final: tuple[str, ...]
    waiting: frozenset[str]
    cancelling: str
    unspecified: str
    deleted: str


JOB_STATES = StateSet(
    status=MappingProxyType(
        {
            SUCCEEDED: "Success",
            FAILED: "Failed",
            EXPIRED: "Failed",
            RUNNING: "Running",
            QUEUED: "Running",
            PENDING: "Running",
            PAUSED: "Running",
            CANCELLING: "Running",
            CANCELLED: "Cancelled",
        }
    ),
    final=frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED, PARTIALLY_SUCCEEDED}),
    non_final=(PENDING, QUEUED, RUNNING, PAUSED, CANCELLING, UPDATING, UNSPECIFIED),
    waiting=frozenset({PENDING, QUEUED}),
    cancelling=CANCELLING,
    unspecified=UNSPECIFIED,
    deleted=DELETED,
)

_P = "PIPELINE_STATE_"
PIPELINE_STATES = StateSet(
    status=MappingProxyType(
        {
            _P + "SUCCEEDED": "Success",
            _P + "FAILED": "Failed",
            _P + "RUNNING": "Running",
            _P + "QUEUED": "Running",
            _P + "PENDING": "Running",
            _P + "PAUSED": "Running",
            _P + "CANCELLING": "Running",
            _P + "CANCELLED": "Cancelled",
        }
    ),
    final=frozenset({_P + "SUCCEEDED", _P + "FAILED", _P + "CANCELLED"}),
    non_final=(_P + "QUEUED", _P + "PENDING", _P + "RUNNING", _P + "CANCELLING", _P + "PAUSED", _P + "UNSPECIFIED"),
    waiting=frozenset({_P + "PENDING", _P + "QUEUED"}),
    cancelling=_P + "CANCELLING",
    unspecified=_P + "UNSPECIFIED",
    deleted=_P + "DELETED",
)

_SETS = (JOB_STATES, PIPELINE_STATES)
_STATUS = {k: v for s in _SETS for k, v in s.status.items()}
# Vertex AI's own final states: a job in one of them never changes again.
FINAL_STATES = frozenset().union(*(s.final for s in _SETS))
NON_FINAL_STATES = JOB_STATES.non_final
WAITING_STATES = JOB_STATES.waiting
# Waiting states of every set (a run of any kind waits in one of these).
ANY_WAITING = frozenset().union(*(s.waiting for s in _SETS))
DELETED_STATES = frozenset(s.deleted for s in _SETS)


def polysync_status(vertex_state: str) -> str:
    return _STATUS.get(vertex_state, "Unknown")


def is_final(vertex_state: str) -> bool:
    return vertex_state in FINAL_STATES or vertex_state in DELETED_STATES
