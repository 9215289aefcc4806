"""The poller's Diagnoser decisions (issue 25), with in-memory fakes of its ports: one log read per kind and tick for
all failing jobs, the per-minute budget and its shard shares, Logging failures, a GET for a pipeline's detail, tails
completed later or given up."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from polysync_vertex.core import diagnostics, kinds, runs
from polysync_vertex.core.errors import UpstreamError
from polysync_vertex.services.diagnose import TAIL_GIVE_UP_SECONDS, Diagnoser

NOW = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


class FakeLogs:
    def __init__(self, entries: list[dict[str, Any]], fail: bool = False) -> None:
        self.entries = entries
        self.fail = fail
        self.calls: Counter[str] = Counter()
        self.filters: list[str] = []

    def list_entries(self, projects: list[str], filter: str, deadline: float, **kw: Any) -> tuple[list, str]:
        self.calls["ListLogEntries"] += 1
        self.filters.append(filter)
        if self.fail:
            raise UpstreamError("UNAVAILABLE", "down", method="ListLogEntries")
        return list(self.entries), ""


class FakeVertex:
    def __init__(self, jobs: dict[str, dict[str, Any]]) -> None:
        self.jobs = jobs
        self.calls: Counter[str] = Counter()

    def get(self, name: str, deadline: float) -> dict[str, Any]:
        self.calls["Get"] += 1
        return self.jobs[name]


def run_of(job_id: str, collection: str = "customJobs", **extra: Any) -> dict[str, Any]:
    kind = kinds.by_collection(collection)
    return {
        "runId": f"projects/p-1234/locations/us-central1/{collection}/{job_id}",
        "project": "p-1234",
        "location": "us-central1",
        "jobId": job_id,
        "collection": collection,
        "jobType": kind.job_type,
        "createTime": "2026-12-03T10:00:00Z",
        **extra,
    }


def failed_job(
    run: dict[str, Any], message: str = "The replica workerpool0-0 exited with a non-zero status of 1."
) -> dict:
    return {"name": run["runId"], "state": "JOB_STATE_FAILED", "error": {"code": 3, "message": message}}


def line(job_id: str, text: str, severity: str = "ERROR") -> dict[str, Any]:
    return {
        "resource": {"type": "ml_job", "labels": {"job_id": job_id, "task_name": "workerpool0-0"}},
        "timestamp": "2026-12-03T10:01:00Z",
        "severity": severity,
        "textPayload": text,
    }


def test_one_read_for_every_job_failing_in_a_tick_each_gets_its_own_lines() -> None:
    a, b = run_of("1"), run_of("2")
    logs = FakeLogs([line("1", "ERROR: MemoryError"), line("2", "ERROR: Unable to pull image x"), line("3", "other")])
    diagnoser = Diagnoser(FakeVertex({}), logs, 20)
    found = diagnoser.failures(kinds.CUSTOM, [(a, failed_job(a)), (b, failed_job(b))], None, 1e12)
    assert logs.calls["ListLogEntries"] == 1
    assert 'resource.labels.job_id="1"' in logs.filters[0] and 'resource.labels.job_id="2"' in logs.filters[0]
    assert 'timestamp>="2026-12-03T10:00:00Z"' in logs.filters[0]
    assert [x["text"] for x in found[a["runId"]]["logTail"]] == ["ERROR: MemoryError"]
    assert [x["text"] for x in found[b["runId"]]["logTail"]] == ["ERROR: Unable to pull image x"]
    assert "memory" in found[a["runId"]]["hint"] and "Artifact Registry" in found[b["runId"]]["hint"]


def test_over_budget_no_read_and_no_tail_then_the_window_frees() -> None:
    logs = FakeLogs([line("1", "boom")])
    diagnoser = Diagnoser(FakeVertex({}), logs, 2)
    clock = [1000.0]
    budget = diagnoser.budget(None)
    budget.clock = lambda: clock[0]
    results = []
    for i in range(3):
        r = run_of(str(i))
        results.append(diagnoser.failures(kinds.CUSTOM, [(r, failed_job(r))], None, 1e12)[r["runId"]])
    assert logs.calls["ListLogEntries"] == 2 and diagnoser.skipped == 1
    assert "logTail" in results[0] and "logTail" not in results[2]
    assert results[2]["summary"] and results[2]["logsUrl"]  # the event still says what failed and where
    clock[0] += 60
    assert budget.try_spend()


def test_a_shard_gets_its_share_of_the_budget() -> None:
    diagnoser = Diagnoser(FakeVertex({}), FakeLogs([]), 20)
    assert diagnoser.budget(None).limit == 20
    assert diagnoser.budget((0, 32)).limit == 10
    assert diagnoser.budget((0, 1)).limit == 1 and diagnoser.budget((0, 1)).window > 60  # 20/64 a minute
    assert diagnoser.budget((0, 32)) is diagnoser.budget((0, 32))  # one window per range, across ticks


def test_logging_failure_gives_diagnostics_without_tail() -> None:
    r = run_of("1")
    diagnoser = Diagnoser(FakeVertex({}), FakeLogs([], fail=True), 20)
    found = diagnoser.failures(kinds.CUSTOM, [(r, failed_job(r, "out of memory: exit 137"))], None, 1e12)
    assert "logTail" not in found[r["runId"]] and diagnoser.failed_reads == 1
    assert found[r["runId"]]["hint"]  # the job's error alone is recognised


def test_a_pipeline_is_read_for_its_detail_once_and_names_its_failed_task() -> None:
    r = run_of("psv-x", "pipelineJobs")
    listed = {"name": r["runId"], "state": "PIPELINE_STATE_FAILED", "error": {"code": 9, "message": "DAG failed"}}
    detailed = dict(listed)
    detailed["jobDetail"] = {
        "taskDetails": [
            {
                "taskName": "train",
                "state": "FAILED",
                "error": {"message": "The replica workerpool0-0 exited with a non-zero status of 1."},
                "executorDetail": {"containerDetail": {"mainJob": "projects/p/locations/l/customJobs/77"}},
            }
        ]
    }
    vertex = FakeVertex({r["runId"]: detailed})
    event = {
        "resource": {"type": "aiplatform.googleapis.com/PipelineJob", "labels": {"pipeline_job_id": "psv-x"}},
        "timestamp": "2026-12-03T10:02:00Z",
        "severity": "ERROR",
        "jsonPayload": {"message": "PipelineJob failed.", "state": "PIPELINE_STATE_FAILED"},
    }
    logs = FakeLogs([line("77", "ERROR: Traceback"), event, line("78", "another job's")])
    found = Diagnoser(vertex, logs, 20).failures(kinds.PIPELINE, [(r, listed)], None, 1e12)[r["runId"]]
    assert vertex.calls["Get"] == 1
    assert found["failedTasks"][0]["name"] == "train" and found["failedTasks"][0]["customJob"].endswith("/77")
    assert [(x["source"], x["text"]) for x in found["logTail"]] == [
        ("train/workerpool0-0", "ERROR: Traceback"),
        ("pipeline", "PipelineJob failed."),
    ]
    assert 'resource.labels.job_id="77"' in logs.filters[0] and "pipeline_job_id" in logs.filters[0]
    # A job observed with its detail is not read again.
    Diagnoser(vertex, logs, 20).failures(kinds.PIPELINE, [(r, detailed)], None, 1e12)
    assert vertex.calls["Get"] == 1


def test_batch_jobs_read_no_logs() -> None:
    r = run_of("9", "batchPredictionJobs")
    logs = FakeLogs([])
    found = Diagnoser(FakeVertex({}), logs, 20).failures(kinds.BATCH, [(r, failed_job(r, "bad input"))], None, 1e12)
    assert logs.calls["ListLogEntries"] == 0 and [x["text"] for x in found[r["runId"]]["logTail"]] == ["bad input"]


def recorded_without_tail(job_id: str, ended: datetime) -> dict[str, Any]:
    r = run_of(job_id, vertexState="JOB_STATE_FAILED", status="Failed", endTime=runs.iso(ended), outbox=[])
    job = failed_job(r)
    diagnostics.attach(r, job)
    assert diagnostics.tail_pending(r) and runs.needs_poller(r)
    return r


def test_tails_are_completed_later_and_given_up_after_an_hour() -> None:
    fresh = recorded_without_tail("1", NOW - timedelta(minutes=2))
    stale = recorded_without_tail("2", NOW - timedelta(seconds=TAIL_GIVE_UP_SECONDS + 1))
    logs = FakeLogs([line("1", "ERROR: MemoryError"), line("2", "late")])
    writes = Diagnoser(FakeVertex({}), logs, 20).tails(kinds.CUSTOM, [fresh, stale], NOW, None, 1e12)
    assert logs.calls["ListLogEntries"] == 1 and 'job_id="2"' not in logs.filters[0]
    done = {}
    for doc_id, mutate in writes:
        run = fresh if doc_id == runs.doc_id(fresh) else stale
        assert mutate(run) is True and mutate(run) is None  # a second writer finds it done
        done[run["jobId"]] = run
    assert [x["text"] for x in done["1"]["diagnostics"]["logTail"]] == ["ERROR: MemoryError"]
    assert "memory" in done["1"]["diagnostics"]["hint"]
    assert done["2"]["diagnostics"]["logTail"] == []
    assert not runs.needs_poller(done["1"]) and done["1"]["active"] is False


def test_tails_over_budget_write_nothing() -> None:
    fresh = recorded_without_tail("1", NOW)
    assert Diagnoser(FakeVertex({}), FakeLogs([]), 0).tails(kinds.CUSTOM, [fresh], NOW, None, 1e12) == []
