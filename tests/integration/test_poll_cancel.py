"""poll and cancel against the real Firestore and Pub/Sub emulators and our Vertex AI emulator."""

from __future__ import annotations

import concurrent.futures
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from polysync_vertex.services.poll import FINISHED_BATCH
from tests.conftest import PROJECT, pull_events
from tests.helpers import PARENT, example_body, job_client, stored_docs

STAY_PENDING = {"name": "VERTEX_EMULATOR_SCENARIO", "type": "String", "value": "PENDING"}


def submit_run(app: Any, request_id: str, **overrides: Any) -> str:
    body = example_body(request_id, parameters=[STAY_PENDING], **overrides)
    code, resp = app.submit.submit(body)
    assert code == 201, resp
    return str(resp["runId"])


def status_events(sub: str, expect: int) -> list[dict[str, Any]]:
    return pull_events(sub, expect=expect, max_wait=10)


def test_whole_life_publishes_each_change_in_order(app: Any, vertex: Any, status_subscription: str) -> None:
    run_id = submit_run(app, "life-1")
    for state in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"):
        vertex.set_state(run_id, state)
        summary = app.poll.tick()
        assert summary["changes"] == 1
    assert app.poll.tick()["changes"] == 0  # nothing changes twice
    events = status_events(status_subscription, expect=3)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2", f"{run_id}/3", f"{run_id}/4"]
    first = events[0]
    assert first["orderingKey"] == run_id
    attrs = first["attributes"]
    assert attrs["ce-specversion"] == "1.0"
    assert attrs["ce-type"] == "com.polysync.vertex.run.status_changed"
    assert attrs["ce-source"] == f"//polysync-vertex/{PROJECT}/us-central1"
    assert attrs["ce-subject"] == run_id
    assert attrs["content-type"] == "application/json"
    assert attrs["status"] == "Running" and attrs["jobName"] == "nightly-train"
    datetime.fromisoformat(attrs["ce-time"].replace("Z", "+00:00"))
    assert [e["data"]["vertexState"] for e in events] == [
        "JOB_STATE_QUEUED",
        "JOB_STATE_RUNNING",
        "JOB_STATE_SUCCEEDED",
    ]
    assert [e["data"]["previousVertexState"] for e in events] == [
        "JOB_STATE_PENDING",
        "JOB_STATE_QUEUED",
        "JOB_STATE_RUNNING",
    ]
    last = events[-1]["data"]
    assert last["status"] == "Success" and last["previousStatus"] == "Running" and last["sequence"] == 4
    assert last["runId"] == run_id and last["requestId"] == "life-1" and last["endTime"]
    # The run leaves the active set once its final event is out; status shows the final record.
    run = app.runs.status(run_id)[1]
    assert run["status"] == "Success" and run["sequence"] == 4
    assert app.poll.tick()["runsSeen"] == 0


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        (["JOB_STATE_RUNNING", "JOB_STATE_FAILED"], ["Running", "Failed"]),
        (["JOB_STATE_EXPIRED"], ["Failed"]),
        (["JOB_STATE_PAUSED", "JOB_STATE_RUNNING"], ["Running", "Running"]),
        (["JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"], ["Running", "Cancelled"]),
        (["JOB_STATE_UNSPECIFIED"], ["Unknown"]),
    ],
)
def test_state_paths(app: Any, vertex: Any, status_subscription: str, path: list[str], statuses: list[str]) -> None:
    run_id = submit_run(app, "path-1")
    for state in path:
        vertex.set_state(run_id, state)
        app.poll.tick()
    events = status_events(status_subscription, expect=len(path))
    assert [e["data"]["vertexState"] for e in events] == path
    assert [e["attributes"]["status"] for e in events] == statuses
    assert [e["data"]["sequence"] for e in events] == list(range(2, 2 + len(path)))
    if path[-1] == "JOB_STATE_FAILED":
        assert events[-1]["data"]["error"]["code"] == 13 and events[-1]["data"]["error"]["message"]
    if path[-1] == "JOB_STATE_CANCELLED":
        assert events[-1]["data"]["error"]["code"] == 1


@pytest.mark.parametrize("pollers", [2, 4])
def test_overlapping_pollers_publish_each_change_with_one_id(
    settings: Any, vertex: Any, status_subscription: str, pollers: int
) -> None:
    from polysync_vertex import bootstrap

    apps = [bootstrap.build(settings) for _ in range(pollers)]
    run_ids = [submit_run(apps[0], f"overlap-{i}") for i in range(6)]
    expected: set[str] = set()
    for step, state in enumerate(("JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"), start=2):
        for run_id in run_ids:
            vertex.set_state(run_id, state)
            expected.add(f"{run_id}/{step}")
        with concurrent.futures.ThreadPoolExecutor(max_workers=pollers) as pool:
            summaries = list(pool.map(lambda a: a.poll.tick(), apps))
        assert sum(s["changes"] for s in summaries) == len(run_ids)  # each change recorded by one poller only
    events = status_events(status_subscription, expect=len(expected))
    ids = [e["attributes"]["ce-id"] for e in events]
    assert set(ids) == expected  # duplicates may arrive, but only ever with the same ce-id
    by_run: dict[str, list[int]] = {}
    for e in events:
        by_run.setdefault(e["orderingKey"], []).append(e["data"]["sequence"])
    for seqs in by_run.values():
        assert seqs == sorted(seqs)  # in order per run


def test_failed_publish_is_retried_next_tick_with_the_same_id(
    app: Any, vertex: Any, env: dict[str, str], cloud_emulators: Any
) -> None:
    from google.cloud import pubsub_v1

    run_id = submit_run(app, "outbox-1")
    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    summary = app.poll.tick()  # the status topic does not exist yet: publishing fails
    assert summary["changes"] == 1 and summary["eventsPublished"] == 0
    assert app.store.get_run(run_id.replace("projects/", "").replace("/locations/", "~").replace("/customJobs/", "~"))[
        "outbox"
    ]

    topic = f"projects/{PROJECT}/topics/{env['PSV_STATUS_TOPIC']}"
    sub = f"projects/{PROJECT}/subscriptions/{env['PSV_STATUS_TOPIC']}-late"
    pubsub_v1.PublisherClient().create_topic(name=topic)
    pubsub_v1.SubscriberClient().create_subscription(
        request={"name": sub, "topic": topic, "enable_message_ordering": True}
    )
    summary = app.poll.tick()
    assert summary["changes"] == 0 and summary["eventsPublished"] == 1
    vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    app.poll.tick()
    events = pull_events(sub, expect=2, max_wait=10)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2", f"{run_id}/3"]
    assert app.poll.tick()["runsSeen"] == 0


def test_vertex_faults_never_record_a_wrong_status(app: Any, vertex: Any, status_subscription: str) -> None:
    # Give up on a failing call fast; the next tick retries.
    app.poll.tuning.page_budget = app.poll.tuning.get_budget = 1.0
    run_ids = [submit_run(app, f"faulty-{i}") for i in range(5)]
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    vertex.add_fault(method="ListCustomJobs", http_status=503, status="UNAVAILABLE", ratio=1.0)
    summary = app.poll.tick()
    assert summary["changes"] == 0  # listing failed: nothing is guessed
    vertex.clear_faults()
    vertex.add_fault(method="GetCustomJob", http_status=500, status="INTERNAL", count=12)
    app.poll.tick()  # gets fail (after retries) for some runs: they stay as they were
    vertex.clear_faults()
    app.poll.tick()
    for run_id in run_ids:
        assert app.runs.status(run_id)[1]["status"] == "Success"
    events = status_events(status_subscription, expect=5)
    assert sorted(e["attributes"]["ce-id"] for e in events) == sorted(f"{r}/2" for r in run_ids)
    assert all(e["data"]["vertexState"] == "JOB_STATE_SUCCEEDED" for e in events)


def test_rejected_state_filter_falls_back_to_label_filter_not_per_job_gets(
    app: Any, vertex: Any, status_subscription: str
) -> None:
    run_ids = [submit_run(app, f"fallback-{i}") for i in range(3)]
    vertex.set_state(run_ids[0], "JOB_STATE_RUNNING")
    vertex.reset_calls()
    vertex.add_fault(method="ListCustomJobs", http_status=400, status="INVALID_ARGUMENT", count=1)
    summary = app.poll.tick()
    assert summary["changes"] == 1
    calls = vertex.calls()
    assert calls.get("ListCustomJobs") == 2 and calls.get("GetCustomJob", 0) == 0


def test_thousand_runs_ten_finished_cost_ten_pages_and_ten_gets(
    app: Any, vertex: Any, vertex_server: Any, status_subscription: str
) -> None:
    """Seed 1,000 active runs (real jobs in the emulator, real run records), finish 10, count one tick's calls."""
    from polysync_vertex.core import runs
    from polysync_vertex.core.kinds import CUSTOM, run_doc_id
    from polysync_vertex.core.labels import job_labels, request_key

    client = job_client(vertex_server.url)
    from google.cloud.aiplatform_v1.types import CustomJob
    from google.protobuf import json_format

    now = datetime.now(UTC)
    records = []
    for i in range(1000):
        key = request_key(f"scale-{i}")
        job = {
            "displayName": f"scale-{i}",
            "labels": job_labels(None, key, "scale"),
            "jobSpec": {
                "workerPoolSpecs": [
                    {
                        "machineSpec": {"machineType": "n1-standard-4"},
                        "replicaCount": "1",
                        "containerSpec": {
                            "imageUri": "us-docker.pkg.dev/p/r/i:1",
                            "env": [{"name": "VERTEX_EMULATOR_SCENARIO", "value": "RUNNING"}],
                        },
                    }
                ]
            },
        }
        created = client.create_custom_job(parent=PARENT, custom_job=CustomJob.from_json(__import__("json").dumps(job)))
        created_dict = json_format.MessageToDict(type(created).pb(created))
        name = CUSTOM.parse_name(created_dict["name"], "runId")
        records.append(
            (
                run_doc_id(name),
                runs.new_run(
                    runs.RunOrigin(
                        request_id=f"scale-{i}",
                        key=key,
                        job_name="scale",
                        template=None,
                        fingerprint="x",
                        warnings=(),
                    ),
                    name,
                    created_dict,
                    now,
                ),
            )
        )
    for _, record in records:
        record["recordedAt"] = runs.iso(now - timedelta(minutes=10))  # submitted a while ago
    for start in range(0, len(records), 400):
        batch = app.store.client.batch()
        for doc_id, record in records[start : start + 400]:
            batch.set(app.store.runs.document(doc_id), record)
        batch.commit()
    first = app.poll.tick()  # PENDING -> RUNNING recorded for all (the scenario starts RUNNING at once)
    pull_events(status_subscription, expect=1000, max_wait=20)
    finished = [r["runId"] for _, r in records[:10]]
    for run_id in finished:
        vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    vertex.reset_calls()
    summary = app.poll.tick()
    calls = vertex.calls()
    assert summary["runsSeen"] == 1000 and summary["changes"] == 10
    # The first tick scanned every run; this one reads the poller's index (at most one document per shard), the
    # scope, and only the 10 runs that changed, instead of all 1,000 records.
    assert first["fullScan"] and first["firestore"]["reads"] >= 1000
    assert not summary["fullScan"]
    assert summary["firestore"]["reads"] <= 1 + 64 + 10
    # The 990 still in flight by the non-final walk, the 10 that finished by one list filtered by their request
    # labels (up to FINISHED_BATCH per call), no GET (issue 18); per-job polling would make 1,000 calls.
    assert calls.get("ListCustomJobs") == math.ceil(990 / 100) + math.ceil(10 / FINISHED_BATCH)
    assert calls.get("GetCustomJob", 0) == 0
    assert sum(calls.values()) <= 12


def test_deleted_job_becomes_unknown_once(app: Any, vertex: Any, vertex_server: Any, status_subscription: str) -> None:
    run_id = submit_run(app, "deleted-1")
    vertex.set_state(run_id, "JOB_STATE_CANCELLED")
    job_client(vertex_server.url).delete_custom_job(name=run_id).result()
    app.poll.tick()
    app.poll.tick()
    events = status_events(status_subscription, expect=1)
    assert len(events) == 1
    assert events[0]["attributes"]["status"] == "Unknown"
    assert "deleted" in events[0]["data"]["error"]["message"]
    assert app.runs.status(run_id)[1]["status"] == "Unknown"


def test_queued_too_long_is_published_once(
    app: Any, vertex: Any, status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    app.poll.settings = dataclasses.replace(app.settings, queued_threshold_seconds=0)
    run_id = submit_run(app, "queued-1")
    vertex.set_state(run_id, "JOB_STATE_QUEUED")
    app.poll.tick()
    app.poll.tick()
    app.poll.tick()
    events = status_events(status_subscription, expect=2)
    types = Counter(e["attributes"]["ce-type"] for e in events)
    assert types == {"com.polysync.vertex.run.status_changed": 1, "com.polysync.vertex.run.queued_too_long": 1}
    alert = next(e for e in events if e["attributes"]["ce-type"].endswith("queued_too_long"))
    assert alert["attributes"]["ce-id"] == f"{run_id}/queued_too_long"
    assert "NVIDIA_TESLA_T4" in alert["data"]["message"] and "us-central1" in alert["data"]["message"]


def test_fan_out_to_shards_covers_every_run(
    app: Any, vertex: Any, env: dict[str, str], status_subscription: str
) -> None:
    import dataclasses

    from google.cloud import pubsub_v1

    shard_topic = f"projects/{PROJECT}/topics/{env['PSV_STATUS_TOPIC']}-shards"
    shard_sub = f"projects/{PROJECT}/subscriptions/{env['PSV_STATUS_TOPIC']}-shards"
    pubsub_v1.PublisherClient().create_topic(name=shard_topic)
    pubsub_v1.SubscriberClient().create_subscription(name=shard_sub, topic=shard_topic)
    run_ids = [submit_run(app, f"shard-{i}") for i in range(12)]
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_RUNNING")
    app.poll.settings = dataclasses.replace(app.settings, shard_topic=shard_topic, poll_inline_max=4)
    result = app.poll.tick()
    assert result["fannedOut"] == 3
    work = pull_events_raw(shard_sub, expect=3)
    from polysync_vertex.services.poll import parse_shard_message

    ranges = sorted(parse_shard_message(attrs) for attrs in work)
    assert ranges[0][0] == 0 and ranges[-1][1] == 64
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    changes = sum(app.poll.poll(r)["changes"] for r in ranges)
    assert changes == 12
    events = status_events(status_subscription, expect=12)
    assert sorted(e["attributes"]["ce-id"] for e in events) == sorted(f"{r}/2" for r in run_ids)


def pull_events_raw(subscription: str, expect: int) -> list[dict[str, str]]:
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    out: list[dict[str, str]] = []
    for _ in range(50):
        resp = subscriber.pull(subscription=subscription, max_messages=100, timeout=5)
        for m in resp.received_messages:
            out.append(dict(m.message.attributes))
        if resp.received_messages:
            subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in resp.received_messages])
        if len(out) >= expect:
            break
    return out


# -- cancel ----------------------------------------------------------------------------------------------------


def test_cancel_own_run_then_poll_publishes_cancelled(
    call: Any, app: Any, vertex: Any, status_subscription: str
) -> None:
    run_id = submit_run(app, "cancel-1")
    resp = call("cancel", {"runId": run_id})
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "Running" and body["vertexState"] == "JOB_STATE_CANCELLING" and body["sequence"] == 2
    again = call("cancel", {"runId": run_id})
    assert again.status_code == 202 and again.get_json()["sequence"] == 2  # harmless repeat
    app.poll.tick()  # publishes CANCELLING from the outbox
    vertex.set_state(run_id, "JOB_STATE_CANCELLED")
    app.poll.tick()
    events = status_events(status_subscription, expect=2)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2", f"{run_id}/3"]
    assert [e["attributes"]["status"] for e in events] == ["Running", "Cancelled"]
    final = call("cancel", {"runId": run_id})
    assert final.status_code == 200 and final.get_json()["status"] == "Cancelled"


def test_cancel_unknown_or_foreign_job_is_404(call: Any, app: Any, vertex: Any, vertex_server: Any) -> None:
    from tests.helpers import create_template

    foreign = create_template(
        job_client(vertex_server.url),
        {
            "displayName": "not-ours",
            "jobSpec": {
                "workerPoolSpecs": [
                    {
                        "machineSpec": {"machineType": "n1-standard-4"},
                        "replicaCount": "1",
                        "containerSpec": {"imageUri": "x/y:1"},
                    }
                ]
            },
        },
    )
    resp = call("cancel", {"runId": foreign["name"]})
    assert resp.status_code == 404 and resp.get_json()["error"]["status"] == "NOT_FOUND"
    assert vertex.calls().get("CancelCustomJob", 0) == 0
    assert call("cancel", {"runId": "projects/local-project/locations/us-central1/customJobs/../1"}).status_code == 400
    assert call("cancel", {}).status_code == 400
    assert stored_docs(app) == {"requests": 0, "runs": 0}


def test_cancel_racing_completion_records_the_real_end(call: Any, app: Any, vertex: Any) -> None:
    run_id = submit_run(app, "race-1")
    vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")  # it finished before the cancel arrived; not yet polled
    resp = call("cancel", {"runId": run_id})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "Success" and resp.get_json()["sequence"] == 2
    assert app.poll.tick()["changes"] == 0  # the poller does not record it a second time


def test_cancel_and_poll_racing_record_each_change_once(
    settings: Any, call: Any, vertex: Any, status_subscription: str
) -> None:
    from polysync_vertex import bootstrap

    app = bootstrap.build(settings)
    run_ids = [submit_run(app, f"cp-{i}") for i in range(5)]
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_RUNNING")
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        cancels = [pool.submit(call, "cancel", {"runId": r}) for r in run_ids]
        ticks = pool.submit(app.poll.tick)
        ticks.result()
        assert all(c.result().status_code in (200, 202) for c in cancels)
    app.poll.tick()
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_CANCELLED")
    app.poll.tick()
    events = status_events(status_subscription, expect=15)
    per_run: dict[str, list[str]] = {}
    for e in events:
        per_run.setdefault(e["orderingKey"], []).append(e["attributes"]["ce-id"])
    for run_id in run_ids:
        ids = list(dict.fromkeys(per_run[run_id]))
        seqs = [int(i.rsplit("/", 1)[1]) for i in ids]
        assert seqs == list(range(2, 2 + len(seqs)))
        assert app.runs.status(run_id)[1]["status"] == "Cancelled"


def test_stale_tick_and_malformed_shard_message_do_no_work(app: Any, vertex: Any) -> None:
    submit_run(app, "stale-1")
    vertex.reset_calls()
    assert app.poll.tick("2026-01-01T00:00:00Z")["skipped"] == "stale"
    assert app.poll.shard({"shardLo": "9", "shardHi": "3"}) == {"skipped": "malformed"}
    assert app.poll.shard({}) == {"skipped": "malformed"}
    assert vertex.calls().get("ListCustomJobs", 0) == 0
    fresh = app.poll.tick(datetime.now(UTC).isoformat())
    assert fresh["runsSeen"] == 1 and vertex.calls().get("ListCustomJobs") == 1


def test_index_picks_up_new_runs_and_heals_from_a_full_scan(app: Any, vertex: Any, status_subscription: str) -> None:
    assert app.poll.tick()["fullScan"]  # no index yet: a full scan builds it
    run_id = submit_run(app, "index-1")
    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    summary = app.poll.tick()
    assert not summary["fullScan"] and summary["changes"] == 1  # found through "recorded since the cursor"
    # Lose the whole index (as a lost write of overlapping pollers could): the next tick rebuilds it.
    for snap in app.store.index.stream():
        snap.reference.delete()
    vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    summary = app.poll.tick()
    assert summary["fullScan"] and summary["changes"] == 1
    events = status_events(status_subscription, expect=2)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2", f"{run_id}/3"]
    assert app.poll.tick()["runsSeen"] == 0
