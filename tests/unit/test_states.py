"""The contract's status mapping (seed 000), including "anything else -> Unknown"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysync_vertex.core import states

MAPPING = {
    "JOB_STATE_SUCCEEDED": "Success",
    "JOB_STATE_FAILED": "Failed",
    "JOB_STATE_EXPIRED": "Failed",
    "JOB_STATE_RUNNING": "Running",
    "JOB_STATE_QUEUED": "Running",
    "JOB_STATE_PENDING": "Running",
    "JOB_STATE_PAUSED": "Running",
    "JOB_STATE_CANCELLING": "Running",
    "JOB_STATE_CANCELLED": "Cancelled",
}


@pytest.mark.parametrize(("state", "status"), sorted(MAPPING.items()))
def test_contract_table(state: str, status: str) -> None:
    assert states.polysync_status(state) == status


@pytest.mark.parametrize(
    "state",
    [
        "JOB_STATE_UNSPECIFIED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
        "JOB_STATE_UPDATING",
        "JOB_STATE_DELETED",
        "",
        "SUCCEEDED",
        "job_state_succeeded",
        "JOB_STATE_SUCCEEDED ",
        "JOB_STATE_NEW_IN_2030",
    ],
)
def test_anything_else_is_unknown(state: str) -> None:
    assert states.polysync_status(state) == "Unknown"


@given(st.text(max_size=40))
def test_property_total(state: str) -> None:
    assert states.polysync_status(state) == MAPPING.get(state, "Unknown")


def test_constants_spell_vertex_states() -> None:
    assert {states.SUCCEEDED, states.FAILED, states.EXPIRED, states.CANCELLED} <= set(MAPPING)
    assert states.WAITING_STATES == {"JOB_STATE_PENDING", "JOB_STATE_QUEUED"}


@pytest.mark.parametrize(
    "state",
    [
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
        "JOB_STATE_DELETED",
    ],
)
def test_final_states(state: str) -> None:
    assert states.is_final(state)
    assert state not in states.NON_FINAL_STATES


@pytest.mark.parametrize(
    "state",
    [
        "JOB_STATE_PENDING",
        "JOB_STATE_QUEUED",
        "JOB_STATE_RUNNING",
        "JOB_STATE_PAUSED",
        "JOB_STATE_CANCELLING",
        "JOB_STATE_UPDATING",
        "JOB_STATE_UNSPECIFIED",
    ],
)
def test_non_final_states(state: str) -> None:
    assert not states.is_final(state)
    assert state in states.NON_FINAL_STATES
