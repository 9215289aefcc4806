"""The run record, its state changes and the CloudEvents it emits (contract: status, Status events)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysync_vertex.core import events, runs, states
from polysync_vertex.core.names import JobResourceName

T0 = datetime(2026, 11, 22, 8, 15, 0, tzinfo=UTC)
JOB = JobResourceName("my-proj", "us-central1", "987", "customJobs")
RUN_ID = "projects/my-proj/locations/us-central1/customJobs/987"
THRESHOLD = 1800

CONTRACT_SUBMIT_FIELDS = ["runId", "requestId", "displayName", "status", "vertexState", "consoleUrl", "warnings"]
CONTRACT_STATUS_FIELDS = CONTRACT_SUBMIT_FIELDS + [
    "jobName",
    "sequence",
    "createTime",
    "startTime",
    "endTime",
    "updateTime",
    "error",
    "lastPolled",
    "jobType",
]


def vertex_job(state: str | None = "JOB_STATE_PENDING", accelerator: str | None = "NVIDIA_TESLA_T4") -> dict[str, Any]:
    machine: dict[str, Any] = {"machineType": "n1-standard-4"}
    if accelerator:
        machine.update(acceleratorType=accelerator, acceleratorCount=1)
    job: dict[str, Any] = {
        "name": RUN_ID,
        "displayName": "nightly-train_20261122T081500Z",
        "createTime": "2026-11-22T08:15:00.100Z",
        "updateTime": "2026-11-22T08:15:00.100Z",
        "jobSpec": {"workerPoolSpecs": [{"machineSpec": machine, "replicaCount": "1"}]},
    }
    if state is not None:
        job["state"] = state
    return job


# The request key's shard (`labels.shard_of`) is 7: the run's shard follows from its key.
def make_run(state: str | None = "JOB_STATE_PENDING", accelerator: str | None = "NVIDIA_TESLA_T4") -> dict[str, Any]:
    origin = runs.RunOrigin(
        request_id="run-2026-11-22-0001",
        key="run-2026-11-22-0001-0123456789ab0030",
        job_name="nightly-train",
        template="projects/my-proj/locations/us-central1/customJobs/1234567890",
        fingerprint="f" * 64,
        warnings=("parameter SCORE (Output) is not supported and was ignored",),
    )
    return runs.new_run(origin, JOB, vertex_job(state, accelerator), T0)


def advance(run: dict[str, Any], state: str, minutes: int, **job_fields: Any) -> dict[str, Any] | None:
    return runs.apply_state(run, {"state": state, **job_fields}, T0 + timedelta(minutes=minutes))


# --- new_run / public -------------------------------------------------------------------------------------------


def test_new_run_fields() -> None:
    run = make_run()
    assert runs.public(run) == {
        "runId": RUN_ID,
        "requestId": "run-2026-11-22-0001",
        "displayName": "nightly-train_20261122T081500Z",
        "status": "Running",
        "vertexState": "JOB_STATE_PENDING",
        "consoleUrl": "https://console.cloud.google.com/vertex-ai/locations/us-central1/training/987?project=my-proj",
        "warnings": ["parameter SCORE (Output) is not supported and was ignored"],
        "jobName": "nightly-train",
        "sequence": 1,
        "createTime": "2026-11-22T08:15:00.100Z",
        "startTime": None,
        "endTime": None,
        "updateTime": "2026-11-22T08:15:00.100Z",
        "error": None,
        "lastPolled": None,
        "jobType": "Vertex AI Custom Job",
    }
    assert run["requestKey"] == "run-2026-11-22-0001-0123456789ab0030"
    assert (run["project"], run["location"], run["jobId"]) == ("my-proj", "us-central1", "987")
    assert run["template"] == "projects/my-proj/locations/us-central1/customJobs/1234567890"
    assert run["fingerprint"] == "f" * 64
    assert run["acceleratorType"] == "NVIDIA_TESLA_T4"
    assert run["shard"] == 7
    assert run["outbox"] == []
    assert run["active"] is True
    assert run["waitingSince"] == "2026-11-22T08:15:00.000000Z"
    assert run["queuedAlerted"] is False
    json.dumps(run)  # plain JSON: storable as a Firestore map


def test_new_run_without_state_is_unknown() -> None:
    run = make_run(state=None)
    assert (run["vertexState"], run["status"], run["active"]) == ("JOB_STATE_UNSPECIFIED", "Unknown", True)


def test_new_run_running_has_no_waiting_since() -> None:
    assert make_run("JOB_STATE_RUNNING")["waitingSince"] is None


def test_new_run_final_is_not_active() -> None:
    run = make_run("JOB_STATE_SUCCEEDED")
    assert run["status"] == "Success" and run["active"] is False


def test_new_run_error() -> None:
    job = vertex_job("JOB_STATE_FAILED")
    job["error"] = {"code": 3, "message": "bad image"}
    run = runs.new_run(
        runs.RunOrigin(
            request_id="r",
            key="k",
            job_name="j",
            template=None,
            fingerprint="f",
            warnings=(),
        ),
        JOB,
        job,
        T0,
    )
    assert run["error"] == {"code": 3, "message": "bad image"}
    assert run["warnings"] == [] and run["template"] is None


def test_public_has_exactly_contract_fields_in_order() -> None:
    assert list(runs.public(make_run())) == CONTRACT_STATUS_FIELDS
    assert list(runs.SUBMIT_FIELDS) == CONTRACT_SUBMIT_FIELDS
    assert list(runs.public(make_run(), runs.SUBMIT_FIELDS)) == [*CONTRACT_SUBMIT_FIELDS, "jobType"]


def test_iso_format() -> None:
    assert runs.iso(T0) == "2026-11-22T08:15:00.000000Z"


# --- apply_state ----------------------------------------------------------------------------------------------------


def test_sequence_rises_by_one_per_change() -> None:
    run = make_run()
    e2 = advance(run, "JOB_STATE_QUEUED", 1)
    e3 = advance(run, "JOB_STATE_RUNNING", 2, startTime="2026-11-22T08:17:00Z")
    e4 = advance(run, "JOB_STATE_SUCCEEDED", 3, endTime="2026-11-22T08:18:00Z")
    assert e2 and e3 and e4
    assert [e["id"] for e in (e2, e3, e4)] == [f"{RUN_ID}/2", f"{RUN_ID}/3", f"{RUN_ID}/4"]
    assert run["sequence"] == 4
    assert (run["status"], run["vertexState"]) == ("Success", "JOB_STATE_SUCCEEDED")
    assert (run["startTime"], run["endTime"]) == ("2026-11-22T08:17:00Z", "2026-11-22T08:18:00Z")
    assert run["lastPolled"] == "2026-11-22T08:18:00.000000Z"
    assert [e["id"] for e in run["outbox"]] == [e2["id"], e3["id"], e4["id"]]
    assert run["active"] is True  # final, but the outbox is not yet published


def test_same_state_is_a_no_op() -> None:
    run = make_run()
    advance(run, "JOB_STATE_RUNNING", 1)
    before = copy.deepcopy(run)
    assert advance(run, "JOB_STATE_RUNNING", 2, updateTime="2026-11-22T08:17:00Z") is None
    assert run == before


@pytest.mark.parametrize(
    "final", ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"]
)
@pytest.mark.parametrize("later", ["JOB_STATE_RUNNING", "JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED", None])
def test_final_run_never_changes(final: str, later: str | None) -> None:
    run = make_run()
    advance(run, final, 1)
    before = copy.deepcopy(run)
    assert runs.apply_state(run, {"state": later} if later else {}, T0 + timedelta(minutes=5)) is None
    assert runs.mark_deleted(run, T0 + timedelta(minutes=6)) is None
    assert runs.queued_too_long(run, T0 + timedelta(days=1), THRESHOLD) is None
    assert run == before


def test_failed_records_error() -> None:
    run = make_run("JOB_STATE_RUNNING")
    entry = advance(run, "JOB_STATE_FAILED", 1, error={"code": 8, "message": "quota"})
    assert run["error"] == {"code": 8, "message": "quota"}
    assert entry is not None and entry["data"]["error"] == {"code": 8, "message": "quota"}


def test_cancel_path() -> None:
    run = make_run("JOB_STATE_RUNNING")
    advance(run, "JOB_STATE_CANCELLING", 1)
    assert run["status"] == "Running"
    advance(run, "JOB_STATE_CANCELLED", 2)
    assert run["status"] == "Cancelled" and run["sequence"] == 3


_STATE_SEQ = st.lists(
    st.sampled_from(
        [
            "JOB_STATE_PENDING",
            "JOB_STATE_QUEUED",
            "JOB_STATE_RUNNING",
            "JOB_STATE_PAUSED",
            "JOB_STATE_CANCELLING",
            "JOB_STATE_SUCCEEDED",
            "JOB_STATE_FAILED",
            "JOB_STATE_CANCELLED",
            "JOB_STATE_UNSPECIFIED",
        ]
    ),
    max_size=20,
)


@given(_STATE_SEQ)
def test_property_sequence_counts_changes_until_final(seq: list[str]) -> None:
    run = make_run()
    expected, last = 1, "JOB_STATE_PENDING"
    for i, state in enumerate(seq):
        entry = advance(run, state, i + 1)
        changes = state != last and not states.is_final(last)
        assert (entry is not None) == changes
        if changes:
            expected, last = expected + 1, state
            assert entry is not None and entry["data"]["sequence"] == expected
    assert run["sequence"] == expected
    assert run["vertexState"] == last
    ids = [e["id"] for e in run["outbox"]]
    assert ids == [f"{RUN_ID}/{n}" for n in range(2, expected + 1)]
    assert run["active"] == (bool(ids) or not states.is_final(last))


# --- events ---------------------------------------------------------------------------------------------------------


def test_to_message_attributes_exactly() -> None:
    run = make_run()
    entry = advance(run, "JOB_STATE_RUNNING", 1)
    assert entry is not None
    msg = events.to_message(entry)
    assert msg.attributes == {
        "ce-specversion": "1.0",
        "ce-type": "com.polysync.vertex.run.status_changed",
        "ce-source": "//polysync-vertex/my-proj/us-central1",
        "ce-subject": RUN_ID,
        "ce-id": f"{RUN_ID}/2",
        "ce-time": "2026-11-22T08:16:00.000000Z",
        "content-type": "application/json",
        "status": "Running",
        "jobType": "Vertex AI Custom Job",
        "jobName": "nightly-train",
    }
    assert msg.ordering_key == RUN_ID
    assert msg.ce_id == f"{RUN_ID}/2"
    assert all(isinstance(v, str) for v in msg.attributes.values())
    data = json.loads(msg.data)
    assert data == {
        **runs.public(run),
        "previousStatus": "Running",
        "previousVertexState": "JOB_STATE_PENDING",
    }
    assert data["sequence"] == 2 and data["lastPolled"] == "2026-11-22T08:16:00.000000Z"


def test_message_is_stable_across_retries() -> None:
    run = make_run()
    entry = advance(run, "JOB_STATE_SUCCEEDED", 1)
    assert entry is not None
    stored = json.loads(json.dumps(entry))  # as read back from Firestore
    a, b = events.to_message(entry), events.to_message(stored)
    assert (a.data, a.attributes, a.ordering_key) == (b.data, b.attributes, b.ordering_key)
    data = json.loads(a.data)
    assert (data["status"], data["previousStatus"], data["previousVertexState"]) == (
        "Success",
        "Running",
        "JOB_STATE_PENDING",
    )


def test_event_snapshot_not_changed_by_later_changes() -> None:
    run = make_run()
    first = advance(run, "JOB_STATE_RUNNING", 1)
    advance(run, "JOB_STATE_FAILED", 2)
    assert first is not None and first["data"]["vertexState"] == "JOB_STATE_RUNNING"
    assert first["data"]["sequence"] == 2


def test_job_name_attribute_fits_pubsub_limit() -> None:
    run = make_run()
    run["jobName"] = "\u20ac" * 512  # 1536 bytes in UTF-8
    entry = advance(run, "JOB_STATE_RUNNING", 1)
    assert entry is not None
    value = events.to_message(entry).attributes["jobName"]
    assert len(value.encode()) <= 1024
    assert value == "\u20ac" * 341
    assert json.loads(events.to_message(entry).data)["jobName"] == "\u20ac" * 512


def test_source() -> None:
    assert events.source("p-1", "europe-west4") == "//polysync-vertex/p-1/europe-west4"


# --- queued_too_long ------------------------------------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize("waited", [0, 60, THRESHOLD - 1, THRESHOLD])
def test_queued_too_long_not_before_threshold(waited: int) -> None:
    run = make_run()
    assert runs.queued_too_long(run, at(waited), THRESHOLD) is None
    assert run["outbox"] == [] and run["queuedAlerted"] is False


def test_queued_too_long_fires_once_past_threshold() -> None:
    run = make_run()
    advance(run, "JOB_STATE_QUEUED", 5)  # still waiting: measured from the first PENDING
    run["outbox"] = []
    entry = runs.queued_too_long(run, at(THRESHOLD + 1), THRESHOLD)
    assert entry is not None
    assert entry["type"] == "com.polysync.vertex.run.queued_too_long"
    assert entry["id"] == f"{RUN_ID}/queued_too_long"
    message = entry["data"]["message"]
    assert "NVIDIA_TESLA_T4" in message and "us-central1" in message and "quota" in message
    assert "accelerator" in message
    msg = events.to_message(entry)
    assert msg.attributes["ce-type"] == "com.polysync.vertex.run.queued_too_long"
    assert msg.attributes["ce-source"] == "//polysync-vertex/my-proj/us-central1"
    assert msg.ordering_key == RUN_ID
    assert run["outbox"] == [entry] and run["active"] is True
    assert run["sequence"] == 2  # not a state change
    assert runs.queued_too_long(run, at(THRESHOLD + 2), THRESHOLD) is None
    assert runs.queued_too_long(run, at(10 * THRESHOLD), THRESHOLD) is None
    assert len(run["outbox"]) == 1


def test_queued_too_long_not_twice_after_requeue() -> None:
    run = make_run()
    assert runs.queued_too_long(run, at(THRESHOLD + 1), THRESHOLD) is not None
    advance(run, "JOB_STATE_RUNNING", 40)
    advance(run, "JOB_STATE_PENDING", 41)
    assert runs.queued_too_long(run, at(10 * THRESHOLD), THRESHOLD) is None


def test_queued_too_long_without_accelerator_still_names_region() -> None:
    run = make_run(accelerator=None)
    entry = runs.queued_too_long(run, at(THRESHOLD + 1), THRESHOLD)
    assert entry is not None
    assert "us-central1" in entry["data"]["message"] and "quota" in entry["data"]["message"]


def test_queued_too_long_not_while_running() -> None:
    run = make_run("JOB_STATE_RUNNING")
    assert runs.queued_too_long(run, at(10 * THRESHOLD), THRESHOLD) is None


def test_waiting_clock_restarts_after_running() -> None:
    run = make_run()
    advance(run, "JOB_STATE_RUNNING", 1)
    advance(run, "JOB_STATE_PENDING", 60)
    assert runs.queued_too_long(run, at(60 * 60 + THRESHOLD), THRESHOLD) is None
    assert runs.queued_too_long(run, at(60 * 60 + THRESHOLD + 1), THRESHOLD) is not None


# --- mark_deleted ---------------------------------------------------------------------------------------------------


def test_mark_deleted_once() -> None:
    run = make_run("JOB_STATE_RUNNING")
    entry = runs.mark_deleted(run, at(60))
    assert entry is not None
    assert (run["status"], run["vertexState"], run["sequence"]) == ("Unknown", "JOB_STATE_DELETED", 2)
    assert run["error"] is not None and run["error"]["code"] == 5 and "no longer exists" in run["error"]["message"]
    assert entry["data"]["previousStatus"] == "Running"
    assert events.to_message(entry).attributes["status"] == "Unknown"
    before = copy.deepcopy(run)
    assert runs.mark_deleted(run, at(120)) is None
    assert advance(run, "JOB_STATE_RUNNING", 3) is None
    assert run == before
    runs.drop_published(run, {entry["id"]})
    assert run["active"] is False


# --- drop_published -------------------------------------------------------------------------------------------------


def test_drop_published_keeps_unpublished_and_recomputes_active() -> None:
    run = make_run()
    e2 = advance(run, "JOB_STATE_RUNNING", 1)
    e3 = advance(run, "JOB_STATE_SUCCEEDED", 2)
    assert e2 and e3
    runs.drop_published(run, {e2["id"]})
    assert run["outbox"] == [e3] and run["active"] is True
    runs.drop_published(run, {"unknown/id"})
    assert run["outbox"] == [e3]
    runs.drop_published(run, {e3["id"]})
    assert run["outbox"] == [] and run["active"] is False


def test_drop_published_non_final_stays_active() -> None:
    run = make_run()
    e2 = advance(run, "JOB_STATE_RUNNING", 1)
    assert e2
    runs.drop_published(run, {e2["id"]})
    assert run["outbox"] == [] and run["active"] is True


def test_needs_poller() -> None:
    assert runs.needs_poller({"vertexState": "JOB_STATE_RUNNING", "outbox": []})
    assert runs.needs_poller({"vertexState": "JOB_STATE_SUCCEEDED", "outbox": [{"id": "x"}]})
    assert not runs.needs_poller({"vertexState": "JOB_STATE_SUCCEEDED", "outbox": []})
    assert not runs.needs_poller({"vertexState": "JOB_STATE_DELETED"})


# --- a run recorded already final, and the poller's index entries ---------------------------------------------


def test_run_recorded_final_at_submit_announces_its_end_once() -> None:
    run = make_run("JOB_STATE_SUCCEEDED")
    entry = runs.announce_final_at_submit(run, T0)
    assert entry is not None and entry["id"] == f"{RUN_ID}/1"
    assert entry["data"]["status"] == "Success" and entry["data"]["previousStatus"] is None
    assert run["active"]  # the poller must publish it
    assert runs.announce_final_at_submit(make_run("JOB_STATE_PENDING"), T0) is None


def test_index_entry_and_what_a_tick_must_read() -> None:
    from polysync_vertex.services.poll.index import entry_of
    from polysync_vertex.services.poll.record import needs_record

    run = make_run("JOB_STATE_RUNNING")
    entry = entry_of(run)
    assert entry["vertexState"] == "JOB_STATE_RUNNING" and entry["sequence"] == 1 and not entry["pending"]
    assert entry["shard"] == 7 and entry["jobId"] == "987"
    assert not needs_record(entry, "JOB_STATE_RUNNING", False, False)
    assert needs_record(entry, "JOB_STATE_SUCCEEDED", False, False)
    assert needs_record(entry, None, True, False)
    assert needs_record(entry, None, False, True)
    assert not needs_record(entry, None, False, False)  # not observed this tick: nothing to do
    advance(run, "JOB_STATE_SUCCEEDED", 1)
    assert entry_of(run)["pending"] and needs_record(entry_of(run), "JOB_STATE_SUCCEEDED", False, False)


def test_waited_too_long_uses_the_waiting_time() -> None:
    run = make_run("JOB_STATE_QUEUED")
    assert runs.waited_too_long(run, T0 + timedelta(seconds=THRESHOLD), THRESHOLD) is None
    assert runs.waited_too_long(run, T0 + timedelta(seconds=THRESHOLD + 60), THRESHOLD) == THRESHOLD + 60
    run["queuedAlerted"] = True
    assert runs.waited_too_long(run, T0 + timedelta(seconds=THRESHOLD + 60), THRESHOLD) is None
