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
