"""Small helpers shared by integration and e2e tests (real clients only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

PROJECT = "local-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"


def job_client(url: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import JobServiceClient

    return JobServiceClient(transport="rest", client_options={"api_endpoint": url}, credentials=AnonymousCredentials())


def job_dict(client: Any, name: str) -> dict[str, Any]:
    from google.protobuf import json_format

    job = client.get_custom_job(name=name)
    return json_format.MessageToDict(type(job).pb(job))


def list_jobs(client: Any, parent: str = PARENT, filter: str = "") -> list[dict[str, Any]]:
    from google.protobuf import json_format

    pager = client.list_custom_jobs(request={"parent": parent, "filter": filter})
    return [json_format.MessageToDict(type(j).pb(j)) for j in pager]


def create_template(client: Any, job: dict[str, Any], parent: str = PARENT) -> dict[str, Any]:
    import json

    from google.cloud.aiplatform_v1.types import CustomJob
    from google.protobuf import json_format

    created = client.create_custom_job(parent=parent, custom_job=CustomJob.from_json(json.dumps(job)))
    return json_format.MessageToDict(type(created).pb(created))


def stored_docs(app: Any) -> dict[str, int]:
    """How many documents the connector's collections hold (for 'nothing was written')."""
    return {
        "requests": sum(1 for _ in app.store.requests.stream()),
        "runs": sum(1 for _ in app.store.runs.stream()),
    }


def wait_for(fn: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Poll `fn` until it returns something truthy (eventual consistency), else fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or fn}")
        time.sleep(interval)


def example_body(request_id: str = "run-2026-11-22-0001", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requestId": request_id,
        "jobName": "nightly-train",
        "attributes": {
            "machineType": "n1-standard-4",
            "containerImageUri": "us-docker.pkg.dev/my-proj/train/trainer:1.4",
            "replicaCount": 1,
            "acceleratorType": "NVIDIA_TESLA_T4",
            "acceleratorCount": 1,
        },
        "parameters": [
            {"name": "EPOCHS", "direction": "Input", "type": "Number", "value": 10},
            {"name": "MODE", "direction": "InputOutput", "type": "String", "value": "fast"},
            {"name": "SCORE", "direction": "Output", "type": "Number"},
        ],
    }
    body.update(overrides)
    return body
