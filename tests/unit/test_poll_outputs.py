"""The poller's decisions about a Custom Job's outputs file when its run ends (issue 26), with an in-memory
ObjectReader: read once on Success and Failed, bounded per tick, a failed read retried once, never on Cancelled; and
how the run record carries them (status and terminal event)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from polysync_vertex.core import outputs, runs
from polysync_vertex.core.errors import UpstreamError
from polysync_vertex.core.names import JobResourceName
from polysync_vertex.services.poll.outputs import OutputsReads

URI = "gs://outs/polysync-outputs/k/outputs.json"
PARAMS = [
    {"name": "SCORE", "type": "Number", "direction": "Output", "value": None},
    {"name": "MODE", "type": "String", "direction": "InputOutput", "value": "fast"},
]
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


class FakeObjects:
    def __init__(self, objects: dict[str, bytes] | None = None, fail: int = 0) -> None:
        self.objects = objects or {}
        self.fail = fail
        self.calls: Counter[str] = Counter()

    def read(self, uri: str, max_bytes: int, deadline: float) -> bytes | None:
        self.calls["storage.read"] += 1
        assert deadline > time.monotonic()
        if self.fail:
            self.fail -= 1
            raise UpstreamError("PERMISSION_DENIED", "no storage.objects.get", method="storage.read")
        data = self.objects.get(uri)
        return None if data is None else data[: max_bytes + 1]


def run(**extra: Any) -> dict[str, Any]:
    origin = runs.RunOrigin(
        "r1", "k", "job", output_names=("SCORE", "MODE"), outputs_file={"uri": URI, "parameters": PARAMS}
    )
    record = runs.new_run(
        origin,
        JobResourceName("p", "us-central1", "123", "customJobs"),
        {"name": "projects/p/locations/us-central1/customJobs/123", "state": "JOB_STATE_RUNNING"},
        NOW,
    )
    record.update(extra)
    return record


def deadline() -> float:
    return time.monotonic() + 30


@pytest.mark.parametrize("state", ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_EXPIRED"])
def test_read_once_on_success_and_failure(state: str) -> None:
    store = FakeObjects({URI: b'{"SCORE": 0.5}'})
    decision = OutputsReads(store).decide(run(), state, deadline())
    assert decision is not None and decision.outputs == {"SCORE": 0.5, "MODE": "fast"}
    assert store.calls["storage.read"] == 1


def test_a_missing_object_is_recorded_with_where_it_was_looked_for() -> None:
    decision = OutputsReads(FakeObjects()).decide(run(), "JOB_STATE_SUCCEEDED", deadline())
    assert decision is not None and decision.outputs is not None
    assert decision.outputs["SCORE"] is None and URI in decision.outputs["_error"]


@pytest.mark.parametrize("state", ["JOB_STATE_CANCELLED", "JOB_STATE_DELETED"])
def test_cancelled_or_deleted_runs_are_not_read(state: str) -> None:
    store = FakeObjects({URI: b'{"SCORE": 0.5}'})
    decision = OutputsReads(store).decide(run(), state, deadline())
    if state == "JOB_STATE_DELETED":
        assert decision is None
    else:
        assert decision is not None and decision.outputs is not None
        assert decision.outputs["SCORE"] is None and "ended Cancelled" in decision.outputs["_error"]
    assert store.calls["storage.read"] == 0


def test_runs_without_a_file_or_already_read_need_nothing() -> None:
    store = FakeObjects()
    reads = OutputsReads(store)
    plain = run()
    del plain["outputsFile"]
    assert reads.decide(plain, "JOB_STATE_SUCCEEDED", deadline()) is None
    assert reads.decide(run(outputs={"SCORE": 1}), "JOB_STATE_SUCCEEDED", deadline()) is None
    assert store.calls["storage.read"] == 0


def test_reads_per_tick_are_bounded_the_rest_wait() -> None:
    store = FakeObjects({URI: b"{}"})
    reads = OutputsReads(store, limit=2)
    decisions = [reads.decide(run(), "JOB_STATE_SUCCEEDED", deadline()) for _ in range(3)]
    assert [d is not None and d.outputs is not None for d in decisions] == [True, True, False]
    assert decisions[2] is not None and not decisions[2].note_failure
    assert store.calls["storage.read"] == 2


def test_a_failed_read_is_noted_then_retried_once_then_recorded_with_the_reason() -> None:
    store = FakeObjects({URI: b'{"SCORE": 1}'}, fail=2)
    first = OutputsReads(store).decide(run(), "JOB_STATE_SUCCEEDED", deadline())
    assert first is not None and first.outputs is None and first.note_failure
    second = OutputsReads(store).decide(run(outputsReadFailed="t"), "JOB_STATE_SUCCEEDED", deadline())
    assert second is not None and second.outputs is not None
    assert second.outputs["SCORE"] is None and second.outputs["MODE"] == "fast"
    assert "could not be read: PERMISSION_DENIED" in second.outputs["_error"]


def test_a_read_that_succeeds_on_the_retry_is_recorded() -> None:
    store = FakeObjects({URI: b'{"SCORE": 1}'}, fail=1)
    OutputsReads(store).decide(run(), "JOB_STATE_SUCCEEDED", deadline())
    again = OutputsReads(store).decide(run(outputsReadFailed="t"), "JOB_STATE_SUCCEEDED", deadline())
    assert again is not None and again.outputs == {"SCORE": 1, "MODE": "fast"}


def test_the_terminal_event_and_status_carry_the_outputs_and_the_status_is_the_jobs() -> None:
    record = run()
    assert runs.public(record)["outputs"] is None
    read = outputs.read(outputs.declared_of(record), b'{"SCORE": "high"}', URI)
    event = runs.apply_state(record, {"state": "JOB_STATE_SUCCEEDED"}, NOW, read_outputs=read)
    assert event is not None
    assert record["status"] == "Success" and record["outputs"]["SCORE"] is None and "_error" in record["outputs"]
    assert event["data"]["outputs"] == record["outputs"] == runs.public(record)["outputs"]


def test_a_final_state_recorded_without_reading_leaves_the_outputs_due_for_the_poller() -> None:
    """A cancel (or a takeover, an adoption) that finds the job ended records its final state without a storage
    reader: the outputs stay null and due, the run stays active, and its terminal event waits in the outbox."""
    record = run()
    event = runs.apply_state(record, {"state": "JOB_STATE_SUCCEEDED"}, NOW)  # e.g. a cancel that found it ended
    assert event is not None and record["outputs"] is None and outputs.due(record)
    assert record["active"] and runs.needs_poller(record)
    late = runs.new_run(
        runs.RunOrigin("r2", "k2", "job", outputs_file={"uri": URI, "parameters": PARAMS}),
        JobResourceName("p", "us-central1", "124", "customJobs"),
        {"name": "projects/p/locations/us-central1/customJobs/124", "state": "JOB_STATE_SUCCEEDED"},
        NOW,
    )
    assert late["outputs"] is None and outputs.due(late) and late["active"]
    assert not outputs.due(run()) and not outputs.due(run(vertexState="JOB_STATE_DELETED"))


def test_due_outputs_are_read_once_and_complete_the_held_terminal_event_only() -> None:
    from polysync_vertex.services.poll import record as poll_record

    record = run()
    runs.apply_state(record, {"state": "JOB_STATE_CANCELLING"}, NOW)
    runs.apply_state(record, {"state": "JOB_STATE_SUCCEEDED"}, NOW)
    store = FakeObjects({URI: b'{"SCORE": 5}'})
    decision = OutputsReads(store).decide_observed(record, None, False, deadline())
    assert decision is not None and decision.outputs == {"SCORE": 5, "MODE": "fast"}
    mutate = poll_record.mutation(record, None, False, NOW, 3600, decision)
    assert mutate is not None and mutate(record)
    assert record["outputs"] == {"SCORE": 5, "MODE": "fast"} and not outputs.due(record)
    cancelling, final = record["outbox"]
    assert cancelling["data"]["outputs"] is None and final["data"]["outputs"] == record["outputs"]
    assert mutate(record) is None  # already completed (another poller): nothing written twice
    assert OutputsReads(store).decide_observed(record, None, False, deadline()) is None
    assert store.calls["storage.read"] == 1
