"""submit and status through the real handlers, against the real Firestore emulator and our Vertex AI emulator."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import pytest

from tests.helpers import PARENT, create_template, example_body, job_client, job_dict, list_jobs, stored_docs

SECRET = "test-webhook-secret"


def env_of(pool: dict[str, Any]) -> dict[str, str]:
    spec = pool.get("containerSpec") or pool.get("pythonPackageSpec") or {}
    return {e["name"]: e["value"] for e in spec.get("env", [])}


def test_contract_example_end_to_end(call: Any, vertex: Any, vertex_server: Any) -> None:
    resp = call("submit", example_body())
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert set(body) == {
        "runId",
        "requestId",
        "displayName",
        "status",
        "vertexState",
        "consoleUrl",
        "warnings",
        "jobType",
    }
    assert body["requestId"] == "run-2026-11-22-0001"
    assert body["runId"].startswith(f"{PARENT}/customJobs/")
    assert body["status"] == "Running" and body["vertexState"] == "JOB_STATE_PENDING"
    assert body["displayName"].startswith("nightly-train_") and body["displayName"].endswith("Z")
    job_id = body["runId"].rsplit("/", 1)[1]
    assert body["consoleUrl"] == (
        f"https://console.cloud.google.com/vertex-ai/locations/us-central1/training/{job_id}?project=local-project"
    )
    assert body["warnings"] == ["parameter SCORE (Output) is not supported and was ignored"]

    job = job_dict(job_client(vertex_server.url), body["runId"])
    assert job["displayName"] == body["displayName"]
    pools = job["jobSpec"]["workerPoolSpecs"]
    assert len(pools) == 1
    assert pools[0]["machineSpec"] == {
        "machineType": "n1-standard-4",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 1,
    }
    assert pools[0]["containerSpec"]["imageUri"] == "us-docker.pkg.dev/my-proj/train/trainer:1.4"
    assert env_of(pools[0]) == {"EPOCHS": "10", "MODE": "fast"}
    labels = job["labels"]
    assert labels["managed-by"] == "polysync-vertex"
    assert labels["polysync-job"] == "nightly-train"
    assert labels["polysync-request"].startswith("run-2026-11-22-0001-")

    status = call("status", query=f"runId={body['runId']}")
    assert status.status_code == 200
    record = status.get_json()
    for key in body:
        assert record[key] == body[key]
    assert record["jobName"] == "nightly-train" and record["sequence"] == 1
    assert record["error"] is None and record["createTime"]
    for key in ("startTime", "endTime", "updateTime", "lastPolled"):
        assert key in record


def test_template_is_cloned_whole_and_attributes_override_pool0(call: Any, vertex: Any, vertex_server: Any) -> None:
    client = job_client(vertex_server.url)
    template = create_template(
        client,
        {
            "displayName": "distributed-template",
            "labels": {"team": "vision"},
            "encryptionSpec": {"kmsKeyName": "projects/local-project/locations/us-central1/keyRings/r/cryptoKeys/k"},
            "jobSpec": {
                "workerPoolSpecs": [
                    {
                        "machineSpec": {"machineType": "n1-standard-8"},
                        "replicaCount": "1",
                        "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 200},
                        "pythonPackageSpec": {
                            "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/pytorch-cpu.2-1:latest",
                            "packageUris": ["gs://my-bucket/trainer-0.1.tar.gz"],
                            "pythonModule": "trainer.task",
                            "args": ["--data=gs://data-bucket/train"],
                            "env": [{"name": "EPOCHS", "value": "1"}, {"name": "KEEP", "value": "yes"}],
                        },
                    },
                    {},
                    {
                        "machineSpec": {"machineType": "n1-standard-4"},
                        "replicaCount": "2",
                        "containerSpec": {"imageUri": "us-docker.pkg.dev/p/r/worker:1"},
                    },
                ],
                "scheduling": {"timeout": "7200s", "restartJobOnWorkerRestart": True},
                "serviceAccount": "trainer@local-project.iam.gserviceaccount.com",
                "network": "projects/123/global/networks/vpc",
                "reservedIpRanges": ["range-a"],
                "baseOutputDirectory": {"outputUriPrefix": "gs://out-bucket/runs"},
            },
        },
    )
    resp = call(
        "submit",
        {
            "requestId": "tmpl-1",
            "jobName": "distributed",
            "externalId": template["name"],
            "attributes": {"machineType": "n1-highmem-16", "timeout": "600s"},
            "parameters": [{"name": "EPOCHS", "type": "Number", "value": 3.5}],
        },
    )
    assert resp.status_code == 201, resp.get_json()
    job = job_dict(client, resp.get_json()["runId"])
    spec, tspec = job["jobSpec"], template["jobSpec"]
    # Everything but pool 0's machine type, the env and the timeout is the template's.
    assert spec["workerPoolSpecs"][0]["machineSpec"] == {"machineType": "n1-highmem-16"}
    assert spec["scheduling"] == {"timeout": "600s", "restartJobOnWorkerRestart": True}
    for key in ("serviceAccount", "network", "reservedIpRanges", "baseOutputDirectory"):
        assert spec[key] == tspec[key]
    assert job["encryptionSpec"] == template["encryptionSpec"]
    pool0 = spec["workerPoolSpecs"][0]
    assert pool0["diskSpec"] == tspec["workerPoolSpecs"][0]["diskSpec"]
    assert pool0["pythonPackageSpec"]["packageUris"] == ["gs://my-bucket/trainer-0.1.tar.gz"]
    assert env_of(pool0) == {"KEEP": "yes", "EPOCHS": "3.5"}
    assert spec["workerPoolSpecs"][1] == {}
    assert env_of(spec["workerPoolSpecs"][2]) == {"EPOCHS": "3.5"}
    assert spec["workerPoolSpecs"][2]["replicaCount"] == "2"
    assert job["labels"]["team"] == "vision"
    assert job["name"].startswith(PARENT)


def test_replay_returns_same_run_and_other_body_conflicts(call: Any, vertex: Any, app: Any) -> None:
    first = call("submit", example_body("replay-1"))
    assert first.status_code == 201
    for _ in range(3):
        again = call("submit", example_body("replay-1"))
        assert again.status_code == 200
        assert again.get_json() == first.get_json()
    other = call("submit", example_body("replay-1", jobName="something-else"))
    assert other.status_code == 409
    assert other.get_json()["error"]["status"] == "ALREADY_EXISTS"
    assert other.get_json()["error"]["field"] == "requestId"
    assert vertex.calls().get("CreateCustomJob") == 1
    assert stored_docs(app) == {"requests": 1, "runs": 1}


def test_fifty_concurrent_identical_submits_make_one_job(app: Any, vertex: Any, vertex_server: Any) -> None:
    body = example_body("concurrent-50")
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: app.submit.submit(dict(body)), range(50)))
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1 and codes.count(200) == 49
    assert len({r["runId"] for _, r in results}) == 1
    assert vertex.calls().get("CreateCustomJob") == 1
    assert len(list_jobs(job_client(vertex_server.url), filter='labels.managed-by="polysync-vertex"')) == 1
    assert stored_docs(app) == {"requests": 1, "runs": 1}


class Crash(BaseException):
    """Stands for the function instance dying (not an Exception: nothing may catch it)."""


def test_crash_between_create_and_record_is_completed_by_the_retry(
    settings: Any, vertex: Any, vertex_server: Any
) -> None:
    from polysync_vertex import bootstrap
    from polysync_vertex.adapters.vertex import VertexJobs

    class DyingVertex(VertexJobs):
        def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            super().create(*args, **kwargs)
            raise Crash()

    dying = bootstrap.build(settings, vertex=DyingVertex(settings.vertex_endpoint))
    dying.submit.lease_margin = -settings.request_budget_seconds  # the dead attempt's lease expires at once
    with pytest.raises(Crash):
        dying.submit.submit(example_body("crash-1"))
    assert vertex.calls().get("CreateCustomJob") == 1
    assert stored_docs(dying) == {"requests": 1, "runs": 0}  # claimed, job created, never recorded

    healthy = bootstrap.build(settings)
    code, body = healthy.submit.submit(example_body("crash-1"))
    assert code == 201
    assert vertex.calls().get("CreateCustomJob") == 1  # found by its label, not created again
    jobs = list_jobs(job_client(vertex_server.url), filter='labels.managed-by="polysync-vertex"')
    assert [j["name"] for j in jobs] == [body["runId"]]
    assert stored_docs(healthy) == {"requests": 1, "runs": 1}
    assert healthy.submit.submit(example_body("crash-1")) == (200, body)


def test_busy_retry_waits_for_the_live_attempt(settings: Any, vertex: Any) -> None:
    """A retry while the first attempt is still alive waits and answers the same run."""
    from polysync_vertex import bootstrap

    vertex.add_fault(method="CreateCustomJob", latency_ms=1500, count=1)
    first_app, second_app = bootstrap.build(settings), bootstrap.build(settings)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(first_app.submit.submit, example_body("slow-1"))
        time.sleep(0.5)
        second = pool.submit(second_app.submit.submit, example_body("slow-1"))
        results = sorted([first.result(), second.result()], key=lambda r: r[0])
    assert [code for code, _ in results] == [200, 201]
    assert results[0][1] == results[1][1]
    assert vertex.calls().get("CreateCustomJob") == 1


def test_transient_vertex_faults_are_retried(call: Any, vertex: Any, app: Any) -> None:
    vertex.add_fault(method="*", http_status=503, status="UNAVAILABLE", ratio=0.3, seed=7)
    vertex.add_fault(method="*", http_status=429, status="RESOURCE_EXHAUSTED", ratio=0.2, seed=8)
    run_ids = set()
    for i in range(10):
        resp = call("submit", example_body(f"flaky-{i}"))
        assert resp.status_code == 201, resp.get_json()
        run_ids.add(resp.get_json()["runId"])
    vertex.clear_faults()
    assert len(run_ids) == 10
    jobs = list_jobs(job_client(app.settings.vertex_endpoint), filter='labels.managed-by="polysync-vertex"')
    assert len(jobs) == 10  # no job was created twice by a retried create
    assert stored_docs(app) == {"requests": 10, "runs": 10}


@pytest.mark.parametrize(
    ("http_status", "status", "expected_http", "expected_status"),
    [(503, "UNAVAILABLE", 503, "UNAVAILABLE"), (429, "RESOURCE_EXHAUSTED", 429, "RESOURCE_EXHAUSTED")],
)
def test_persistent_outage_answers_retry_after_and_writes_nothing(
    call: Any,
    vertex: Any,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
    http_status: int,
    status: str,
    expected_http: int,
    expected_status: str,
) -> None:
    from polysync_vertex import bootstrap

    monkeypatch.setenv("PSV_REQUEST_BUDGET_SECONDS", "2")
    bootstrap.app.cache_clear()
    vertex.add_fault(method="*", http_status=http_status, status=status, ratio=1.0)
    resp = call("submit", example_body("outage-1"))
    vertex.clear_faults()
    assert resp.status_code == expected_http, resp.get_json()
    assert resp.get_json()["error"]["status"] == expected_status
    assert int(resp.headers["Retry-After"]) > 0
    assert vertex.calls().get("CreateCustomJob", 0) >= 1
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert list_jobs(job_client(app.settings.vertex_endpoint)) == []
    # The same request succeeds once Vertex AI is back.
    assert call("submit", example_body("outage-1")).status_code == 201


def test_permission_denied_names_the_roles(call: Any, vertex: Any, app: Any) -> None:
    vertex.add_fault(method="CreateCustomJob", http_status=403, status="PERMISSION_DENIED", ratio=1.0)
    resp = call("submit", example_body("denied-1"))
    vertex.clear_faults()
    assert resp.status_code == 403
    message = resp.get_json()["error"]["message"]
    assert "roles/aiplatform.user" in message and "pull" in message
    assert stored_docs(app) == {"requests": 0, "runs": 0}


def test_allow_list_and_unknown_template(call: Any, vertex: Any, app: Any) -> None:
    resp = call("submit", example_body("a-1", externalId="projects/forbidden-proj/locations/us-central1/customJobs/1"))
    assert resp.status_code == 403
    assert "PSV_ALLOWED_PROJECTS" in resp.get_json()["error"]["message"]
    resp = call("submit", example_body("a-2", externalId="projects/local-project/locations/asia-east1/customJobs/1"))
    assert resp.status_code == 403
    assert "PSV_ALLOWED_LOCATIONS" in resp.get_json()["error"]["message"]
    resp = call("submit", example_body("a-3", externalId="projects/local-project/locations/us-central1/customJobs/9"))
    assert resp.status_code == 404
    assert resp.get_json()["error"] == {
        "status": "NOT_FOUND",
        "message": resp.get_json()["error"]["message"],
        "field": "externalId",
    }
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls().get("CreateCustomJob", 0) == 0


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("requestId"), "requestId"),
        (lambda b: b.update(requestId="has space"), "requestId"),
        (lambda b: b.pop("jobName"), "jobName"),
        (lambda b: b.update(externalId="projects/../locations/x/customJobs/1"), "externalId"),
        (lambda b: b["attributes"].pop("machineType"), "attributes.machineType"),
        (lambda b: b["parameters"][0].update(name="1BAD"), "parameters[0].name"),
        (lambda b: b["parameters"][1].update(name="EPOCHS"), "parameters[1].name"),
        (lambda b: b["parameters"][0].update(value="ten"), "parameters[0].value"),
    ],
)
def test_bad_input_is_400_with_field_and_changes_nothing(
    call: Any, vertex: Any, app: Any, mutate: Any, field: str
) -> None:
    body = example_body("bad-1")
    mutate(body)
    resp = call("submit", body)
    assert resp.status_code == 400, resp.get_json()
    error = resp.get_json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["field"] == field and error["message"]
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls().get("CreateCustomJob", 0) == 0


def test_too_many_env_vars_names_the_parameter(call: Any, vertex: Any, app: Any) -> None:
    params = [{"name": f"P{i}", "type": "Number", "value": i} for i in range(101)]
    resp = call("submit", example_body("env-101", parameters=params))
    assert resp.status_code == 400
    assert resp.get_json()["error"]["field"] == "parameters[100]"
    assert stored_docs(app) == {"requests": 0, "runs": 0}


def test_transport_errors(call: Any, vertex: Any, app: Any) -> None:
    assert call("submit", raw=b"{not json").status_code == 400
    assert call("submit", raw=b"[1, 2]").status_code == 400
    assert call("submit", raw=b'{"a": NaN}').status_code == 400
    assert call("submit", raw=b"x" * (256 * 1024 + 1)).status_code == 413
    assert call("submit", example_body(), content_type="text/plain").status_code == 415
    deep = b"[" * 100 + b"]" * 100
    assert call("submit", raw=b'{"a": ' + deep + b"}").status_code == 400
    assert stored_docs(app) == {"requests": 0, "runs": 0}


def test_authentication(call: Any, vertex: Any, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from polysync_vertex import bootstrap
    from polysync_vertex.core.auth import signature_header

    body = example_body("auth-1")
    assert call("submit", body, secret=None).status_code == 401
    assert call("submit", body, secret="wrong").status_code == 401
    assert call("submit", body, timestamp=int(time.time()) - 301).status_code == 401
    assert call("submit", body, timestamp=int(time.time()) + 301).status_code == 401
    # A captured signature replayed with another body.
    import json

    ts = int(time.time())
    header = signature_header(SECRET, ts, json.dumps(example_body("other")).encode())
    assert call("submit", body, secret=None, headers={"X-Polysync-Signature": header}).status_code == 401
    resp = call("status", query="runId=projects/local-project/locations/us-central1/customJobs/1", secret="wrong")
    assert resp.status_code == 401 and resp.get_json()["error"]["status"] == "UNAUTHENTICATED"
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert vertex.calls() == {} or sum(vertex.calls().values()) == 0

    # Rotation: both the new and the old secret are accepted while both are configured.
    monkeypatch.setenv("PSV_WEBHOOK_SECRETS", f"new-secret,{SECRET}")
    bootstrap.app.cache_clear()
    assert call("submit", example_body("auth-2"), secret="new-secret").status_code == 201
    assert call("submit", example_body("auth-3"), secret=SECRET).status_code == 201
    two = f"t={ts},v1={'0' * 64},v1={signature_header('new-secret', ts, b'x').split('v1=')[1]}"
    assert call("submit", raw=b"x", secret=None, headers={"X-Polysync-Signature": two}).status_code == 400


def test_status_errors(call: Any, vertex: Any) -> None:
    resp = call("status", query="runId=projects/local-project/locations/us-central1/customJobs/42")
    assert resp.status_code == 404 and resp.get_json()["error"]["field"] == "runId"
    for bad in ("runId=projects/local-project/locations/us-central1/customJobs/..%2F42", "runId=x", ""):
        resp = call("status", query=bad)
        assert resp.status_code == 400, bad
        assert resp.get_json()["error"]["status"] == "INVALID_ARGUMENT"
    assert call("status", example_body()).status_code == 405  # POST to a GET endpoint


def test_create_that_times_out_is_found_not_repeated(settings: Any, vertex: Any, vertex_server: Any) -> None:
    """The client gives up on a create that Vertex AI still completes: the job is awaited by label, not re-created."""
    from polysync_vertex import bootstrap
    from polysync_vertex.adapters.vertex import VertexJobs

    app = bootstrap.build(settings, vertex=VertexJobs(settings.vertex_endpoint, call_timeout=0.5))
    vertex.add_fault(method="CreateCustomJob", latency_ms=1500, count=1)
    code, body = app.submit.submit(example_body("ambiguous-1"))
    assert code == 201
    assert vertex.calls().get("CreateCustomJob") == 1
    jobs = list_jobs(job_client(vertex_server.url), filter='labels.managed-by="polysync-vertex"')
    assert [j["name"] for j in jobs] == [body["runId"]]


def test_create_outcome_unknown_past_the_budget_keeps_the_claim(settings: Any, vertex: Any, vertex_server: Any) -> None:
    """When the job has not shown up by the deadline the claim stays; the next attempt finds the job."""
    import dataclasses

    from polysync_vertex import bootstrap
    from polysync_vertex.adapters.vertex import VertexJobs
    from polysync_vertex.core.errors import ApiError

    short = dataclasses.replace(settings, request_budget_seconds=1.5)
    app = bootstrap.build(short, vertex=VertexJobs(short.vertex_endpoint, call_timeout=0.5))
    app.submit.lease_margin = -short.request_budget_seconds  # let the lease expire when the attempt ends
    vertex.add_fault(method="CreateCustomJob", latency_ms=2500, count=1)
    with pytest.raises(ApiError) as err:
        app.submit.submit(example_body("ambiguous-2"))
    assert err.value.http == 503 and err.value.retry_after
    assert stored_docs(app) == {"requests": 1, "runs": 0}  # the claim is kept: the job may still land
    client = job_client(vertex_server.url)
    wait_jobs = lambda: list_jobs(client, filter='labels.managed-by="polysync-vertex"')  # noqa: E731
    from tests.helpers import wait_for

    landed = wait_for(wait_jobs, timeout=10, what="the slow create to land")
    code, body = bootstrap.build(settings).submit.submit(example_body("ambiguous-2"))
    assert code == 201 and body["runId"] == landed[0]["name"]
    assert vertex.calls().get("CreateCustomJob") == 1
    assert len(wait_jobs()) == 1
