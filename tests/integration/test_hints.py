"""Push hints (issue 24) against the Firestore and Pub/Sub emulators and the Vertex AI emulator: the entries are the
ones the emulator writes to Cloud Logging (entries:list) at each state change, selected as infra/hints.tf's sink
filter selects them. A hint records and publishes a change before any tick, through the tick's own conditional
write and outbox; duplicated, shuffled, lost, malformed or foreign hints cost latency or nothing, never a doubled
or reordered event; above the per-minute GET budget hints are ignored."""

from __future__ import annotations

import base64
import contextlib
import json
import random
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from polysync_vertex.core.budget import MinuteBudget
from polysync_vertex.services.poll.hints import HintService
from tests.conftest import PROJECT
from tests.integration.test_pipeline_jobs import pipelines, template  # noqa: F401 - fixtures
from tests.integration.test_poll_cancel import status_events, submit_run
from tests.integration.test_push_delivery import push


def sink_entries(url: str, job_id: str) -> list[dict[str, Any]]:
    """The emulator's entries about `job_id` that infra/hints.tf's sink filter keeps."""
    body = json.dumps({"resourceNames": [f"projects/{PROJECT}"], "pageSize": 1000}).encode()
    req = urllib.request.Request(
        f"{url}/v2/entries:list", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        entries = json.loads(resp.read()).get("entries", [])

    def kept(e: dict[str, Any]) -> bool:
        r = e.get("resource", {})
        labels = r.get("labels", {})
        if r.get("type") == "aiplatform.googleapis.com/PipelineJob":
            return e.get("logName", "").endswith("pipeline_job_events") and labels.get("pipeline_job_id") == job_id
        return (
            r.get("type") == "ml_job"
            and labels.get("task_name") == "service"
            and "ml.googleapis.com/job_state" in e.get("labels", {})
            and labels.get("job_id") == job_id
        )

    return [e for e in entries if kept(e)]


def job_id(run_id: str) -> str:
    return run_id.rsplit("/", 1)[-1]


def test_a_hint_records_and_publishes_a_change_before_any_tick(
    app: Any, vertex: Any, vertex_server: Any, status_subscription: str
) -> None:
    run_id = submit_run(app, "hint-1")
    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    entries = sink_entries(vertex_server.url, job_id(run_id))
    assert entries, "the emulator writes Vertex AI's state line"
    vertex.reset_calls()
    summary = app.hints.handle(entries[-1:])
    assert summary["changes"] == 1 and summary["eventsPublished"] == 1
    assert sum(vertex.calls().values()) == 1, "one GET, no list"
    events = status_events(status_subscription, expect=1)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2"]
    assert events[0]["data"]["status"] == "Running"
    assert app.poll.tick()["changes"] == 0, "the tick finds it recorded: nothing twice"
    assert status_events(status_subscription, expect=0) == []


def test_duplicated_shuffled_hints_publish_each_change_once_in_order_with_the_ticks_ce_ids(
    app: Any, vertex: Any, vertex_server: Any, status_subscription: str
) -> None:
    run_id = submit_run(app, "hint-storm")
    rng = random.Random(24)
    for state in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"):
        vertex.set_state(run_id, state)
        storm = sink_entries(vertex_server.url, job_id(run_id)) * 3
        rng.shuffle(storm)
        for i in range(0, len(storm), 2):
            app.hints.handle(storm[i : i + 2])
        app.poll.tick()
    events = status_events(status_subscription, expect=3)
    # The same ce-ids the tick alone publishes (test_poll_cancel.test_whole_life_publishes_each_change_in_order).
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2", f"{run_id}/3", f"{run_id}/4"]
    assert [e["data"]["status"] for e in events][-1] == "Success"


def test_a_lost_hint_costs_only_latency(app: Any, vertex: Any, status_subscription: str) -> None:
    run_id = submit_run(app, "hint-lost")
    vertex.set_state(run_id, "JOB_STATE_RUNNING")  # its hint is dropped: never handled
    assert app.poll.tick()["changes"] == 1
    events = status_events(status_subscription, expect=1)
    assert [e["attributes"]["ce-id"] for e in events] == [f"{run_id}/2"]


def test_malformed_hints_are_dropped_and_acknowledged(
    env: dict[str, str], vertex: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    vertex.reset_calls()
    for data in (b"not json", b'{"resource": {"type": "ml_job"}}', b"[1, 2]", b'{"resource": "x"}'):
        body = {
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": "1",
                "publishTime": "2026-12-03T00:00:00Z",
            },
            "subscription": "projects/local-project/subscriptions/hints-push",
        }
        assert push("hint", body).status_code == 200, "acknowledged: never a redelivery loop"
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert sum(1 for x in lines if x.get("message") == "malformed hint dropped") == 5
    batches = [x for x in lines if x.get("message") == "hint batch"]
    assert len(batches) == 4 and all(b["changes"] == 0 for b in batches)
    assert sum(vertex.calls().values()) == 0


def test_a_foreign_job_costs_no_vertex_call(app: Any, vertex: Any) -> None:
    foreign = {
        "resource": {
            "type": "ml_job",
            "labels": {"job_id": "123456789", "project_id": PROJECT, "task_name": "service"},
        },
        "labels": {"ml.googleapis.com/job_state": "RUNNING"},
    }
    pipeline = {
        "resource": {
            "type": "aiplatform.googleapis.com/PipelineJob",
            "labels": {"pipeline_job_id": "someone-elses-1", "project_id": PROJECT, "location": "us-central1"},
        },
    }
    vertex.reset_calls()
    summary = app.hints.handle([foreign, pipeline])
    assert summary["malformed"] == 0 and summary["changes"] == 0 and summary["vertexCalls"] == 0
    assert sum(vertex.calls().values()) == 0


def running_entries(app: Any, vertex: Any, vertex_server: Any, prefix: str, n: int) -> list[Any]:
    """Submit n runs, move each job to RUNNING, and return the newest entry the hints sink keeps for each."""
    entries: list[Any] = []
    for i in range(n):
        run_id = submit_run(app, f"{prefix}-{i}")
        vertex.set_state(run_id, "JOB_STATE_RUNNING")
        entries += sink_entries(vertex_server.url, job_id(run_id))[-1:]
    return entries


def test_hints_above_the_get_budget_are_ignored_until_the_tick(
    app: Any, vertex: Any, vertex_server: Any, status_subscription: str
) -> None:
    entries = running_entries(app, vertex, vertex_server, "hint-budget", 3)
    hints = HintService(app.settings, app.poll, MinuteBudget(2, clock=lambda: 0.0))
    vertex.reset_calls()
    summary = hints.handle(entries)
    assert summary["overBudget"] == 1 and summary["changes"] == 2
    assert sum(vertex.calls().values()) == 2
    assert len(status_events(status_subscription, expect=2)) == 2
    assert app.poll.tick()["changes"] == 1, "the tick records the one the budget skipped"


def test_a_batch_that_drops_hints_over_budget_is_logged_at_warning(
    app: Any, vertex: Any, vertex_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """infra/monitoring.tf counts `hint batch` lines at WARNING as batches that dropped hints (the alert)."""
    entries = running_entries(app, vertex, vertex_server, "hint-warn", 2)
    hints = HintService(app.settings, app.poll, MinuteBudget(1, clock=lambda: 0.0))
    capsys.readouterr()
    assert hints.handle(entries[:1])["overBudget"] == 0
    assert hints.handle(entries[1:])["overBudget"] == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"hint batch"' in line]
    assert [(line["severity"], line["overBudget"]) for line in lines] == [("INFO", 0), ("WARNING", 1)]


@contextlib.contextmanager
def router_topic(env: dict[str, str], suffix: str) -> Iterator[tuple[Any, str, str]]:
    """A topic of its own for a log router under test, with a pull subscription: (publisher, topic, subscription)."""
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = f"projects/{PROJECT}/topics/{env['PSV_STATUS_TOPIC']}-{suffix}"
    sub = f"{topic.replace('/topics/', '/subscriptions/')}-sub"
    publisher.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    try:
        yield publisher, topic, sub
    finally:
        subscriber.delete_subscription(subscription=sub)
        publisher.delete_topic(topic=topic)


def test_the_local_log_router_routes_what_the_sink_keeps_with_delay_and_drop_rate(
    vertex: Any, vertex_server: Any, app: Any, env: dict[str, str], cloud_emulators: dict[str, str]
) -> None:
    import threading

    from polysync_local.log_router import LogRouter
    from tests.conftest import pull_events

    run_id = submit_run(app, "hint-router")
    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    with router_topic(env, "hints") as (publisher, topic, sub):
        kept = sink_entries(vertex_server.url, job_id(run_id))
        router = LogRouter(publisher, topic, vertex_server.url, PROJECT, threading.Event(), delay=(1.0, 2.0))
        router.route_once(0.0)
        assert router.published == 0, "nothing before its delay"
        router.route_once(2.0)
        routed = [json.dumps(e["data"], sort_keys=True) for e in pull_events(sub, expect=len(kept))]
        assert {json.dumps(e, sort_keys=True) for e in kept} <= set(routed)
        assert all(sink_entries_keep(json.loads(r)) for r in routed)
        router.route_once(3.0)
        assert pull_events(sub, max_wait=1.0) == [], "each entry routed once"
        lossy = LogRouter(publisher, topic, vertex_server.url, PROJECT, threading.Event(), drop_rate=1.0)
        lossy.route_once(10.0)
        assert lossy.published == 0 and lossy.dropped >= len(kept)


class RecordingPublisher:
    """The real publisher, remembering what it was given in order (the storm's order is the point)."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher
        self.sent: list[bytes] = []

    def publish(self, topic: str, data: bytes) -> Any:
        self.sent.append(data)
        return self.publisher.publish(topic, data)


def test_the_local_log_router_storm_delivers_every_entry_three_times_shuffled(
    vertex: Any, vertex_server: Any, app: Any, env: dict[str, str], cloud_emulators: dict[str, str]
) -> None:
    import threading

    from polysync_local.log_router import LogRouter
    from tests.conftest import pull_events

    run_id = submit_run(app, "hint-storm-router")
    vertex.set_state(run_id, "JOB_STATE_QUEUED")
    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    with router_topic(env, "storm") as (publisher, topic, sub):
        kept = {json.dumps(e, sort_keys=True) for e in sink_entries(vertex_server.url, job_id(run_id))}
        assert len(kept) >= 2
        orders = []
        for shuffle in (False, True):
            recording = RecordingPublisher(publisher)
            router = LogRouter(
                recording, topic, vertex_server.url, PROJECT, threading.Event(), delay=(0.0, 0.0), seed=7
            )
            router.duplicate, router.shuffle = 3, shuffle  # as the chaos run switches a running router
            router.route_once(0.0)
            assert router.published == 3 * len(router.seen) and router.duplicated == 2 * len(router.seen)
            orders.append([json.dumps(json.loads(d), sort_keys=True) for d in recording.sent])
        routed = [json.dumps(e["data"], sort_keys=True) for e in pull_events(sub, expect=len(orders[0]) * 2)]
        mine = [r for r in routed if r in kept]
        assert sorted(mine) == sorted(list(kept) * 6), "every entry 3x, by each of the two routers"
        assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1], "the same copies, shuffled"
        grouped = all(orders[0][i] == orders[0][i - i % 3] for i in range(len(orders[0])))
        assert grouped, "without shuffle the copies go out together (same due time: by entry)"


def test_the_local_log_router_with_a_lookback_reads_only_recent_entries(
    vertex: Any, vertex_server: Any, app: Any, cloud_emulators: dict[str, str]
) -> None:
    # The benchmarks' router (bench/measure/deployed.py) reads with a `timestamp >=` filter, one page, instead of
    # every entry of 10,000 jobs a read.
    import threading
    import time
    from datetime import UTC, datetime

    from polysync_local.log_router import LogRouter, list_entries

    def since(offset: float) -> str:
        return f'timestamp >= "{datetime.fromtimestamp(time.time() + offset, UTC).isoformat()}"'

    run_id = submit_run(app, "hint-lookback")
    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    kept = sink_entries(vertex_server.url, job_id(run_id))
    assert kept
    recent = {e["insertId"] for e in list_entries(vertex_server.url, PROJECT, since(-3600))}
    assert {e["insertId"] for e in kept} <= recent
    assert list_entries(vertex_server.url, PROJECT, since(3600)) == []
    wide = LogRouter(None, "t", vertex_server.url, PROJECT, threading.Event(), lookback=3600.0)
    wide.route_once(0.0)
    assert {e["insertId"] for e in kept} <= wide.seen
    narrow = LogRouter(None, "t", vertex_server.url, PROJECT, threading.Event(), lookback=-3600.0)
    narrow.route_once(0.0)
    assert narrow.seen == set(), "nothing older than the lookback is read"
    late = LogRouter(
        None, "t", vertex_server.url, PROJECT, threading.Event(), lookback=3600.0, not_before=time.time() + 5
    )
    late.route_once(0.0)
    assert late.seen == set(), "nothing written before the router's start is read"
    late.start()  # still a thread (no attribute shadows Thread.start)
    late.stop_event.set()
    late.join(timeout=10)
    assert not late.is_alive()


def sink_entries_keep(entry: dict[str, Any]) -> bool:
    from polysync_local.log_router import sink_keeps

    return sink_keeps(entry)


def test_a_hint_whose_get_is_older_than_the_ticks_write_records_nothing(
    app: Any, vertex: Any, vertex_server: Any, status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = submit_run(app, "hint-race")
    vertex.set_state(run_id, "JOB_STATE_QUEUED")
    entries = sink_entries(vertex_server.url, job_id(run_id))[-1:]
    real_get = app.poll.observer.get

    def get_then_tick(name: str, deadline: float) -> dict[str, Any]:
        job = real_get(name, deadline)  # QUEUED, as the hint's GET sees it
        vertex.set_state(run_id, "JOB_STATE_RUNNING")
        assert app.poll.tick()["changes"] == 1  # the tick records RUNNING before the hint writes
        return job

    monkeypatch.setattr(app.poll.observer, "get", get_then_tick)
    summary = app.hints.handle(entries)
    assert summary["changes"] == 0 and summary["eventsPublished"] == 0, "the older observation is not recorded"
    events = status_events(status_subscription, expect=1)
    assert [(e["attributes"]["ce-id"], e["data"]["status"]) for e in events] == [(f"{run_id}/2", "Running")]
    code, run = app.runs.status(run_id)
    assert code == 200 and run["status"] == "Running"


def test_a_pipeline_jobs_event_entry_is_a_hint(
    app: Any,
    vertex: Any,
    vertex_server: Any,
    template: dict[str, Any],  # noqa: F811 - the fixture imported above
    status_subscription: str,
) -> None:
    from tests.integration.test_pipeline_jobs import body_for, submit

    run_id = submit(app, body_for(template, "hint-pipeline"))["runId"]
    app.poll.tick()
    status_events(status_subscription, expect=1)
    vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    entries = [e for e in sink_entries(vertex_server.url, job_id(run_id)) if e["resource"]["type"] != "ml_job"]
    assert entries and entries[-1]["resource"]["labels"]["pipeline_job_id"] == job_id(run_id)
    vertex.reset_calls()
    summary = app.hints.handle(entries[-1:])
    assert summary["changes"] == 1 and summary["vertexCalls"] == 1
    events = status_events(status_subscription, expect=1)
    assert [e["data"]["status"] for e in events] == ["Success"]
