"""Cloud Logging v2 ``POST /v2/entries:list`` served by the emulator, driven by raw REST as the v2 reference defines it
(google-cloud-logging is not a dependency; gcloud's own Logging client is driven in ``test_gcloud.py``)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import requests

from tests.helpers import wait_for
from vertex_emulator import EmulatorServer

from .conftest import PARENT, PROJECT, job_body

pytestmark = pytest.mark.timeout(120)

FINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


def create(server: EmulatorServer, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{server.url}/v1/{PARENT}/customJobs", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_final(server: EmulatorServer, name: str) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        job = requests.get(f"{server.url}/v1/{name}", timeout=10).json()
        return job if job["state"] in FINAL else None

    return wait_for(final, timeout=60, what=f"{name} to end")


def entries_list(server: EmulatorServer, **request: Any) -> requests.Response:
    request.setdefault("resourceNames", [f"projects/{PROJECT}"])
    return requests.post(f"{server.url}/v2/entries:list", json=request, timeout=10)


def all_entries(server: EmulatorServer, **request: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token = ""
    while True:
        response = entries_list(server, pageToken=token, **request)
        assert response.status_code == 200, response.text
        data = response.json()
        out.extend(data.get("entries", []))
        token = data.get("nextPageToken", "")
        if not token:
            return out


def job_filter(job_id: str) -> str:
    return f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"'


def message(entry: dict[str, Any]) -> str:
    return str(entry.get("textPayload", entry.get("jsonPayload", {}).get("message", "")))


STATE_LABEL = "ml.googleapis.com/job_state"


def state_of(entry: dict[str, Any]) -> str | None:
    """The job_state label of one of Vertex AI's own lines (None on the workload's)."""
    return (entry.get("labels") or {}).get(STATE_LABEL)


def test_lifecycle_and_process_output_of_an_executed_job(server: EmulatorServer, admin: Any) -> None:
    script = (
        "import sys, time; print('first line'); print('second line', flush=True); time.sleep(0.05); "
        "print('to stderr', file=sys.stderr)"
    )
    job = create(server, job_body("logged", command=[sys.executable, "-c", script]))
    job_id = job["name"].rsplit("/", 1)[1]
    assert wait_final(server, job["name"])["state"] == "JOB_STATE_SUCCEEDED"

    entries = all_entries(server, filter=job_filter(job_id))
    service = [e for e in entries if e["resource"]["labels"]["task_name"] == "service"]
    # Vertex AI's own lines: textPayload, its wording, the job_state label on each state line.
    assert [state_of(e) for e in service] == ["PREPARING", "QUEUED", "RUNNING", "SUCCEEDED"]
    assert message(service[0]) == "Job is preparing." and message(service[1]) == "Waiting for job to be provisioned."
    assert message(entries[-1]) == "Job completed successfully." and state_of(entries[-1]) == "SUCCEEDED"
    lines = [e for e in entries if e["resource"]["labels"]["task_name"] == "workerpool0-0"]
    assert [e["textPayload"] for e in lines] == ["first line", "second line", "to stderr"]
    assert [e["severity"] for e in lines] == ["INFO", "INFO", "ERROR"]  # stderr at ERROR
    running = next(i for i, e in enumerate(entries) if state_of(e) == "RUNNING")
    assert all(entries.index(line) > running for line in lines)
    for entry in entries:  # the LogEntry shape of the v2 reference
        assert entry["resource"]["type"] == "ml_job"
        assert entry["resource"]["labels"]["job_id"] == job_id
        assert entry["resource"]["labels"]["project_id"] == PROJECT
        assert entry["timestamp"].endswith("Z") and entry["receiveTimestamp"].endswith("Z")
        assert entry["logName"].startswith(f"projects/{PROJECT}/logs/")
        assert "textPayload" in entry
    assert all(e["severity"] == "INFO" for e in service)
    assert {e["logName"] for e in lines} == {f"projects/{PROJECT}/logs/workerpool0-0"}
    assert {e["logName"] for e in service} == {f"projects/{PROJECT}/logs/ml.googleapis.com%2F{job_id}"}
    assert len({e["insertId"] for e in entries}) == len(entries)
    assert [e["timestamp"] for e in entries] == sorted(e["timestamp"] for e in entries)

    # The same entries, newest first, and the same again on a second read (stable ids and times).
    newest_first = all_entries(server, filter=job_filter(job_id), orderBy="timestamp desc")
    assert [e["insertId"] for e in newest_first] == [e["insertId"] for e in reversed(entries)]
    assert all_entries(server, filter=job_filter(job_id)) == entries


def test_failed_job_logs_an_error_and_severity_filters(server: EmulatorServer, admin: Any) -> None:
    job = create(server, job_body("failing", command=[sys.executable, "-c", "print('boom'); raise SystemExit(3)"]))
    job_id = job["name"].rsplit("/", 1)[1]
    failed = wait_final(server, job["name"])
    assert failed["state"] == "JOB_STATE_FAILED"
    errors = all_entries(server, filter=f"{job_filter(job_id)} AND severity>=ERROR")
    assert errors and all(e["severity"] == "ERROR" for e in errors)
    # The last service line is Vertex AI's wording for the failure: the job's error.message.
    assert message(errors[-1]) == failed["error"]["message"] and state_of(errors[-1]) == "FAILED"
    assert message(errors[-1]).startswith("The replica workerpool0-0 exited with a non-zero status of 3.")
    everything = all_entries(server, filter=job_filter(job_id))
    assert len(everything) > len(errors)
    assert "boom" in [e.get("textPayload") for e in everything]


def test_scripted_workload_lines_and_their_severities(server: EmulatorServer, admin: Any) -> None:
    lines = ["loading data", "WARNING: slow disk", "ERROR: MemoryError while batching"]
    job = create(server, job_body("scripted", scenario="PENDING:1,RUNNING:1,FAILED", logs=json.dumps(lines)))
    job_id = job["name"].rsplit("/", 1)[1]
    assert wait_final(server, job["name"])["state"] == "JOB_STATE_FAILED"
    entries = all_entries(server, filter=job_filter(job_id))
    workload = [e for e in entries if e["resource"]["labels"]["task_name"] == "workerpool0-0"]
    assert [(e["severity"], e["textPayload"]) for e in workload] == [
        ("INFO", "loading data"),
        ("WARNING", "WARNING: slow disk"),
        ("ERROR", "ERROR: MemoryError while batching"),
    ]
    running = next(e["timestamp"] for e in entries if state_of(e) == "RUNNING")
    assert all(e["timestamp"] > running for e in workload)
    assert state_of(entries[-1]) == "FAILED" and entries[-1]["severity"] == "ERROR"
    bad = requests.post(
        f"{server.url}/v1/{PARENT}/customJobs", json=job_body("bad", logs='{"not": "a list"}'), timeout=10
    )
    assert bad.status_code == 400 and "VERTEX_EMULATOR_LOGS" in bad.json()["error"]["message"]


def test_scenario_job_without_a_process_and_cancel(server: EmulatorServer, admin: Any) -> None:
    job = create(server, job_body("cancelled", scenario="PENDING:1,RUNNING:600,SUCCEEDED"))
    job_id = job["name"].rsplit("/", 1)[1]
    wait_for(
        lambda: requests.get(f"{server.url}/v1/{job['name']}", timeout=10).json()["state"] == "JOB_STATE_RUNNING",
        what="RUNNING",
    )
    assert requests.post(f"{server.url}/v1/{job['name']}:cancel", json={}, timeout=10).status_code == 200
    assert wait_final(server, job["name"])["state"] == "JOB_STATE_CANCELLED"
    entries = all_entries(server, filter=job_filter(job_id))
    assert [state_of(e) for e in entries] == ["PREPARING", "RUNNING", "CANCELLING", "CANCELLED"]
    assert message(entries[-1]) == "Job was cancelled." and all(
        e["resource"]["labels"]["task_name"] == "service" for e in entries
    )


def test_filters_paging_and_the_filter_gcloud_sends(server: EmulatorServer, admin: Any) -> None:
    jobs = [create(server, job_body(f"paged-{i}", command=[sys.executable, "-c", f"print({i})"])) for i in range(2)]
    for job in jobs:
        wait_final(server, job["name"])
    ids = [job["name"].rsplit("/", 1)[1] for job in jobs]
    first = all_entries(server, filter=job_filter(ids[0]))
    second = all_entries(server, filter=job_filter(ids[1]))
    assert first and second and not {e["insertId"] for e in first} & {e["insertId"] for e in second}
    both = all_entries(server, filter='resource.type="ml_job"')
    assert {e["insertId"] for e in both} == {e["insertId"] for e in first + second}

    # Pages of 2 add up to the whole list, in order.
    pages: list[int] = []
    token = ""
    collected: list[dict[str, Any]] = []
    while True:
        data = entries_list(server, filter=job_filter(ids[0]), pageSize=2, pageToken=token).json()
        pages.append(len(data.get("entries", [])))
        collected.extend(data.get("entries", []))
        token = data.get("nextPageToken", "")
        if not token:
            break
    assert collected == first and max(pages) == 2 and len(pages) == (len(first) + 1) // 2

    # Logging query language: OR binds tighter than AND, so this is (A OR B) AND service entries.
    either = f'resource.labels.job_id="{ids[0]}" OR resource.labels.job_id="{ids[1]}" AND labels."{STATE_LABEL}":""'
    assert {e["insertId"] for e in all_entries(server, filter=either)} == {
        e["insertId"] for e in first + second if state_of(e)
    }
    # `:*` tests presence: the hint sink's clause for Custom Jobs (infra/hints.tf) keeps exactly the state lines.
    sink = f'resource.type="ml_job" AND resource.labels.task_name="service" AND labels."{STATE_LABEL}":*'
    assert all_entries(server, filter=f'{sink} AND resource.labels.job_id="{ids[0]}"') == [
        e for e in first if state_of(e)
    ]
    assert all_entries(server, filter=f'{job_filter(ids[0])} AND NOT labels."{STATE_LABEL}":*') == [
        e for e in first if not state_of(e)
    ]
    assert all_entries(server, filter=f'{job_filter(ids[0])} NOT resource.labels.task_name="service"') == [
        e for e in first if not state_of(e)
    ]

    # What gcloud's LogFetcher sends after it has seen entry 2 (lower bound with insertId, upper bound).
    seen = first[1]
    gcloud_filter = (
        f'{job_filter(ids[0])} AND ((timestamp="{seen["timestamp"]}" AND insertId>"{seen["insertId"]}") '
        f'OR timestamp>"{seen["timestamp"]}") AND timestamp<"2999-01-01T00:00:00.000000+00:00"'
    )
    assert all_entries(server, filter=gcloud_filter, orderBy="timestamp asc") == first[2:]
    assert all_entries(server, filter=f'{job_filter(ids[0])} AND timestamp>="{first[-1]["timestamp"]}"') == [
        e for e in first if e["timestamp"] == first[-1]["timestamp"]
    ]
    assert all_entries(server, filter=f'{job_filter(ids[0])} AND timestamp<"1970-01-02T00:00:00Z"') == []
    assert all_entries(server, filter=job_filter(ids[0]), resourceNames=["projects/other-project"]) == []


@pytest.mark.parametrize(
    ("request_body", "fragment"),
    [
        ({"resourceNames": [], "filter": ""}, "resource name"),
        ({"resourceNames": ["organizations/1"]}, "Invalid resource name"),
        ({"filter": 'resource.type="ml_job" AND ('}, "Unparseable filter"),
        ({"filter": "timestamp>=yesterday"}, "Invalid timestamp"),
        ({"filter": "severity>=LOUD"}, "Invalid severity"),
        ({"orderBy": "insertId"}, "orderBy"),
        ({"pageSize": -1}, "page_size"),
        ({"pageToken": "not-a-token"}, "page_token"),
        ({"nope": 1}, 'Unknown name "nope"'),
    ],
)
def test_bad_requests_are_invalid_argument(
    server: EmulatorServer, admin: Any, request_body: dict[str, Any], fragment: str
) -> None:
    body = {"resourceNames": [f"projects/{PROJECT}"], **request_body}
    response = requests.post(f"{server.url}/v2/entries:list", json=body, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400 and fragment in error["message"]


def test_calls_are_counted_and_faults_apply(server: EmulatorServer, admin: Any) -> None:
    entries_list(server)
    entries_list(server)
    assert admin.calls()["ListLogEntries"] == 2
    admin.add_fault(method="*", http_status=503, count=1)
    response = entries_list(server)
    assert response.status_code == 503 and response.json()["error"]["status"] == "UNAVAILABLE"
    assert entries_list(server).status_code == 200
    admin.add_fault(method="ListLogEntries", http_status=429, count=1)  # Logging's own method name
    assert entries_list(server).status_code == 429 and entries_list(server).status_code == 200
