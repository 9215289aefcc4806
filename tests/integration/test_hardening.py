"""Issue 16: exactly once at any create latency, no 5xx for a stalled store, a filter that cannot widen the result,
equivalent bodies replay, stale shard work dropped. Against the real emulators; faults injected by the emulator's
admin API or by a loopback server that never answers."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from polysync_vertex.core.labels import LABEL_MANAGED_BY, LABEL_REQUEST, MANAGED_BY, request_key
from tests.conftest import pull_events
from tests.helpers import PARENT, example_body, job_client, list_jobs, stored_docs, wait_for


def _jobs_of(vertex_server: Any, key: str) -> list[dict[str, Any]]:
    return list_jobs(job_client(vertex_server.url), filter=f'labels.{LABEL_REQUEST}="{key}"')


def _live(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [j for j in jobs if j.get("state") not in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")]


def _short_budget_app(settings: Any, seconds: float) -> Any:
    from polysync_vertex import bootstrap
    from polysync_vertex.adapters.vertex import VertexJobs

    short = dataclasses.replace(settings, request_budget_seconds=seconds)
    return bootstrap.build(short, vertex=VertexJobs(short.vertex_endpoint, call_timeout=seconds))


def test_create_landing_after_the_takeover_is_cancelled_as_a_duplicate(
    settings: Any, app: Any, vertex: Any, vertex_server: Any
) -> None:
    """The black-box finding: a create that outlives the request (latency 2 x the budget) lands after a retry took
    over and created again. The poller cancels the late job; the recorded one stays the only live job."""
    submitter = _short_budget_app(settings, 2.0)
    submitter.submit.lease_margin = 0.0  # the retry takes over as soon as the first attempt's budget is spent
    vertex.add_fault(method="CreateCustomJob", latency_ms=4000, count=1)  # 2 x the budget
    body = _long(example_body("late-create-1"))
    key = request_key("late-create-1")
    code, first = _attempt(submitter, body)
    assert code == 503 and first["error"]["status"] == "UNAVAILABLE"
    time.sleep(0.2)
    code, second = wait_for(lambda: _ok(submitter, body), timeout=20, what="the retry's answer")
    assert code == 201
    wait_for(lambda: len(_jobs_of(vertex_server, key)) == 2 or None, timeout=20, what="the late job to land")
    for _ in range(2):  # at most two ticks
        app.poll.poll(None)
    jobs = _jobs_of(vertex_server, key)
    assert [j["name"] for j in _live(jobs)] == [second["runId"]]
    assert stored_docs(app) == {"requests": 1, "runs": 1}
    assert app.submit.submit(body) == (200, app.submit.submit(body)[1])
    assert app.submit.submit(body)[1]["runId"] == second["runId"]


LONG = "PENDING:120,RUNNING:120,SUCCEEDED"  # a job still running when the poller looks


def _long(body: dict[str, Any]) -> dict[str, Any]:
    body["parameters"].append({"name": "VERTEX_EMULATOR_SCENARIO", "type": "String", "value": LONG})
    return body


def _attempt(app: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from polysync_vertex.core.errors import ApiError

    try:
        return app.submit.submit(body)
    except ApiError as err:
        return err.http, err.body()


def _ok(app: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    code, answer = _attempt(app, body)
    return (code, answer) if code in (200, 201) else None


def _late_job(vertex_server: Any, key: str, job_name: str = "nightly-train", state: str | None = None) -> str:
    """A job with the connector's labels, created as a create accepted long after its request gave up would be."""
    from google.cloud.aiplatform_v1.types import CustomJob

    from polysync_vertex.core.labels import job_labels

    job = {
        "displayName": f"{job_name}_late",
        "labels": job_labels(None, key, job_name),
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "containerSpec": {
                        "imageUri": "x",
                        "env": [{"name": "VERTEX_EMULATOR_SCENARIO", "value": state or LONG}],
                    },
                }
            ]
        },
    }
    created = job_client(vertex_server.url).create_custom_job(
        parent=PARENT, custom_job=CustomJob.from_json(__import__("json").dumps(job))
    )
    return str(created.name)


def test_create_landing_ten_minutes_late_is_adopted_as_the_run(
    app: Any, vertex: Any, vertex_server: Any, status_subscription: str
) -> None:
    """The request ended in 503 (the create's outcome unknown, nothing found by its label in the budget); the job
    lands much later (here: created with the request's labels, as Vertex AI would accept it). The next tick adopts
    it: one run, events from sequence 1, and a replay of the request answers that run."""
    body = example_body("late-10min-1")
    key = request_key("late-10min-1")
    vertex.add_fault(method="CreateCustomJob", http_status=500, status="INTERNAL", count=1)
    submitter = _short_budget_app(app.settings, 4.0)
    submitter.submit.lease_margin = 0.0  # the claim's lease has run out by the next tick
    code, answer = _attempt(submitter, body)
    assert code == 503 and stored_docs(app) == {"requests": 1, "runs": 0}
    lease = float(app.store.get_request(key)["leaseUntil"])
    time.sleep(max(0.0, lease - time.time() + 0.1))  # the attempt's lease has run out: the request is stranded
    app.poll.poll(None)  # nothing to adopt yet
    vertex.clear_faults()
    late = _late_job(vertex_server, key)
    summary = app.poll.poll(None)
    assert summary["adopted"] == 1
    assert stored_docs(app) == {"requests": 1, "runs": 1}
    code, replay = app.submit.submit(body)
    assert (code, replay["runId"]) == (200, late)
    assert [j["name"] for j in _live(_jobs_of(vertex_server, key))] == [late]
    app.poll.poll(None)
    events = pull_events(status_subscription, expect=1)
    assert events and events[0]["attributes"]["ce-id"] == f"{late}/1"
    assert events[0]["data"]["jobType"] == "Vertex AI Custom Job"


def test_late_job_already_final_is_found_by_the_sweep(
    app: Any, vertex: Any, vertex_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A late job that ended before any tick listed it (and no other run is active there) is found by the sweep."""
    from polysync_vertex.services.poll import index as poll_index

    monkeypatch.setattr(poll_index, "SWEEP_SECONDS", 0)
    key = request_key("late-final-1")
    app.poll.poll(None)  # the first tick of the range starts the sweep clock
    late = _late_job(vertex_server, key, state="SUCCEEDED")
    summary = app.poll.poll(None)
    assert summary["adopted"] == 1
    run = app.runs.status(late)[1]
    assert (run["status"], run["sequence"]) == ("Success", 1)


def test_duplicate_found_when_the_request_already_has_a_run_is_cancelled(
    app: Any, vertex: Any, vertex_server: Any
) -> None:
    code, body = app.submit.submit(_long(example_body("dup-1")))
    assert code == 201
    late = _late_job(vertex_server, request_key("dup-1"))
    app.poll.poll(None)
    live = _live(_jobs_of(vertex_server, request_key("dup-1")))
    assert [j["name"] for j in live] == [body["runId"]]
    assert vertex.calls().get("CancelCustomJob") == 1
    assert late != body["runId"]


# -- a stalled Firestore ---------------------------------------------------------------------------------------
@pytest.fixture
def black_hole() -> Iterator[str]:
    """A loopback TCP server that accepts connections and never answers (a stalled backend)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


def test_stalled_firestore_answers_503_with_retry_after(
    settings: Any, black_hole: str, monkeypatch: pytest.MonkeyPatch, vertex: Any
) -> None:
    from polysync_vertex import bootstrap
    from polysync_vertex.core.errors import ApiError

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", black_hole)
    stalled = bootstrap.build(dataclasses.replace(settings, request_budget_seconds=4.0))
    with pytest.raises(ApiError) as info:
        stalled.submit.submit(example_body("stall-1"))
    assert (info.value.http, info.value.status, info.value.retry_after) == (503, "UNAVAILABLE", 5)
    assert vertex.calls().get("CreateCustomJob", 0) == 0  # nothing sent: the claim never succeeded
    with pytest.raises(ApiError) as info:
        stalled.runs.status("projects/local-project/locations/us-central1/customJobs/1")
    assert info.value.http == 503


# -- the templates filter ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("quote", ['"', "'"])
def test_templates_filter_cannot_bring_back_the_connectors_runs(app: Any, quote: str) -> None:
    from polysync_vertex.core.errors import ApiError
    from polysync_vertex.services.template_query import TemplateQuery

    assert app.submit.submit(example_body(f"filter-run-{ord(quote)}"))[0] == 201
    q = quote
    evil = f"display_name=a{q}) OR labels.{LABEL_MANAGED_BY}={q}{MANAGED_BY}{q} OR (display_name=b{q}"
    try:
        code, body = app.templates.answer(TemplateQuery(project="local-project", location="us-central1", filter=evil))
    except ApiError as err:
        assert err.http == 400 and err.field == "filter"  # refused as malformed: also narrows nothing
        return
    assert code == 200
    assert [t for t in body["templates"] if t["labels"].get(LABEL_MANAGED_BY) == MANAGED_BY] == []


# -- equivalent bodies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("spelled", [3.0, "3", "3.0"])
def test_equivalent_number_spellings_replay(app: Any, spelled: Any) -> None:
    first = example_body(f"equiv-{spelled}")
    first["parameters"][0]["value"] = 3
    code, created = app.submit.submit(first)
    assert code == 201
    again = example_body(f"equiv-{spelled}")
    again["parameters"][0]["value"] = spelled
    again["ignoredTopLevelField"] = True
    assert app.submit.submit(again) == (200, created)
    other = example_body(f"equiv-{spelled}")
    other["parameters"][0]["value"] = 4
    from polysync_vertex.core.errors import ApiError

    with pytest.raises(ApiError) as info:
        app.submit.submit(other)
    assert info.value.http == 409


# -- stale shard work ----------------------------------------------------------------------------------------
def test_stale_shard_delivery_is_dropped(app: Any, vertex: Any) -> None:
    assert app.submit.submit(example_body("stale-shard-1"))[0] == 201
    vertex.reset_calls()
    assert app.poll.shard({"shardLo": "0", "shardHi": "32"}, "2026-01-01T00:00:00Z")["skipped"] == "stale"
    assert sum(vertex.calls().values()) == 0
    fresh = app.poll.shard({"shardLo": "0", "shardHi": "64"}, datetime.now(UTC).isoformat())
    assert "skipped" not in fresh and sum(vertex.calls().values()) >= 1


def test_late_duplicate_is_cancelled_even_when_nothing_else_is_active(
    settings: Any, app: Any, vertex: Any, vertex_server: Any, status_subscription: str
) -> None:
    """The chaos finding: the recorded run has already ended (no run of that kind is active, so no list walk runs)
    when the dead attempt's create lands. A request recorded by a takeover stays watched: the next tick finds the
    late job by its label and cancels it."""
    submitter = _short_budget_app(settings, 2.0)
    submitter.submit.lease_margin = 0.0
    vertex.add_fault(method="CreateCustomJob", latency_ms=5000, count=1)
    body = _long(example_body("late-quiet-1"))
    key = request_key("late-quiet-1")
    assert _attempt(submitter, body)[0] == 503
    time.sleep(0.2)
    code, recorded = wait_for(lambda: _ok(submitter, body), timeout=20, what="the retry's answer")
    assert code == 201
    vertex.set_state(recorded["runId"], "JOB_STATE_SUCCEEDED")
    app.poll.poll(None)
    assert app.runs.status(recorded["runId"])[1]["status"] == "Success"
    wait_for(lambda: len(_jobs_of(vertex_server, key)) == 2 or None, timeout=20, what="the late job to land")
    vertex.reset_calls()
    app.poll.poll(None)
    assert vertex.calls().get("CancelCustomJob") == 1
    live = _live(_jobs_of(vertex_server, key))
    assert [j["name"] for j in live] == [recorded["runId"]]
