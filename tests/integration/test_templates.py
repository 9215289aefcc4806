"""templates through the real handler, against our Vertex AI emulator driven by the real aiplatform_v1 client."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import pytest

from polysync_vertex.core.auth import signature_header
from tests.helpers import PARENT, create_template, job_client, job_dict

SECRET = "test-webhook-secret"
EU_PARENT = "projects/local-project/locations/europe-west4"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def qs(**params: str) -> str:
    return urllib.parse.urlencode(params)


def simple_job(display_name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "displayName": display_name,
        "labels": labels or {},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "containerSpec": {"imageUri": "us-docker.pkg.dev/local-project/t/job:1"},
                }
            ]
        },
    }


def container_template() -> dict[str, Any]:
    return {
        "displayName": "train-container",
        "labels": {"team": "ml"},
        "encryptionSpec": {"kmsKeyName": "projects/local-project/locations/us-central1/keyRings/r/cryptoKeys/k"},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {
                        "machineType": "n1-standard-8",
                        "acceleratorType": "NVIDIA_TESLA_T4",
                        "acceleratorCount": 2,
                    },
                    "replicaCount": "1",
                    "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 200},
                    "containerSpec": {
                        "imageUri": f"us-central1-docker.pkg.dev/local-project/train/trainer@{DIGEST}",
                        "command": ["python", "-m", "trainer", "--data=gs://train-data/images/*"],
                        "args": ["--ckpt", "/gcs/ckpt-bucket/run", "--vocab=gs://shared.vocab.example.com/v1.txt"],
                        "env": [
                            {"name": "EXTRA", "value": "gs://extra-bucket/x,gs://train-data/other"},
                            {"name": "PLAIN", "value": "1"},
                        ],
                    },
                }
            ],
            "scheduling": {"timeout": "7200s", "restartJobOnWorkerRestart": True},
            "serviceAccount": "trainer@local-project.iam.gserviceaccount.com",
            "network": "projects/123456789012/global/networks/training-vpc",
            "baseOutputDirectory": {"outputUriPrefix": "gs://model-output/runs/"},
            "persistentResourceId": "train-pool",
            "tensorboard": "projects/local-project/locations/us-central1/tensorboards/77",
            "experiment": "projects/local-project/locations/us-central1/metadataStores/default/contexts/exp-1",
            "models": ["projects/local-project/locations/us-central1/models/456"],
        },
    }


CONTAINER_ATTRIBUTES = {
    "machineType": "n1-standard-8",
    "containerImageUri": f"us-central1-docker.pkg.dev/local-project/train/trainer@{DIGEST}",
    "replicaCount": 1,
    "acceleratorType": "NVIDIA_TESLA_T4",
    "acceleratorCount": 2,
    "poolType": "container",
    "timeout": "7200s",
    "serviceAccount": "trainer@local-project.iam.gserviceaccount.com",
    "network": "projects/123456789012/global/networks/training-vpc",
    "workerPoolCount": 1,
}

CONTAINER_LINKS = [
    {
        "type": "gcp-ai-platform-experiment",
        "name": "projects/local-project/locations/us-central1/metadataStores/default/contexts/exp-1",
    },
    {"type": "gcp-ai-platform-model", "name": "projects/local-project/locations/us-central1/models/456"},
    {
        "type": "gcp-ai-platform-persistent-resource",
        "name": "projects/local-project/locations/us-central1/persistentResources/train-pool",
    },
    {"type": "gcp-ai-platform-tensorboard", "name": "projects/local-project/locations/us-central1/tensorboards/77"},
    {
        "type": "gcp-artifact-registry-docker-image",
        "name": f"us-central1-docker.pkg.dev/local-project/train/trainer@{DIGEST}",
    },
    {
        "type": "gcp-cloud-kms-crypto-key",
        "name": "projects/local-project/locations/us-central1/keyRings/r/cryptoKeys/k",
    },
    {"type": "gcp-compute-network", "name": "projects/123456789012/global/networks/training-vpc"},
    {"type": "gcp-iam-service-account", "name": "trainer@local-project.iam.gserviceaccount.com"},
    {"type": "gcp-storage-bucket", "name": "ckpt-bucket"},
    {"type": "gcp-storage-bucket", "name": "extra-bucket"},
    {"type": "gcp-storage-bucket", "name": "model-output"},
    {"type": "gcp-storage-bucket", "name": "shared.vocab.example.com"},
    {"type": "gcp-storage-bucket", "name": "train-data"},
]


def python_template() -> dict[str, Any]:
    worker = {
        "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-1.py310:latest",
        "packageUris": ["gs://pkg-bucket/trainer-0.3.tar.gz", "gs://pkg-bucket/deps/utils-1.0.tar.gz"],
        "pythonModule": "trainer.task",
        "args": ["--epochs=10", "--data", "gs://train-data/tfrecords"],
        "env": [{"name": "OUT", "value": "gs://model-output/dist"}],
    }
    gpu = {"machineType": "n1-highmem-16", "acceleratorType": "NVIDIA_TESLA_V100", "acceleratorCount": 4}
    return {
        "displayName": "dist-train",
        "jobSpec": {
            "workerPoolSpecs": [
                {"machineSpec": gpu, "replicaCount": "1", "pythonPackageSpec": worker},
                {"machineSpec": gpu, "replicaCount": "3", "pythonPackageSpec": worker},
                {},
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "containerSpec": {
                        "imageUri": "gcr.io/local-project/evaluator:2",
                        "args": ["--model=/gcs/model-output/dist/model"],
                    },
                },
            ],
            "baseOutputDirectory": {"outputUriPrefix": "gs://model-output/dist-base"},
        },
    }


PYTHON_ATTRIBUTES = {
    "machineType": "n1-highmem-16",
    "containerImageUri": "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-1.py310:latest",
    "replicaCount": 1,
    "acceleratorType": "NVIDIA_TESLA_V100",
    "acceleratorCount": 4,
    "poolType": "pythonPackage",
    "workerPoolCount": 4,
}

PYTHON_LINKS = [
    {"type": "gcp-artifact-registry-docker-image", "name": "gcr.io/local-project/evaluator:2"},
    {
        "type": "gcp-artifact-registry-docker-image",
        "name": "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-1.py310:latest",
    },
    {"type": "gcp-storage-bucket", "name": "model-output"},
    {"type": "gcp-storage-bucket", "name": "pkg-bucket"},
    {"type": "gcp-storage-bucket", "name": "train-data"},
]


def ok(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def error(resp: Any, http: int, status: str, field: str | None) -> str:
    assert resp.status_code == http, resp.get_json()
    err = resp.get_json()["error"]
    assert err["status"] == status
    assert err.get("field") == field
    return err["message"]


def create_many(client: Any, count: int, parent: str = PARENT) -> list[str]:
    return [create_template(client, simple_job(f"bulk-{i:03d}"), parent)["name"] for i in range(count)]


# -- templates: attributes and links -----------------------------------------------------------------------
def test_container_template_with_every_linkable_field(call: Any, vertex: Any, vertex_server: Any) -> None:
    created = create_template(job_client(vertex_server.url), container_template())
    body = ok(call("templates", query=qs(project="local-project", location="us-central1")))
    assert body == {"templates": [body["templates"][0]], "nextPageToken": ""}
    template = body["templates"][0]
    assert template == {
        "externalId": created["name"],
        "displayName": "train-container",
        "jobType": "Vertex AI Custom Job",
        "attributes": CONTAINER_ATTRIBUTES,
        "workerPools": 1,
        "links": CONTAINER_LINKS,
        "labels": {"team": "ml"},
        "state": template["state"],
        "createTime": created["createTime"],
        # Pool 0's container env as the parameter schema Polysync pre-fills (String, Input, value as default).
        "parameters": [
            {"name": e["name"], "type": "String", "direction": "Input", "default": e["value"]}
            for e in created["jobSpec"]["workerPoolSpecs"][0]["containerSpec"].get("env", [])
        ],
    }
    assert template["parameters"]
    assert template["state"].startswith("JOB_STATE_")
    one = ok(call("templates", query=qs(externalId=created["name"])))
    assert {k: v for k, v in one.items() if k != "state"} == {k: v for k, v in template.items() if k != "state"}


def test_distributed_python_package_template(call: Any, vertex: Any, vertex_server: Any) -> None:
    created = create_template(job_client(vertex_server.url), python_template())
    template = ok(call("templates", query=qs(externalId=created["name"])))
    assert template["externalId"] == created["name"]
    assert template["displayName"] == "dist-train"
    assert template["attributes"] == PYTHON_ATTRIBUTES
    assert template["workerPools"] == 4
    assert template["links"] == PYTHON_LINKS


def test_template_in_europe_west4(call: Any, vertex: Any, vertex_server: Any) -> None:
    client = job_client(vertex_server.url)
    create_template(client, simple_job("us-only"))
    job = simple_job("eu-train", {"region": "eu"})
    job["jobSpec"]["persistentResourceId"] = "eu-pool"
    job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"] = (
        "europe-west4-docker.pkg.dev/local-project/r/i:2"
    )
    created = create_template(client, job, EU_PARENT)
    assert created["name"].startswith(f"{EU_PARENT}/customJobs/")

    body = ok(call("templates", query=qs(project="local-project", location="europe-west4")))
    assert [t["externalId"] for t in body["templates"]] == [created["name"]]
    template = body["templates"][0]
    assert template["links"] == [
        {
            "type": "gcp-ai-platform-persistent-resource",
            "name": "projects/local-project/locations/europe-west4/persistentResources/eu-pool",
        },
        {"type": "gcp-artifact-registry-docker-image", "name": "europe-west4-docker.pkg.dev/local-project/r/i:2"},
    ]
    assert ok(call("templates", query=qs(externalId=created["name"])))["displayName"] == "eu-train"


# -- listing -----------------------------------------------------------------------------------------------
def test_pagination_over_260_jobs_without_duplicates_or_gaps(call: Any, vertex: Any, vertex_server: Any) -> None:
    names = create_many(job_client(vertex_server.url), 260)
    vertex.reset_calls()
    seen: list[str] = []
    sizes: list[int] = []
    token = ""
    while True:
        params = {"project": "local-project", "location": "us-central1"}
        if token:
            params["pageToken"] = token
        body = ok(call("templates", query=qs(**params)))
        assert set(body) == {"templates", "nextPageToken"}
        sizes.append(len(body["templates"]))
        seen.extend(t["externalId"] for t in body["templates"])
        token = body["nextPageToken"]
        if not token:
            break
    assert sizes == [100, 100, 60]
    assert len(seen) == len(set(seen)) == 260
    assert set(seen) == set(names)
    assert vertex.calls()["ListCustomJobs"] == 3

    small = ok(call("templates", query=qs(project="local-project", location="us-central1", pageSize="7")))
    assert len(small["templates"]) == 7 and small["nextPageToken"]
    capped = ok(call("templates", query=qs(project="local-project", location="us-central1", pageSize="500")))
    assert len(capped["templates"]) == 100


def test_all_walks_every_page_within_a_budget(call: Any, vertex: Any, vertex_server: Any) -> None:
    names = create_many(job_client(vertex_server.url), 250)
    base = {"project": "local-project", "location": "us-central1"}

    everything = ok(call("templates", query=qs(**base, all="true")))
    assert everything["truncated"] is False and everything["nextPageToken"] == ""
    assert [t["externalId"] for t in everything["templates"]] == names

    vertex.reset_calls()
    first = ok(call("templates", query=qs(**base, all="true", pageSize="10")))
    assert first["truncated"] is True and first["nextPageToken"]
    assert len(first["templates"]) == 200  # 20 pages of 10: the page budget
    assert vertex.calls()["ListCustomJobs"] == 20
    rest = ok(call("templates", query=qs(**base, all="true", pageSize="10", pageToken=first["nextPageToken"])))
    assert rest["truncated"] is False and rest["nextPageToken"] == ""
    assert [t["externalId"] for t in first["templates"] + rest["templates"]] == names


def test_filter_is_passed_through(call: Any, vertex: Any, vertex_server: Any) -> None:
    client = job_client(vertex_server.url)
    a1 = create_template(client, simple_job("nightly-a1", {"team": "a"}))["name"]
    create_template(client, simple_job("weekly-b1", {"team": "b"}))
    b2 = create_template(client, simple_job("nightly-b2", {"team": "b"}))["name"]
    create_template(client, simple_job("nightly-c", {"team": "c"}))
    # a run the connector made from a team-a template: never offered unless includeRuns=true
    create_template(client, simple_job("nightly-a1_20261122T000000Z", {"team": "a", "managed-by": "polysync-vertex"}))
    base = {"project": "local-project", "location": "us-central1"}

    def names(**extra: str) -> list[str]:
        return [t["externalId"] for t in ok(call("templates", query=qs(**base, **extra)))["templates"]]

    assert names(filter='labels.team="a"') == [a1]
    assert names(filter='display_name:"nightly-*" AND labels.team="b"') == [b2]
    # OR in the caller's filter stays inside its parentheses: the run (team a) is still excluded
    assert names(filter='labels.team="a" OR labels.team="b" AND display_name:"nightly-*"') == [a1, b2]


def test_bad_filter_and_page_token_are_400(call: Any, vertex: Any, vertex_server: Any) -> None:
    create_template(job_client(vertex_server.url), simple_job("x"))
    base = {"project": "local-project", "location": "us-central1"}
    message = error(call("templates", query=qs(**base, filter='colour="blue"')), 400, "INVALID_ARGUMENT", "filter")
    assert "Vertex AI rejected the filter" in message and "colour" in message
    error(call("templates", query=qs(**base, filter='state="NOT_A_STATE"')), 400, "INVALID_ARGUMENT", "filter")
    vertex.reset_calls()
    for unbalanced in ('labels.a="1") OR (labels.b="2"', '(labels.a="1"', 'labels.a="1'):
        error(call("templates", query=qs(**base, filter=unbalanced)), 400, "INVALID_ARGUMENT", "filter")
    assert vertex.calls()["ListCustomJobs"] == 0
    # parentheses inside quoted values are fine
    ok(call("templates", query=qs(**base, filter='display_name="a (b"')))
    message = error(call("templates", query=qs(**base, pageToken="not-a-token")), 400, "INVALID_ARGUMENT", "pageToken")
    assert "pageToken" in message


def test_runs_are_excluded_unless_include_runs(call: Any, vertex: Any, vertex_server: Any) -> None:
    client = job_client(vertex_server.url)
    template = create_template(client, simple_job("template"))["name"]
    other_tool = create_template(client, simple_job("other", {"managed-by": "terraform"}))["name"]
    resp = call(
        "submit",
        {"requestId": "run-1", "jobName": "from-template", "externalId": template, "attributes": {}},
    )
    assert resp.status_code == 201, resp.get_json()
    run = resp.get_json()["runId"]
    base = {"project": "local-project", "location": "us-central1"}

    listed = ok(call("templates", query=qs(**base)))["templates"]
    assert [t["externalId"] for t in listed] == [template, other_tool]
    with_runs = ok(call("templates", query=qs(**base, includeRuns="true")))["templates"]
    assert [t["externalId"] for t in with_runs] == [template, other_tool, run]
    assert with_runs[2]["labels"]["managed-by"] == "polysync-vertex"
    assert [t["externalId"] for t in ok(call("templates", query=qs(**base, includeRuns="false")))["templates"]] == [
        template,
        other_tool,
    ]


# -- import, then submit -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [container_template, python_template], ids=["container", "pythonPackage"])
def test_import_then_submit_reproduces_the_job_spec(call: Any, vertex: Any, vertex_server: Any, make: Any) -> None:
    client = job_client(vertex_server.url)
    created = create_template(client, make())
    template = ok(call("templates", query=qs(project="local-project", location="us-central1")))["templates"][0]
    assert template["externalId"] == created["name"]

    resp = call(
        "submit",
        {
            "requestId": f"import-{created['name'].rsplit('/', 1)[1]}",
            "jobName": "imported",
            "externalId": template["externalId"],
            "attributes": template["attributes"],
        },
    )
    assert resp.status_code == 201, resp.get_json()
    run = job_dict(client, resp.get_json()["runId"])
    original = job_dict(client, created["name"])
    assert run["jobSpec"] == original["jobSpec"]
    assert run.get("encryptionSpec") == original.get("encryptionSpec")
    assert {k: v for k, v in run["labels"].items() if k in original.get("labels", {})} == original.get("labels", {})


# -- get ---------------------------------------------------------------------------------------------------
def test_get_unknown_malformed_and_not_allowed(call: Any, vertex: Any, vertex_server: Any) -> None:
    error(call("templates", query=qs(externalId=f"{PARENT}/customJobs/999")), 404, "NOT_FOUND", "externalId")
    for bad in (
        "projects/local-project/customJobs/1",
        f"{PARENT}/customJobs/abc",
        f"{PARENT}/customJobs/1/extra",
        "projects/UPPER/locations/us-central1/customJobs/1",
    ):
        error(call("templates", query=qs(externalId=bad)), 400, "INVALID_ARGUMENT", "externalId")
    vertex.reset_calls()
    message = error(
        call("templates", query=qs(externalId="projects/forbidden-proj/locations/us-central1/customJobs/1")),
        403,
        "PERMISSION_DENIED",
        "externalId",
    )
    assert "PSV_ALLOWED_PROJECTS" in message
    message = error(
        call("templates", query=qs(externalId="projects/local-project/locations/asia-east1/customJobs/1")),
        403,
        "PERMISSION_DENIED",
        "externalId",
    )
    assert "PSV_ALLOWED_LOCATIONS" in message
    assert vertex.calls()["GetCustomJob"] == 0


def test_list_arguments_are_checked(call: Any, vertex: Any) -> None:
    base = {"project": "local-project", "location": "us-central1"}
    message = error(call("templates", query=""), 400, "INVALID_ARGUMENT", "project")
    assert "externalId" in message and "project" in message and "location" in message
    error(call("templates", query=qs(project="local-project")), 400, "INVALID_ARGUMENT", "location")
    error(
        call("templates", query=qs(**base, externalId=f"{PARENT}/customJobs/1")), 400, "INVALID_ARGUMENT", "externalId"
    )
    for size in ("0", "-1", "ten", "1.5"):
        error(call("templates", query=qs(**base, pageSize=size)), 400, "INVALID_ARGUMENT", "pageSize")
    error(call("templates", query=qs(**base, all="yes")), 400, "INVALID_ARGUMENT", "all")
    error(call("templates", query=qs(**base, includeRuns="1")), 400, "INVALID_ARGUMENT", "includeRuns")
    error(
        call("templates", query="project=local-project&project=x&location=us-central1"),
        400,
        "INVALID_ARGUMENT",
        "project",
    )
    error(
        call("templates", query=qs(project="Bad_Project", location="us-central1")), 400, "INVALID_ARGUMENT", "project"
    )
    vertex.reset_calls()
    message = error(
        call("templates", query=qs(project="forbidden-proj", location="us-central1")),
        403,
        "PERMISSION_DENIED",
        "project",
    )
    assert "PSV_ALLOWED_PROJECTS" in message
    message = error(
        call("templates", query=qs(project="local-project", location="asia-east1")),
        403,
        "PERMISSION_DENIED",
        "location",
    )
    assert "PSV_ALLOWED_LOCATIONS" in message
    assert vertex.calls()["ListCustomJobs"] == 0
    assert ok(call("templates", query=qs(**base, unknownParam="ignored"))) == {"templates": [], "nextPageToken": ""}


# -- Vertex AI errors --------------------------------------------------------------------------------------
def test_vertex_permission_denied_names_the_role(call: Any, vertex: Any) -> None:
    vertex.add_fault(method="ListCustomJobs", http_status=403, status="PERMISSION_DENIED", message="denied")
    message = error(
        call("templates", query=qs(project="local-project", location="us-central1")), 403, "PERMISSION_DENIED", None
    )
    assert "roles/aiplatform.user" in message and "local-project" in message


def test_transient_errors_are_retried(call: Any, vertex: Any, vertex_server: Any) -> None:
    created = create_template(job_client(vertex_server.url), simple_job("x"))
    vertex.add_fault(method="GetCustomJob", http_status=503, count=2)
    assert ok(call("templates", query=qs(externalId=created["name"])))["externalId"] == created["name"]
    assert vertex.calls()["GetCustomJob"] == 3


def test_lasting_quota_errors_are_429_with_retry_after(call: Any, vertex: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from polysync_vertex import bootstrap

    monkeypatch.setenv("PSV_REQUEST_BUDGET_SECONDS", "1")
    bootstrap.app.cache_clear()
    vertex.add_fault(method="ListCustomJobs", http_status=429, status="RESOURCE_EXHAUSTED")
    resp = call("templates", query=qs(project="local-project", location="us-central1"))
    error(resp, 429, "RESOURCE_EXHAUSTED", None)
    assert int(resp.headers["Retry-After"]) > 0
    assert vertex.calls()["ListCustomJobs"] >= 2  # retried before giving up


# -- authentication ----------------------------------------------------------------------------------------
def test_signature_covers_the_query_string(call: Any, vertex: Any) -> None:
    query = qs(project="local-project", location="us-central1")
    now = int(time.time())
    vertex.reset_calls()
    error(call("templates", query=query, secret=None), 401, "UNAUTHENTICATED", None)
    error(call("templates", query=query, secret="not-the-secret"), 401, "UNAUTHENTICATED", None)
    error(call("templates", query=query, timestamp=now - 600), 401, "UNAUTHENTICATED", None)
    signed_other = signature_header(SECRET, now, qs(project="local-project", location="europe-west4").encode())
    error(
        call("templates", query=query, secret=None, headers={"X-Polysync-Signature": signed_other}),
        401,
        "UNAUTHENTICATED",
        None,
    )
    assert vertex.calls()["ListCustomJobs"] == 0
    assert ok(call("templates", query=query)) == {"templates": [], "nextPageToken": ""}
    assert vertex.calls()["ListCustomJobs"] == 1
