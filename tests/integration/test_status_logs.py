"""`status?runId=...&logs=N` (issue 25): a run's last N log lines through the signed status function, paged with a
token, against the emulators (Cloud Logging's entries:list served by the Vertex AI emulator)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.test_poll_cancel import submit_run

pytestmark = pytest.mark.timeout(120)


def status(call: Any, **query: Any) -> Any:
    return call("status", query=urlencode(query))


def test_last_lines_paged_back_with_a_token(app: Any, call: Any, vertex: Any) -> None:
    run_id = submit_run(app, "logs-page")
    for state in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_FAILED"):
        vertex.set_state(run_id, state)
    vertex.reset_calls()
    first = status(call, runId=run_id, logs=2)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["runId"] == run_id and body["status"] == "Running"  # the record, as recorded (no tick yet)
    lines = body["logs"]["lines"]
    assert len(lines) == 2 and [line["time"] for line in lines] == sorted(line["time"] for line in lines)
    assert set(lines[0]) == {"time", "severity", "source", "text"}
    assert lines[-1]["source"] == "service" and lines[-1]["severity"] == "ERROR"  # Vertex AI's last word
    token = body["logs"]["nextPageToken"]
    assert token
    second = status(call, runId=run_id, logs=2, pageToken=token).get_json()
    earlier = second["logs"]["lines"]
    assert earlier and earlier != lines and max(e["time"] for e in earlier) <= min(e["time"] for e in lines)
    assert vertex.calls()["ListLogEntries"] == 2  # one entries:list per page
    everything = status(call, runId=run_id, logs=200).get_json()["logs"]
    assert everything["nextPageToken"] == "" and everything["lines"][-2:] == lines


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"logs": "0"}, "logs"),
        ({"logs": "201"}, "logs"),
        ({"logs": "ten"}, "logs"),
        ({"pageToken": "abc"}, "logs"),  # a token without logs
        ({"logs": "5", "pageToken": "not-ours"}, "pageToken"),
    ],
)
def test_bad_parameters_are_400_and_read_nothing(
    app: Any, call: Any, vertex: Any, query: dict[str, str], field: str
) -> None:
    run_id = submit_run(app, "logs-bad")
    vertex.reset_calls()
    response = status(call, runId=run_id, **query)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["field"] == field
    assert vertex.calls().get("ListLogEntries", 0) == 0


def test_a_token_of_another_run_is_refused(app: Any, call: Any, vertex: Any) -> None:
    a, b = submit_run(app, "logs-a"), submit_run(app, "logs-b")
    vertex.set_state(a, "JOB_STATE_RUNNING")  # created, then running: two lines
    token = status(call, runId=a, logs=1).get_json()["logs"]["nextPageToken"]
    assert token
    response = status(call, runId=b, logs=1, pageToken=token)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "pageToken"


def test_logging_unavailable_is_503_with_retry_after(app: Any, call: Any, vertex: Any) -> None:
    run_id = submit_run(app, "logs-down")
    assert status(call, runId=run_id).status_code == 200  # without logs: no Logging call at all
    vertex.add_fault(method="*", http_status=503, count=1)
    response = status(call, runId=run_id, logs=5)
    assert response.status_code == 503 and response.headers.get("Retry-After")
    assert response.get_json()["error"]["status"] == "UNAVAILABLE"


def test_unsigned_is_401_and_reads_no_logs(app: Any, call: Any, vertex: Any) -> None:
    run_id = submit_run(app, "logs-unsigned")
    vertex.reset_calls()
    response = call("status", query=urlencode({"runId": run_id, "logs": 5}), secret=None)
    assert response.status_code == 401
    assert vertex.calls().get("ListLogEntries", 0) == 0


def test_a_running_pipelines_logs_show_its_running_tasks_lines_and_page_while_a_task_starts(
    app: Any, call: Any, vertex: Any, vertex_server: Any
) -> None:
    """A running pipeline's `logs=N` reads every task's CustomJob (one GetPipelineJob: the tasks are only in its
    jobDetail), and a page token stays good when a task starts between two pages (the later page keeps the first
    page's jobs: Cloud Logging's token is valid only with the same filter, and the emulator refuses it otherwise)."""
    import copy
    import json

    from tests.integration import test_pipeline_jobs as pipeline_tests

    spec = copy.deepcopy(pipeline_tests.SPEC)
    spec["root"]["dag"]["tasks"]["evaluate"]["dependentTasks"] = ["train"]  # waits while train runs
    template_job = pipeline_tests.template_job(pipelineSpec=spec)
    scripted = ["loading shards", "epoch 1 loss 0.52", "epoch 2 loss 0.31"]
    template_job["runtimeConfig"]["parameterValues"]["VERTEX_EMULATOR_LOGS"] = json.dumps(scripted)
    template = pipeline_tests.create_pipeline(pipeline_tests.pipeline_client(vertex_server.url), template_job)
    run_id = pipeline_tests.submit(app, pipeline_tests.body_for(template, "logs-pipeline"))["runId"]
    vertex.set_state(run_id, "PIPELINE_STATE_RUNNING")
    vertex.reset_calls()

    everything = status(call, runId=run_id, logs=200).get_json()
    assert everything["status"] == "Running" and "diagnostics" not in everything  # the record names no task
    lines = everything["logs"]["lines"]
    assert [x["text"] for x in lines if x["source"] == "train/workerpool0-0"] == scripted  # the running task's
    assert {x["source"] for x in lines} == {"pipeline", "train/service", "train/workerpool0-0"}
    assert vertex.calls()["GetPipelineJob"] == 1 and vertex.calls()["ListLogEntries"] == 1

    first = status(call, runId=run_id, logs=2).get_json()["logs"]
    assert first["lines"] == lines[-2:] and first["nextPageToken"]
    vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")  # evaluate starts (and ends): its CustomJob appears
    vertex.reset_calls()
    second = status(call, runId=run_id, logs=2, pageToken=first["nextPageToken"])
    assert second.status_code == 200, second.get_json()
    page = second.get_json()["logs"]
    assert page["lines"] and page["nextPageToken"]
    assert not any(x["source"].startswith("evaluate/") for x in page["lines"])  # the first page's jobs only
    assert vertex.calls()["GetPipelineJob"] == 1 and vertex.calls()["ListLogEntries"] == 1

    now = status(call, runId=run_id, logs=200).get_json()["logs"]["lines"]  # a new first page: the new task too
    assert {"evaluate/service", "train/workerpool0-0"} <= {x["source"] for x in now}


def test_custom_job_logs_cost_no_vertex_ai_call(app: Any, call: Any, vertex: Any) -> None:
    run_id = submit_run(app, "logs-cost")
    vertex.set_state(run_id, "JOB_STATE_RUNNING")
    vertex.reset_calls()
    token = status(call, runId=run_id, logs=1).get_json()["logs"]["nextPageToken"]
    assert status(call, runId=run_id, logs=1, pageToken=token).status_code == 200
    assert {k: v for k, v in vertex.calls().items() if v} == {"ListLogEntries": 2}
