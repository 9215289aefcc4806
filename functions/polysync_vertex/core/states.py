"""Vertex AI job states and the Polysync status each maps to (seed 000)."""

from __future__ import annotations

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

_STATUS = {
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

# Vertex AI's own final states: a job in one of them never changes again.
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED, PARTIALLY_SUCCEEDED})
# States a poll lists as "still in flight" (everything Vertex AI may still move on from).
NON_FINAL_STATES = (PENDING, QUEUED, RUNNING, PAUSED, CANCELLING, UPDATING, UNSPECIFIED)
WAITING_STATES = frozenset({PENDING, QUEUED})
# The pseudo state recorded when the job disappeared from Vertex AI (deleted outside the connector).
DELETED = "JOB_STATE_DELETED"


def polysync_status(vertex_state: str) -> str:
    return _STATUS.get(vertex_state, "Unknown")


def is_final(vertex_state: str) -> bool:
    return vertex_state in FINAL_STATES or vertex_state == DELETED
