"""Diagnostics of failed runs (issue 25), the pure parts: the hint table entry by entry, the log tail, the summary,
the Logs Explorer URL, each kind's log filter and failed tasks, the read budget."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from polysync_vertex.core import diagnostics, hints, kinds, permissions
from polysync_vertex.core.budget import MinuteBudget
from polysync_vertex.core.names import JobResourceName

CUSTOM = JobResourceName("my-proj", "us-central1", "123", "customJobs")
PIPELINE = JobResourceName("my-proj", "us-central1", "psv-abc", "pipelineJobs")
BATCH = JobResourceName("my-proj", "us-central1", "456", "batchPredictionJobs")


def entry(text: str, *, severity: str = "INFO", task: str = "workerpool0-0", job_id: str = "123", t: int = 0) -> dict:
    return {
        "logName": f"projects/my-proj/logs/{task}",
        "resource": {"type": "ml_job", "labels": {"job_id": job_id, "project_id": "my-proj", "task_name": task}},
        "timestamp": f"2026-12-03T10:00:{t:02d}.000000Z" if t < 60 else f"2026-12-03T10:{t // 60:02d}:{t % 60:02d}Z",
        "severity": severity,
        "textPayload": text,
    }


# -- the hint table: every entry recognises Vertex AI's (or the workload's) wording and names its fix -----------
CASES = {
    "out-of-memory": "The replica workerpool0-0 ran out of memory and exited with a non-zero status of 137.",
    "image-pull": "Unable to pull image us-docker.pkg.dev/p/r/trainer:1.4: denied: Permission "
    '"artifactregistry.repositories.downloadArtifacts" denied on resource',
    "act-as-service-account": "The caller does not have permission iam.serviceAccounts.actAs on "
    "service account train@my-proj.iam.gserviceaccount.com",
    "pipeline-root-not-writable": "Failed to create pipeline job. Error: Service account sa@p.iam.gserviceaccount.com "
    "does not have storage.objects.create access to gs://pipeline-root/runs",
    "quota": "The following quota metrics exceed quota limits: aiplatform.googleapis.com/custom_model_training_cpus",
    "region-capacity": "Resources are insufficient in region: us-central1. Try a different region or use a "
    "different accelerator.",
}


def test_every_entry_of_the_table_has_a_case() -> None:
    assert {h.name for h in hints.HINTS} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_entry_matches_its_wording_and_no_other_comes_first(name: str) -> None:
    found = hints.match([CASES[name]])
    assert found is not None and found.name == name
    assert found.fix and len(found.fix) > 40


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (
            "Killed\nThe replica workerpool0-0 exited with a non-zero status of 137. Termination reason: Error.",
            "out-of-memory",
        ),
        ("torch.cuda.OutOfMemoryError: CUDA out of memory", "out-of-memory"),
        ("MemoryError", "out-of-memory"),
        ("Back-off pulling image: ErrImagePull", "image-pull"),
        ("googleapi: Error 403: Permission 'iam.serviceAccounts.actAs' denied", "act-as-service-account"),
        ("RESOURCE_EXHAUSTED: quota exceeded for nvidia_t4_gpus", "quota"),
        (hints.QUEUED_TOO_LONG, "quota"),
        ("The replica workerpool0-0 exited with a non-zero status of 1. Termination reason: Error.", None),
        ("", None),
    ],
)
def test_other_wordings(text: str, name: str | None) -> None:
    found = hints.match([text])
    assert (found.name if found else None) == name


def test_a_bucket_without_a_denial_is_no_pipeline_root_hint() -> None:
    assert hints.match(["wrote model to gs://bucket/model"]) is None


def test_a_bucket_and_a_denial_in_different_lines_are_no_pipeline_root_hint() -> None:
    lines = ["wrote model to gs://bucket/model", "HTTPError: 403 Forbidden for url https://huggingface.co/api/models/x"]
    assert hints.match(lines) is None
    assert hints.match([" ".join(lines)]) is not None, "the same words in one line still are"
    found = hints.match(["step 1", CASES["pipeline-root-not-writable"], "step 2"])
    assert found is not None and found.name == "pipeline-root-not-writable"


# -- log lines and the tail ---------------------------------------------------------------------------------
def test_line_of_entries() -> None:
    assert diagnostics.line_of(entry("hello", t=5)) == {
        "time": "2026-12-03T10:00:05.000000Z",
        "severity": "INFO",
        "source": "workerpool0-0",
        "text": "hello",
    }
    event = {
        "resource": {"type": "aiplatform.googleapis.com/PipelineJob", "labels": {"pipeline_job_id": "psv-abc"}},
        "timestamp": "2026-12-03T10:00:00Z",
        "severity": "ERROR",
        "jsonPayload": {"state": "PIPELINE_STATE_FAILED"},
    }
    assert diagnostics.line_of(event)["source"] == "pipeline"
    assert diagnostics.line_of(event)["text"] == "state: PIPELINE_STATE_FAILED"
    task = diagnostics.line_of(entry("boom", job_id="777"), {"777": "train"})
    assert task["source"] == "train/workerpool0-0" and diagnostics.is_workload(task)
    service = diagnostics.line_of(entry("Job failed.", task="service", job_id="777"), {"777": "train"})
    assert service["source"] == "train/service" and not diagnostics.is_workload(service)
    assert diagnostics.line_of({"jsonPayload": {"message": "m", "x": 1}})["text"] == "m"
    assert diagnostics.entry_job_id(event) == "psv-abc"


def test_tail_errors_first_then_the_workloads_last_lines_cut_and_bounded() -> None:
    lines = [diagnostics.line_of(entry(f"step {i}", t=i)) for i in range(40)]
    lines += [diagnostics.line_of(entry("Waiting for training program to start.", task="service", t=1))]
    lines += [diagnostics.line_of(entry("Traceback: " + "x" * 3000, severity="ERROR", t=30))]
    lines += [diagnostics.line_of(entry("The replica workerpool0-0 exited", severity="ERROR", task="service", t=45))]
    tail = diagnostics.select_tail(reversed(lines))
    assert len(tail) == 20
    assert [t["severity"] for t in tail[:2]] == ["ERROR", "ERROR"] and tail[1]["source"] == "service"
    assert tail[0]["text"].startswith("Traceback") and len(tail[0]["text"]) == 1000
    assert [t["text"] for t in tail[2:]] == [f"step {i}" for i in range(22, 40)]
    assert all(t["source"] != "service" for t in tail[2:])  # Vertex AI's INFO lines are not the workload's


def test_more_errors_than_the_tail_keeps_the_last_errors() -> None:
    lines = [diagnostics.line_of(entry(f"e{i}", severity="CRITICAL", t=i)) for i in range(25)]
    tail = diagnostics.select_tail(lines)
    assert [t["text"] for t in tail] == [f"e{i}" for i in range(5, 25)]


# -- URL, filters, summary, kinds ---------------------------------------------------------------------------
def test_logs_url_is_logs_explorer_with_the_jobs_filter() -> None:
    url = diagnostics.logs_url("my-proj", kinds.CUSTOM.logs_query(CUSTOM, {}))
    assert url.startswith("https://console.cloud.google.com/logs/query;query=") and url.endswith("?project=my-proj")
    query = unquote(url.split("query=", 1)[1].split("?project=")[0])
    assert query == 'resource.type="ml_job" AND resource.labels.job_id="123"'
    assert " " not in url and ";" not in url.split("query=", 1)[1]


def pipeline_job() -> dict[str, Any]:
    return {
        "name": PIPELINE.resource_name,
        "state": "PIPELINE_STATE_FAILED",
        "error": {"code": 9, "message": "The DAG failed because some tasks failed. The failed tasks are: [train]."},
        "jobDetail": {
            "taskDetails": [
                {"taskId": "1", "taskName": "my-pipeline", "state": "FAILED"},
                {
                    "taskId": "2",
                    "parentTaskId": "1",
                    "taskName": "prepare",
                    "state": "SUCCEEDED",
                    "executorDetail": {
                        "containerDetail": {"mainJob": "projects/1/locations/us-central1/customJobs/11"}
                    },
                },
                {
                    "taskId": "3",
                    "parentTaskId": "1",
                    "taskName": "train",
                    "state": "FAILED",
                    "error": {"code": 9, "message": "The replica workerpool0-0 exited with a non-zero status of 1."},
                    "executorDetail": {
                        "containerDetail": {
                            "mainJob": "projects/1/locations/us-central1/customJobs/33",
                            "failedMainJobs": ["projects/1/locations/us-central1/customJobs/32"],
                        }
                    },
                },
            ]
        },
    }


def test_pipeline_failed_tasks_filter_and_sources() -> None:
    job = pipeline_job()
    assert kinds.PIPELINE.failed_tasks(job) == [
        {
            "name": "train",
            "state": "FAILED",
            "error": "The replica workerpool0-0 exited with a non-zero status of 1.",
            "customJob": "projects/1/locations/us-central1/customJobs/33",
        }
    ]
    failed = kinds.PIPELINE.log_filter(PIPELINE, job)
    assert 'resource.labels.pipeline_job_id="psv-abc"' in failed
    assert 'resource.labels.job_id="33"' in failed and 'resource.labels.job_id="32"' in failed
    assert 'job_id="11"' not in failed
    assert 'job_id="11"' in kinds.PIPELINE.log_filter(PIPELINE, job, all_tasks=True)
    assert kinds.PIPELINE.log_sources(job) == {"11": "prepare", "32": "train", "33": "train"}
    # Without taskDetails (the list view): the pipeline's own events only.
    assert kinds.PIPELINE.log_filter(PIPELINE, {}) == (
        '(resource.type="aiplatform.googleapis.com/PipelineJob" AND resource.labels.pipeline_job_id="psv-abc")'
    )


def test_batch_reads_no_logs_and_tells_its_error_and_partial_failures() -> None:
    job = {
        "state": "JOB_STATE_FAILED",
        "endTime": "2026-12-03T10:05:00Z",
        "error": {"code": 3, "message": "Failed to read input gs://in/x.jsonl"},
        "partialFailures": [{"code": 3, "message": "instance 7: not JSON"}, {"code": 3}],
    }
    assert not kinds.BATCH.reads_logs and kinds.BATCH.log_filter(BATCH, job) == ""
    diag = diagnostics.diagnose(kinds.BATCH, BATCH, job, None)
    assert [line["text"] for line in diag["logTail"]] == [
        "instance 7: not JSON",
        "Failed to read input gs://in/x.jsonl",  # the job's error last: the tail keeps the last lines
    ]
    assert diag["summary"].startswith(
        "Vertex AI Batch Prediction Job 456 in my-proj/us-central1 failed: Failed to read"
    )
    assert unquote(diag["logsUrl"]).split("query=")[1].startswith('"456"')


def test_diagnose_custom_with_and_without_logs() -> None:
    job = {
        "state": "JOB_STATE_FAILED",
        "error": {"code": 3, "message": "The replica workerpool0-0 exited with a non-zero status of 1.\nmore"},
    }
    entries = [entry("loading"), entry("ERROR: Unable to pull image x: not found", severity="ERROR", t=3)]
    diag = diagnostics.diagnose(kinds.CUSTOM, CUSTOM, job, entries)
    assert diag["summary"] == (
        "Vertex AI Custom Job 123 in my-proj/us-central1 failed: The replica workerpool0-0 exited with a non-zero "
        "status of 1."
    )
    assert diag["failedTasks"] == [] and diag["logTail"][0]["severity"] == "ERROR"
    assert diag["hint"] == next(h.fix for h in hints.HINTS if h.name == "image-pull")
    without = diagnostics.diagnose(kinds.CUSTOM, CUSTOM, job, None)
    assert "logTail" not in without and without["hint"] is None
    later = diagnostics.with_tail(without, kinds.CUSTOM, job, entries)
    assert later["logTail"] == diag["logTail"] and later["hint"] == diag["hint"]
    assert diagnostics.diagnose(kinds.CUSTOM, CUSTOM, job, None, queued_too_long=True)["hint"] == next(
        h.fix for h in hints.HINTS if h.name == "quota"
    )


def test_pipeline_summary_names_the_failed_task() -> None:
    diag = diagnostics.diagnose(kinds.PIPELINE, PIPELINE, pipeline_job(), [])
    assert diag["summary"] == (
        "task train of Vertex AI Pipeline Job psv-abc in my-proj/us-central1 failed: The replica workerpool0-0 "
        "exited with a non-zero status of 1."
    )
    assert diag["logTail"] == []


def test_combined_filter_ors_jobs_and_bounds_time() -> None:
    one = kinds.CUSTOM.log_filter(CUSTOM, {})
    assert diagnostics.combined_filter([one]) == one
    two = diagnostics.combined_filter([one, "b", one], since="2026-12-03T10:00:00Z")
    assert two == f'(({one}) OR (b)) AND timestamp>="2026-12-03T10:00:00Z"'
    assert diagnostics.combined_filter(["", ""]) == ""


# -- budget and permissions -----------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_minute_budget_is_a_sliding_window() -> None:
    clock = Clock()
    budget = MinuteBudget(20, clock)
    assert [budget.try_spend() for _ in range(21)] == [True] * 20 + [False]
    clock.now += 59.9
    assert not budget.try_spend() and budget.remaining() == 0
    clock.now += 0.1
    assert budget.remaining() == 20 and budget.try_spend()


def test_a_share_below_one_a_minute_and_zero() -> None:
    clock = Clock()
    half = MinuteBudget(0.5, clock)
    assert half.try_spend() and not half.try_spend()
    clock.now += 119
    assert not half.try_spend()
    clock.now += 1
    assert half.try_spend()
    assert not MinuteBudget(0, clock).try_spend()
    assert MinuteBudget(4.7, clock).limit == 4


def test_readers_of_logs_need_logging_permission() -> None:
    assert "logging.logEntries.list" in permissions.permissions("poll")
    assert permissions.permissions("status") == ["logging.logEntries.list"]
    assert "logging.logEntries.list" not in permissions.permissions("submit")
