"""Cloud Logging v2 ``POST /v2/entries:list`` served by the emulator, driven by raw REST as the v2 reference defines it
(google-cloud-logging is not a dependency; gcloud's own Logging client is driven in ``test_gcloud.py``)."""

from __future__ import annotations

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


def test_lifecycle_and_process_output_of_an_executed_job(server: EmulatorServer, admin: Any) -> None:
    script = "print('first line'); print('second line'); import sys; print('to stderr', file=sys.stderr)"
    job = create(server, job_body("logged", command=[sys.executable, "-c", script]))
    job_id = job["name"].rsplit("/", 1)[1]
    assert wait_final(server, job["name"])["state"] == "JOB_STATE_SUCCEEDED"

    entries = all_entries(server, filter=job_filter(job_id))
    states = [e["jsonPayload"]["state"] for e in entries if "jsonPayload" in e]
    assert states[0] == "JOB_STATE_PENDING" and "JOB_STATE_RUNNING" in states and states[-1] == "JOB_STATE_SUCCEEDED"
    assert "was created" in message(entries[0]) and message(entries[-1]) == "CustomJob completed successfully."
    lines = [e for e in entries if "textPayload" in e]
    assert [e["textPayload"] for e in lines] == ["first line", "second line", "to stderr"]
    running = next(i for i, e in enumerate(entries) if e.get("jsonPayload", {}).get("state") == "JOB_STATE_RUNNING")
    assert all(entries.index(line) > running for line in lines)
    for entry in entries:  # the LogEntry shape of the v2 reference
        assert entry["resource"]["type"] == "ml_job"
        assert entry["resource"]["labels"]["job_id"] == job_id
        assert entry["resource"]["labels"]["project_id"] == PROJECT
        assert entry["severity"] == "INFO"
        assert entry["timestamp"].endswith("Z") and entry["receiveTimestamp"].endswith("Z")
        assert entry["logName"].startswith(f"projects/{PROJECT}/logs/")
    assert {e["resource"]["labels"]["task_name"] for e in lines} == {"workerpool0-0"}
    assert {e["logName"] for e in lines} == {f"projects/{PROJECT}/logs/workerpool0-0"}
    service = [e for e in entries if "jsonPayload" in e]
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
    assert wait_final(server, job["name"])["state"] == "JOB_STATE_FAILED"
    errors = all_entries(server, filter=f"{job_filter(job_id)} AND severity>=ERROR")
    assert errors and all(e["severity"] == "ERROR" for e in errors)
    assert any(message(e).startswith("CustomJob failed.") for e in errors)
    everything = all_entries(server, filter=job_filter(job_id))
    assert len(everything) > len(errors)
    assert "boom" in [e.get("textPayload") for e in everything]


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
    assert [e["jsonPayload"]["state"] for e in entries] == [
        "JOB_STATE_PENDING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_CANCELLING",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_CANCELLED",
    ]
    assert message(entries[-1]) == "CustomJob was cancelled." and not any("textPayload" in e for e in entries)


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
    either = f'resource.labels.job_id="{ids[0]}" OR resource.labels.job_id="{ids[1]}" AND jsonPayload.state:"STATE"'
    assert {e["insertId"] for e in all_entries(server, filter=either)} == {
        e["insertId"] for e in first + second if "jsonPayload" in e
    }
    assert all_entries(server, filter=f'{job_filter(ids[0])} NOT textPayload:""') == [
        e for e in first if "textPayload" not in e
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
