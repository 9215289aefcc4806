"""The services' decisions against in-memory fakes of their ports (tests/fakes.py): milliseconds, not emulators.

Takeover of a dead attempt, a busy twin, an ambiguous create, a poll racing another writer, orphan adoption and
the cancel of a request's second job. The same paths run against the real emulators in tests/integration."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from polysync_vertex.config import Settings
from polysync_vertex.core import kinds, runs
from polysync_vertex.core.errors import ApiError
from polysync_vertex.core.labels import job_labels, request_key
from polysync_vertex.services.poll import PollService
from polysync_vertex.services.submit import SubmitService
from tests.fakes import FakePublisher, FakeStore, FakeVertex
from tests.helpers import example_body

PARENT = "projects/my-proj/locations/us-central1"
SETTINGS = Settings(
    project="my-proj", allowed_projects=("my-proj",), allowed_locations=("us-central1",), request_budget_seconds=1.0
)


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


def submit(vertex: FakeVertex, store: FakeStore, request_id: str = "r-1") -> tuple[int, dict[str, Any]]:
    return SubmitService(SETTINGS, vertex, store).submit(example_body(request_id))


def poller(vertex: FakeVertex, store: FakeStore, publisher: FakePublisher) -> PollService:
    return PollService(SETTINGS, vertex, store, publisher)


def record_of(store: FakeStore, run_id: str) -> dict[str, Any]:
    run = store.get_run(kinds.run_doc_id(kinds.parse_run_name(run_id, "runId")[1]))
    assert run is not None
    return run


def test_a_replayed_request_answers_the_same_run_without_a_second_job(vertex: FakeVertex, store: FakeStore) -> None:
    code, first = submit(vertex, store)
    again, second = submit(vertex, store)
    assert (code, again) == (201, 200) and first == second
    assert vertex.calls["create"] == 1 and len(vertex.jobs) == 1


def test_a_takeover_finds_the_dead_attempts_job_instead_of_creating_another(
    vertex: FakeVertex, store: FakeStore
) -> None:
    key = request_key("r-1")
    # An earlier attempt claimed the request, created its job, and died: its lease has run out.
    store.claim(key, "r-1", _fingerprint("r-1"), time.time() - 1, time.time() - 60, parent=PARENT)
    landed = vertex.add(kinds.CUSTOM, PARENT, {"labels": job_labels(None, key, "nightly-train"), "displayName": "x"})
    code, run = submit(vertex, store)
    assert code == 201 and run["runId"] == landed["name"]
    assert vertex.calls["create"] == 0 and len(vertex.jobs) == 1
    assert store.requests[key][0]["watchUntil"] > time.time()  # the poller watches for a later landing


def test_a_busy_twin_answers_503_and_creates_nothing(vertex: FakeVertex, store: FakeStore) -> None:
    key = request_key("r-1")
    store.claim(key, "r-1", _fingerprint("r-1"), time.time() + 60, time.time())
    with pytest.raises(ApiError) as info:
        submit(vertex, store)
    assert (info.value.status, info.value.retry_after) == ("UNAVAILABLE", 5)
    assert vertex.calls["create"] == 0


def test_an_ambiguous_create_that_landed_is_found_by_its_label(vertex: FakeVertex, store: FakeStore) -> None:
    vertex.land_then_fail("DEADLINE_EXCEEDED")
    code, run = submit(vertex, store)
    assert code == 201 and list(vertex.jobs) == [run["runId"]]
    assert vertex.calls["create"] == 1


def test_an_ambiguous_create_that_did_not_land_keeps_the_claim_and_is_never_repeated(
    vertex: FakeVertex, store: FakeStore
) -> None:
    vertex.fail("create", "DEADLINE_EXCEEDED")
    with pytest.raises(ApiError) as info:
        submit(vertex, store)
    assert info.value.http == 503 and vertex.calls["create"] == 1 and not vertex.jobs
    assert store.requests[request_key("r-1")][0]["phase"] == "creating"  # a retry takes over after the lease


def test_a_refused_create_releases_the_claim(vertex: FakeVertex, store: FakeStore) -> None:
    vertex.fail("create", "INVALID_ARGUMENT")
    with pytest.raises(ApiError):
        submit(vertex, store)
    assert request_key("r-1") not in store.requests and not vertex.jobs


def test_a_poll_racing_another_writer_re_reads_and_records_the_change_once(
    vertex: FakeVertex, store: FakeStore, publisher: FakePublisher
) -> None:
    _, run = submit(vertex, store)
    vertex.set_state(run["runId"], "JOB_STATE_SUCCEEDED")
    touched: list[str] = []

    def other_writer(doc_id: str) -> None:  # e.g. status stamping lastPolled between the read and the write
        if not touched:
            touched.append(doc_id)
            data, _ = store.runs[doc_id]
            store._put(store.runs, doc_id, {**data, "lastPolled": "2026-12-01T00:00:00Z"})

    store.before_write = other_writer
    summary = poller(vertex, store, publisher).poll(None)
    assert touched and store.counts["refused"] == 1
    assert summary["changes"] == 1 and summary["eventsPublished"] == 1
    recorded = record_of(store, run["runId"])
    assert (recorded["status"], recorded["sequence"], recorded["outbox"]) == ("Success", 2, [])
    assert publisher.ce_ids() == [f"{run['runId']}/2"]
    assert poller(vertex, store, publisher).poll(None)["changes"] == 0 and len(publisher.published) == 1


def test_a_poll_never_moves_a_run_back_behind_a_cancel_recorded_meanwhile(
    vertex: FakeVertex, store: FakeStore, publisher: FakePublisher
) -> None:
    _, run = submit(vertex, store)
    vertex.set_state(run["runId"], "JOB_STATE_RUNNING")
    doc_id = kinds.run_doc_id(kinds.parse_run_name(run["runId"], "runId")[1])

    def cancel_meanwhile(written: str) -> None:
        store.before_write = lambda _: None
        data, _ = store.runs[written]
        runs.apply_state(data, {"state": "JOB_STATE_CANCELLING"}, datetime.now(UTC))
        store._put(store.runs, written, data)

    store.before_write = cancel_meanwhile
    poller(vertex, store, publisher).poll(None)
    recorded = store.runs[doc_id][0]
    assert recorded["vertexState"] == "JOB_STATE_CANCELLING" and recorded["sequence"] == 2  # RUNNING not recorded


def test_an_orphan_job_is_adopted_as_its_requests_run(
    vertex: FakeVertex, store: FakeStore, publisher: FakePublisher
) -> None:
    key = request_key("late-1")
    # Its submit gave up (the lease ran out with the claim still "creating"); its create landed afterwards.
    store.claim(
        key, "late-1", "f", time.time() - 5, time.time() - 60, parent=PARENT, collection=kinds.CUSTOM.collection
    )
    job = vertex.add(kinds.CUSTOM, PARENT, {"labels": job_labels(None, key, "late"), "displayName": "late_x"})
    summary = poller(vertex, store, publisher).poll(None)
    assert summary["adopted"] == 1
    adopted = record_of(store, job["name"])
    assert adopted["adopted"] is True and adopted["requestKey"] == key
    assert store.requests[key][0]["runId"] == job["name"]
    assert publisher.ce_ids() == [f"{job['name']}/1"]  # nobody heard of it: its events start at sequence 1


def test_a_second_job_of_a_recorded_request_is_cancelled_not_adopted(
    vertex: FakeVertex, store: FakeStore, publisher: FakePublisher
) -> None:
    _, run = submit(vertex, store)
    key = request_key("r-1")
    twin = vertex.add(kinds.CUSTOM, PARENT, {"labels": job_labels(None, key, "nightly-train"), "displayName": "t"})
    summary = poller(vertex, store, publisher).poll(None)
    assert summary["adopted"] == 0 and vertex.calls["cancel"] == 1
    assert vertex.jobs[twin["name"]]["state"] == "JOB_STATE_CANCELLING"
    assert store.get_run(kinds.run_doc_id(kinds.parse_run_name(twin["name"], "runId")[1])) is None
    assert store.requests[key][0]["runId"] == run["runId"]


def _fingerprint(request_id: str) -> str:
    from polysync_vertex.core.request import parse_submit

    return parse_submit(json.loads(json.dumps(example_body(request_id)))).fingerprint
