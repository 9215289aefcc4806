"""One bound on a tick's reads and GETs beyond its lists (issue 23's open item): the diagnoser's GETs of failed
Pipeline Jobs without declared outputs (their failed tasks are on `jobDetail`, which lists omit) count against
`PollService.outputs_reads_per_tick` with outputs reads. A run over it is recorded on time without its failed tasks
and log tail, and diagnosed on the next tick within the same bound. In-memory fakes (tests/fakes.py) count the calls."""

from __future__ import annotations

from typing import Any

from polysync_vertex.config import Settings
from polysync_vertex.core import diagnostics, kinds
from polysync_vertex.services.poll import PollService
from polysync_vertex.services.submit import SubmitService
from tests.fakes import FakeLogs, FakePublisher, FakeStore, FakeVertex

PARENT = "projects/my-proj/locations/us-central1"
SETTINGS = Settings(
    project="my-proj", allowed_projects=("my-proj",), allowed_locations=("us-central1",), request_budget_seconds=1.0
)
SPEC = {
    "pipelineInfo": {"name": "train"},
    "root": {
        "dag": {"tasks": {"train": {"taskInfo": {"name": "train"}}}},
        "inputDefinitions": {"parameters": {}},
        "outputDefinitions": {"parameters": {"accuracy": {"parameterType": "NUMBER_DOUBLE"}}},
    },
}
ACCURACY = [{"name": "accuracy", "direction": "Output", "type": "Number"}]


def pipeline_runs(vertex: FakeVertex, store: FakeStore, n: int, prefix: str = "bound", **extra: Any) -> list[str]:
    template = vertex.add(
        kinds.PIPELINE, PARENT, {"pipelineSpec": SPEC, "runtimeConfig": {"gcsOutputDirectory": "gs://root/runs"}}
    )
    submit = SubmitService(SETTINGS, vertex, store)
    ids = []
    for i in range(n):
        body = {"requestId": f"{prefix}-{i}", "jobName": "train", "externalId": template["name"], **extra}
        code, answer = submit.submit(body)
        assert code == 201, answer
        ids.append(answer["runId"])
    return ids


def fail(vertex: FakeVertex, run_id: str) -> None:
    """The job fails in its task `train` (the task details only a GET returns)."""
    vertex.jobs[run_id].update(
        state="PIPELINE_STATE_FAILED",
        error={"code": 9, "message": "The DAG failed because some tasks failed."},
        jobDetail={
            "taskDetails": [
                {
                    "taskName": "train",
                    "state": "FAILED",
                    "error": {"message": "The replica workerpool0-0 exited with a non-zero status of 1."},
                    "executorDetail": {"containerDetail": {"mainJob": f"{PARENT}/customJobs/77"}},
                }
            ]
        },
    )


def record(store: FakeStore, run_id: str) -> dict[str, Any]:
    run = store.get_run(kinds.run_doc_id(kinds.parse_run_name(run_id, "runId")[1]))
    assert run is not None
    return run


def poller(vertex: FakeVertex, store: FakeStore, bound: int, publisher: FakePublisher | None = None) -> PollService:
    """A poller whose tick reads and GETs at most `bound` jobs, after a first tick that saw every run running."""
    poll = PollService(SETTINGS, vertex, store, publisher or FakePublisher(), logs=FakeLogs())
    poll.outputs_reads_per_tick = bound
    poll.poll(None)
    return poll


def fail_all(vertex: FakeVertex, run_ids: list[str]) -> None:
    for run_id in run_ids:
        fail(vertex, run_id)


def test_failed_jobs_gets_share_the_ticks_bound_and_the_rest_are_diagnosed_next_tick() -> None:
    vertex, store, publisher = FakeVertex(), FakeStore(), FakePublisher()
    ids = pipeline_runs(vertex, store, 5)
    poll = poller(vertex, store, 2, publisher)
    fail_all(vertex, ids)
    vertex.calls.clear()
    first = poll.poll(None)
    assert vertex.calls["get"] == 2 and first["failedJobGets"] == 2  # the bound, not one GET per failed run
    assert first["changes"] == 5  # every run recorded Failed on time, its terminal event sent
    recorded = [record(store, r) for r in ids]
    assert [r["status"] for r in recorded] == ["Failed"] * 5
    named = [r for r in recorded if r.get("failedTasks")]
    waiting = [r for r in recorded if diagnostics.detail_pending(r)]
    assert len(named) == 2 and len(waiting) == 3
    assert all(r["failedTasks"][0]["name"] == "train" and r["error"]["message"].startswith("train") for r in named)
    assert all(r["active"] and "logTail" not in r["diagnostics"] and not r.get("failedTasks") for r in waiting)
    terminal = [m for m in publisher.published if m.attributes.get("status") == "Failed"]
    assert len(terminal) == 5

    vertex.calls.clear()
    second = poll.poll(None)
    assert vertex.calls["get"] == 2 and second["failedJobGets"] == 2
    vertex.calls.clear()
    third = poll.poll(None)
    assert vertex.calls["get"] == 1 and third["failedJobGets"] == 1
    for run in (record(store, r) for r in ids):
        assert run["failedTasks"][0]["name"] == "train", run["runId"]
        assert run["diagnostics"]["failedTasks"][0]["customJob"].endswith("/77")
        assert "logTail" in run["diagnostics"] and not run["active"]
        assert run["error"]["message"].startswith("train: ")
    assert len([m for m in publisher.published if m.attributes.get("status") == "Failed"]) == 5  # no new event
    vertex.calls.clear()
    poll.poll(None)
    assert vertex.calls["get"] == 0


def test_gets_for_outputs_and_for_diagnostics_are_one_count() -> None:
    """Two failing runs that declared outputs (their GET serves outputs and diagnosis) and two without: a bound of 3
    lets 3 GETs through, the outputs' first; the fourth run is recorded on time and diagnosed next tick."""
    vertex, store = FakeVertex(), FakeStore()
    with_outputs = pipeline_runs(vertex, store, 2, "outs", parameters=ACCURACY)
    without = pipeline_runs(vertex, store, 2, "plain")
    poll = poller(vertex, store, 3)
    fail_all(vertex, with_outputs + without)
    vertex.calls.clear()
    first = poll.poll(None)
    assert vertex.calls["get"] == 3 and (first["outputsRead"], first["failedJobGets"]) == (2, 1)
    assert first["changes"] == 4
    assert all(record(store, r)["failedTasks"][0]["name"] == "train" for r in with_outputs)
    assert sorted(diagnostics.detail_pending(record(store, r)) for r in without) == [False, True]
    vertex.calls.clear()
    assert poll.poll(None)["failedJobGets"] == 1 and vertex.calls["get"] == 1
    assert not any(diagnostics.detail_pending(record(store, r)) for r in without)


def test_a_failed_get_of_a_failed_job_is_tried_again_next_tick_within_the_bound() -> None:
    vertex, store = FakeVertex(), FakeStore()
    ids = pipeline_runs(vertex, store, 4)
    poll = poller(vertex, store, 3)
    fail_all(vertex, ids)
    vertex.fail("get", "UNAVAILABLE")  # the first GET fails: that run is diagnosed again next tick
    vertex.calls.clear()
    first = poll.poll(None)
    assert vertex.calls["get"] == 3 and first["failedJobGets"] == 3 and first["changes"] == 4
    assert sum(diagnostics.detail_pending(record(store, r)) for r in ids) == 2
    vertex.calls.clear()
    poll.poll(None)
    assert vertex.calls["get"] == 2
    assert not any(diagnostics.detail_pending(record(store, r)) for r in ids)
