"""Long-running operations: list (``GET .../operations``) and ``:wait``, through the official ``JobServiceClient``
operations mixin over REST and through raw REST."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2

from tests.helpers import wait_for
from vertex_emulator import EmulatorServer

from .conftest import PARENT, job_body

pytestmark = pytest.mark.timeout(60)
SUCCEEDED = v1.JobState.JOB_STATE_SUCCEEDED


def client(server: EmulatorServer) -> v1.JobServiceClient:
    return v1.JobServiceClient(
        transport="rest", client_options={"api_endpoint": server.url}, credentials=AnonymousCredentials()
    )


def deleted_job_operations(server: EmulatorServer, count: int) -> list[str]:
    jobs = client(server)
    names = []
    for i in range(count):
        body = job_body(f"to-delete-{i}", scenario="SUCCEEDED")
        job = jobs.create_custom_job(parent=PARENT, custom_job=v1.CustomJob.from_json(json.dumps(body)))
        wait_for(lambda name=job.name: jobs.get_custom_job(name=name).state == SUCCEEDED, what="end")
        names.append(jobs.delete_custom_job(name=job.name).operation.name)
    return names


def test_list_operations_pages_through_every_operation(server: EmulatorServer, admin: Any) -> None:
    names = deleted_job_operations(server, 3)
    jobs = client(server)
    listed = jobs.list_operations(operations_pb2.ListOperationsRequest(name=PARENT))
    assert [op.name for op in listed.operations] == names and all(op.done for op in listed.operations)

    pages: list[list[str]] = []
    token = ""
    while True:
        response = requests.get(
            f"{server.url}/v1/{PARENT}/operations", params={"pageSize": 2, "pageToken": token}, timeout=10
        )
        assert response.status_code == 200, response.text
        data = response.json()
        pages.append([op["name"] for op in data.get("operations", [])])
        token = data.get("nextPageToken", "")
        if not token:
            break
    assert pages == [names[:2], names[2:]]
    pending = requests.get(f"{server.url}/v1/{PARENT}/operations", params={"filter": "done=false"}, timeout=10)
    assert pending.status_code == 200 and pending.json() == {}
    other = requests.get(f"{server.url}/v1/projects/other/locations/us-central1/operations", timeout=10)
    assert other.status_code == 200 and other.json() == {}
    bad = requests.get(f"{server.url}/v1/{PARENT}/operations", params={"pageToken": "x"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert admin.calls()["ListOperations"] == 6  # client, 2 pages, done=false, other parent, bad token


def test_wait_returns_the_done_operation(server: EmulatorServer, admin: Any) -> None:
    (name,) = deleted_job_operations(server, 1)
    jobs = client(server)
    waited = jobs.wait_operation(
        operations_pb2.WaitOperationRequest(name=name, timeout=duration_pb2.Duration(seconds=5))
    )
    assert waited.name == name and waited.done
    raw = requests.post(f"{server.url}/v1/{name}:wait", json={"timeout": "1.5s"}, timeout=10)
    assert raw.status_code == 200 and raw.json()["name"] == name and raw.json()["done"] is True
    assert admin.calls()["WaitOperation"] == 2

    missing = name.rsplit("/", 1)[0] + "/1"
    with pytest.raises(gexc.NotFound):
        jobs.wait_operation(operations_pb2.WaitOperationRequest(name=missing))
    bad = requests.post(f"{server.url}/v1/{name}:wait", json={"timeout": "soon"}, timeout=10)
    assert bad.status_code == 400 and "timeout" in bad.json()["error"]["message"]
    unknown = requests.post(f"{server.url}/v1/{name}:wait", json={"deadline": "1s"}, timeout=10)
    assert unknown.status_code == 400 and 'Unknown name "deadline"' in unknown.json()["error"]["message"]
