"""The poll cadence (services/poll/cadence.py) against the real Firestore and Pub/Sub emulators and our Vertex AI
emulator: a Batch Prediction Job's change inside the minute is recorded and published by an extra pass before the
next tick; the lease is a conditional write (of two racing invocations one gets it); a duplicate delivery of one tick
does not double the list calls. The tick's minute runs on an injected clock (its sleep advances it), not wall time.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from polysync_vertex import bootstrap
from polysync_vertex.core import runs
from polysync_vertex.services.poll import cadence
from tests.conftest import pull_events
from tests.helpers import PARENT

MODEL = f"{PARENT}/models/sentiment@3"
GCS_INPUT = {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://batch-in/a.jsonl"]}}
GCS_OUTPUT = {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://batch-out/predictions"}}
STAY_PENDING = {"name": "VERTEX_EMULATOR_SCENARIO", "type": "String", "value": "PENDING"}


class FakeClock:
    """The cadence's clock: `sleep` advances it at once and runs `on_sleep` (what happens between passes)."""

    def __init__(self, start: float) -> None:
        self.t = start
        self.sleeps = 0
        self.on_sleep: Callable[[int], None] = lambda i: None

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.t += seconds
        self.on_sleep(self.sleeps)


def cadence_app(settings: Any, start: float) -> tuple[Any, FakeClock]:
    """An app as deployed (interval 15 s, 120 list calls a minute) with the fake clock in its poller."""
    app = bootstrap.build(replace(settings, poll_interval_seconds=15.0, poll_calls_per_minute=120.0))
    clock = FakeClock(start)
    app.poll.clock = cadence.Clock(now=clock.now, sleep=clock.sleep)
    return app, clock


def rfc3339(t: float) -> str:
    return runs.iso(datetime.fromtimestamp(t, UTC))


def submit_batch(call: Any, request_id: str) -> str:
    body = {
        "requestId": request_id,
        "jobName": "score-reviews",
        "jobType": "Vertex AI Batch Prediction Job",
        "attributes": {"model": MODEL, "inputConfig": GCS_INPUT, "outputConfig": GCS_OUTPUT},
        "parameters": [STAY_PENDING],
    }
    resp = call("submit", body)
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["runId"])


def list_calls(vertex: Any) -> int:
    return sum(n for method, n in vertex.calls().items() if method.startswith("List"))


def test_a_batch_jobs_change_inside_the_minute_is_published_by_an_extra_pass_before_the_next_tick(
    call: Any, settings: Any, vertex: Any, status_subscription: str
) -> None:
    run_ids = [submit_batch(call, f"cadence-batch-{i}") for i in range(3)]
    tick_time = time.time()
    app, clock = cadence_app(settings, tick_time)
    pull_events(status_subscription, max_wait=1.0)  # nothing yet: submit publishes no event
    changed_at: list[float] = []

    def between_passes(i: int) -> None:
        if i == 1:  # after the first pass: the job runs, 15 s into the minute (no hint exists for Batch Prediction)
            vertex.set_state(run_ids[0], "JOB_STATE_RUNNING")
            changed_at.append(clock.t)

    clock.on_sleep = between_passes
    vertex.reset_calls()
    summary = app.poll.tick(rfc3339(tick_time))
    report = summary["cadence"]
    assert report["passes"] == 4 and report["lease"] is True and report["changes"] == 1
    assert changed_at and changed_at[0] - tick_time < 60
    events = pull_events(status_subscription, expect=1)
    assert [(e["attributes"]["ce-subject"], e["data"]["vertexState"]) for e in events] == [
        (run_ids[0], "JOB_STATE_RUNNING")
    ]
    # the budget: a pass is one list of the non-final jobs (+1 for finished ones, none here): 4 passes, 4 calls
    assert list_calls(vertex) == 4
    assert report["vertexCalls"] == {"ListBatchPredictionJobs": 4} and report["listCallsPerMinute"] == 4 * 2


def test_firestore_reads_and_writes_per_pass(call: Any, settings: Any, vertex: Any) -> None:
    """The counts docs/deploy.md's cost table uses: a pass after the first, nothing changed, one location."""
    run_ids = [submit_batch(call, f"cadence-count-{i}") for i in range(5)]
    app, clock = cadence_app(settings, time.time())
    per_pass: list[dict[str, int]] = []
    original = app.poll.poll

    def spy(shard_range: Any) -> dict[str, Any]:
        summary = original(shard_range)
        per_pass.append(summary["firestore"])
        return summary

    app.poll.poll = spy
    before = dict(app.store.counts)
    summary = app.poll.tick(rfc3339(clock.t))
    assert summary["cadence"]["passes"] == 4
    index_docs = sum(1 for d in app.store.index.stream() if d.id.startswith("runs~"))
    shards = len({(d.to_dict() or {})["shard"] for d in app.store.runs.stream()})
    assert index_docs == shards
    # a later pass reads the scope document, the index documents it lists, and the runs recorded within the new-run
    # margin (all 5 here: just submitted; 0 in a steady state); it writes the scope document (its cursor) and the
    # location's lastPolled.
    assert per_pass[1] == per_pass[2] == per_pass[3] == {"reads": 1 + index_docs + len(run_ids), "writes": 2}
    # the lease, taken once per invocation before its second pass: 1 read, 1 write
    invocation = {k: app.store.counts[k] - before.get(k, 0) for k in ("reads", "writes")}
    assert invocation == {k: sum(p.get(k, 0) for p in per_pass) + 1 for k in ("reads", "writes")}
    print(f"firestore per pass: first={per_pass[0]} later={per_pass[2]} index_docs={index_docs} runs={len(run_ids)}")


def test_the_lease_is_won_by_exactly_one_of_two_racing_invocations(settings: Any) -> None:
    a = bootstrap.build(settings).store
    b = bootstrap.build(settings).store
    now = time.time()
    for round_ in range(8):
        scope = f"race~{round_}"
        barrier = threading.Barrier(2)

        def take(store: Any, holder: str, scope: str = scope, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return bool(store.take_lease(scope, holder, now + 60, now))

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            won = list(pool.map(take, (a, b), ("a", "b")))
        assert sorted(won) == [False, True], round_
    # the takeover of an expired lease is conditional too: forced interleaving, both read it expired, one writes
    a.take_lease("expired", "old", now - 1, now - 61)
    real = a.db.polls

    class Racing:
        def document(self, doc_id: str) -> Any:
            ref = real.document(doc_id)

            class Ref:
                def get(self, **kw: Any) -> Any:
                    snap = ref.get(**kw)
                    assert b.take_lease("expired", "b", now + 60, now)  # b takes it between a's read and write
                    return snap

                def __getattr__(self, name: str) -> Any:
                    return getattr(ref, name)

            return Ref()

    a.db.polls = Racing()
    try:
        assert a.take_lease("expired", "a", now + 60, now) is False
    finally:
        a.db.polls = real
    assert real.document("lease~expired").get().to_dict()["holder"] == "b"


def test_a_duplicate_delivery_of_one_tick_does_not_double_the_list_calls(call: Any, settings: Any, vertex: Any) -> None:
    for i in range(3):
        submit_batch(call, f"cadence-dup-{i}")
    tick_time = time.time()
    first, clock1 = cadence_app(settings, tick_time)
    second, clock2 = cadence_app(settings, tick_time + 0.5)
    vertex.reset_calls()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda app: app.poll.tick(rfc3339(tick_time)), (first, second)))
    reports = sorted((d["cadence"] for d in done), key=lambda r: r["passes"])
    assert [r["passes"] for r in reports] == [1, 4] and [r["lease"] for r in reports] == [False, True]
    # one pass of the duplicate + the leaseholder's 4, each pass one list call: 5, not 8
    assert list_calls(vertex) == 5
