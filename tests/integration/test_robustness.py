"""Issue 30 (submit, templates, health side): client mistakes are 4xx, a stalled store is 503 or a bounded health
report, a quota refusal is waited out briefly then answered 429. Against the real emulators; faults injected by the
Vertex AI emulator's admin API and by a TCP proxy in front of the Firestore emulator that can stall."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.faults import StallingProxy, stalling_emulator
from tests.helpers import example_body, stored_docs, wait_for


def _error(resp: Any, http: int, status: str, field: str | None = None) -> str:
    assert resp.status_code == http, resp.get_json()
    error = resp.get_json()["error"]
    assert error["status"] == status
    if field is not None:
        assert error.get("field") == field
    return str(error["message"])


# -- finding 6: 500s for client mistakes -------------------------------------------------------------------------
@pytest.mark.parametrize("size", ["²", "٣", "１", "0", "00"])
def test_templates_page_size_in_other_digits_is_400(call: Callable[..., Any], vertex: Any, size: str) -> None:
    query = urlencode({"project": "local-project", "location": "us-central1", "pageSize": size})
    _error(call("templates", query=query), 400, "INVALID_ARGUMENT", "pageSize")
    assert not any(k.startswith("List") for k, v in vertex.calls().items() if v)


def test_templates_page_size_of_thousands_of_digits_is_lowered(call: Callable[..., Any], vertex: Any) -> None:
    query = urlencode({"project": "local-project", "location": "us-central1", "pageSize": "9" * 5000})
    resp = call("templates", query=query)
    assert resp.status_code == 200, resp.get_json()
    assert vertex.calls().get("ListCustomJobs", 0) >= 1


@pytest.mark.parametrize("raw", [b"[" * 3000, b'{"s":' * 600, b"[" * 1500 + b"]" * 1500])
def test_templates_page_token_of_nested_brackets_is_400(call: Callable[..., Any], vertex: Any, raw: bytes) -> None:
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert len(token) <= 4096  # under the length limit: the decoder itself must refuse it
    query = urlencode({"project": "local-project", "location": "us-central1", "pageToken": token})
    _error(call("templates", query=query), 400, "INVALID_ARGUMENT", "pageToken")
    assert not any(k.startswith("List") for k, v in vertex.calls().items() if v)


@pytest.fixture
def proxy(cloud_emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[StallingProxy]:
    """The Firestore emulator behind a proxy that can stall; apps built after this fixture talk through it."""
    with stalling_emulator(cloud_emulators["firestore"], "FIRESTORE_EMULATOR_HOST", monkeypatch) as stalling:
        yield stalling


def test_release_under_a_stalled_store_answers_the_refusal(settings: Any, vertex: Any, proxy: StallingProxy) -> None:
    """Vertex AI refuses the job (400); Firestore stalls before the claim is released. The answer is the refusal
    (400), not a 500; the claim keeps its lease, and once it expired the same request is created exactly once."""
    from polysync_vertex import bootstrap
    from polysync_vertex.core.errors import ApiError
    from polysync_vertex.core.labels import request_key

    app = bootstrap.build(dataclasses.replace(settings, request_budget_seconds=6.0))
    vertex.add_fault(
        method="CreateCustomJob", http_status=400, status="INVALID_ARGUMENT", message="bad", latency_ms=800, count=1
    )
    created = threading.Event()

    def stall_once_the_create_is_sent() -> None:
        wait_for(lambda: vertex.calls().get("CreateCustomJob", 0) >= 1, timeout=20, what="the create")
        proxy.stall()
        created.set()

    watcher = threading.Thread(target=stall_once_the_create_is_sent)
    watcher.start()
    with pytest.raises(ApiError) as info:
        app.submit.submit(example_body("release-stall-1"))
    watcher.join()
    assert created.is_set()
    assert (info.value.http, info.value.status) == (400, "INVALID_ARGUMENT")
    assert "Vertex AI rejected the job" in info.value.message
    proxy.resume()
    # The held delete may still land (a slow write does); if not, the claim stays "creating" until its lease ends.
    claim = app.store.get_request(request_key("release-stall-1"))
    assert claim is None or claim["phase"] == "creating"
    app.submit.lease_margin = 0.0
    code, run = wait_for(lambda: _ok(app, example_body("release-stall-1")), timeout=30, what="the retry to succeed")
    assert code == 201 and vertex.calls().get("CreateCustomJob") == 2
    assert stored_docs(app) == {"requests": 1, "runs": 1}


def _ok(app: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    from polysync_vertex.core.errors import ApiError

    try:
        return app.submit.submit(body)
    except ApiError as err:
        assert err.http == 503, err.body()  # "in progress" while the lease lasts
        return None


def test_status_under_a_stalled_store_is_503(settings: Any, vertex: Any, proxy: StallingProxy) -> None:
    from polysync_vertex import bootstrap
    from polysync_vertex.core.errors import ApiError

    app = bootstrap.build(dataclasses.replace(settings, request_budget_seconds=6.0))
    proxy.stall()
    with pytest.raises(ApiError) as info:
        app.runs.status("projects/local-project/locations/us-central1/customJobs/1")
    assert (info.value.http, info.value.retry_after) == (503, 5)


# -- finding 8: a quota refusal on create is waited out, briefly -------------------------------------------------
def test_quota_refusal_on_create_is_tried_a_few_times_then_429(call: Callable[..., Any], vertex: Any, app: Any) -> None:
    from polysync_vertex.services.submit import QUOTA_ATTEMPTS

    vertex.add_fault(method="CreateCustomJob", http_status=429, status="RESOURCE_EXHAUSTED", message="quota", ratio=1)
    resp = call("submit", example_body("quota-1"))
    message = _error(resp, 429, "RESOURCE_EXHAUSTED")
    assert int(resp.headers["Retry-After"]) >= 10
    assert "quota" in message and "nothing was created" in message
    # A few creates, not one per backoff step of the whole request budget (was 29 in 44 s).
    assert vertex.calls().get("CreateCustomJob") == QUOTA_ATTEMPTS == 3
    assert stored_docs(app) == {"requests": 0, "runs": 0}  # the claim was released: a retry starts afresh
    vertex.clear_faults()
    assert call("submit", example_body("quota-1")).status_code == 201


def test_quota_refusal_that_clears_within_the_attempts_creates_one_job(
    call: Callable[..., Any], vertex: Any, app: Any
) -> None:
    vertex.add_fault(method="CreateCustomJob", http_status=429, status="RESOURCE_EXHAUSTED", count=2)
    resp = call("submit", example_body("quota-2"))
    assert resp.status_code == 201, resp.get_json()
    assert vertex.calls().get("CreateCustomJob") == 3
    assert stored_docs(app) == {"requests": 1, "runs": 1}


# -- finding 5: health under a stalled Firestore -----------------------------------------------------------------
def test_health_under_a_stalled_firestore_answers_within_its_budget(
    settings: Any, vertex: Any, proxy: StallingProxy
) -> None:
    """The probe's retry ends with the health budget (it was the client library's 300 s default), and the message
    says stall, not permission. Bound checked loosely (a hang was minutes): the budget plus a margin."""
    from polysync_vertex import bootstrap
    from polysync_vertex.services import health

    app = bootstrap.build(dataclasses.replace(settings, request_budget_seconds=4.0))
    proxy.stall()
    started = time.monotonic()
    code, report = app.health.check()
    elapsed = time.monotonic() - started
    assert elapsed < min(health.HEALTH_BUDGET_SECONDS, 4.0) + 3.0, elapsed
    assert code == 503 and report["ok"] is False
    (firestore,) = [c for c in report["checks"] if c["name"] == "firestore"]
    assert firestore["ok"] is False
    assert "stalled" in firestore["message"] and "not a missing permission" in firestore["message"]
    assert "roles/datastore.user" not in firestore["message"]
    others = [c for c in report["checks"] if c["name"] != "firestore"]
    assert others and all(c["ok"] or c.get("skipped") for c in others)  # the rest answered as usual


# -- findings 1 and 2, submit side: what can never be stored is refused before anything is written --------------
def _refused(app: Any, vertex: Any, body: dict[str, Any], field: str) -> str:
    from polysync_vertex.core.errors import ApiError

    with pytest.raises(ApiError) as info:
        app.submit.submit(body)
    assert (info.value.http, info.value.status, info.value.field) == (400, "INVALID_ARGUMENT", field)
    assert stored_docs(app) == {"requests": 0, "runs": 0}
    assert not any(k.startswith("Create") for k, v in vertex.calls().items() if v)
    return info.value.message


@pytest.mark.parametrize("direction", ["Output", "InputOutput"])
def test_an_output_named_like_a_reserved_field_is_400(app: Any, vertex: Any, direction: str) -> None:
    """`__a__` is a valid environment variable name, and Firestore reserves it as a field name (outputs are
    reported by name)."""
    body = example_body("reserved-1")
    body["parameters"].append({"name": "__a__", "direction": direction, "type": "String", "value": "x"})
    message = _refused(app, vertex, body, "parameters[3].name")
    assert "reserved" in message and "__x__" in message


def test_a_reserved_name_for_an_input_is_accepted(app: Any, vertex: Any) -> None:
    body = example_body("reserved-2")
    body["parameters"].append({"name": "__a__", "direction": "Input", "type": "String", "value": "x"})
    assert app.submit.submit(body)[0] == 201  # an environment variable only: never a field name


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def test_a_json_value_nested_deeper_than_a_run_can_record_is_400(app: Any, vertex: Any) -> None:
    from polysync_vertex.core.parameters import MAX_JSON_DEPTH
    from tests.integration.test_pipeline_jobs import create_pipeline, pipeline_client, template_job

    template = create_pipeline(pipeline_client(app.settings.vertex_endpoint), template_job())
    vertex.reset_calls()
    deep = {"name": "config", "direction": "InputOutput", "type": "JSON", "value": _nested(MAX_JSON_DEPTH + 1)}
    body = {"requestId": "deep-1", "jobName": "p", "externalId": template["name"], "parameters": [deep]}
    assert "deeper than 18 levels" in _refused(app, vertex, body, "parameters[0].value")
    body["parameters"][0]["value"] = _nested(MAX_JSON_DEPTH)
    code, run = app.submit.submit(body)
    assert code == 201, run


def test_a_request_over_the_run_record_budget_is_400(app: Any, vertex: Any) -> None:
    """An InputOutput array of 110,000 zeros (a 220 KB body) comes back as an output, in the record and again in
    its terminal event: over what a run may take at submit."""
    from tests.integration.test_pipeline_jobs import create_pipeline, pipeline_client, template_job

    template = create_pipeline(pipeline_client(app.settings.vertex_endpoint), template_job())
    vertex.reset_calls()
    zeros = {"name": "layers", "direction": "InputOutput", "type": "JSON", "value": [0] * 110_000}
    body = {"requestId": "budget-1", "jobName": "p", "externalId": template["name"], "parameters": [zeros]}
    message = _refused(app, vertex, body, "parameters")
    assert "KiB" in message and "InputOutput" in message


def test_thousands_of_ignored_outputs_make_a_bounded_record_and_bounded_events(
    app: Any, vertex: Any, status_subscription: str
) -> None:
    """7,000 Output names on a Custom Job (a 252 KB body): one warning each made a 413 KB record, and each event
    repeated them. Now ten are named and one line counts the rest; every event is small."""
    from polysync_vertex.core import kinds, storable
    from polysync_vertex.core.parameters import MAX_WARNED
    from tests.conftest import pull_events

    body = example_body("many-outputs-1")
    body["parameters"] += [{"name": f"OUT_{i:05d}", "direction": "Output"} for i in range(7000)]
    code, run = app.submit.submit(body)
    assert code == 201
    assert len(run["warnings"]) == MAX_WARNED + 1
    assert run["warnings"][-1].startswith(f"{7001 - MAX_WARNED} more Output parameters")
    _, name = kinds.parse_run_name(run["runId"], "runId")
    stored = app.store.get_run(kinds.run_doc_id(name))
    assert stored is not None and storable.document_bytes(stored) < 120_000
    vertex.set_state(run["runId"], "JOB_STATE_SUCCEEDED")
    wait_for(lambda: app.poll.poll(None) and app.runs.status(run["runId"])[1]["status"] == "Success", what="done")
    app.poll.poll(None)
    events = pull_events(status_subscription, expect=1)
    assert events and all(len(json.dumps(e["data"])) < 8_000 for e in events)


# -- finding 3: templates never hold a page of whole jobs --------------------------------------------------------
def test_pipeline_templates_are_listed_by_name_and_read_one_by_one(
    call: Callable[..., Any], app: Any, vertex: Any
) -> None:
    """45 pipeline templates with 2.2 MB specs listed whole took 593 MiB. Now the list reads names and labels
    (readMask), at most 20 per page, and each template is one GET; what the page says equals `get` of each."""
    from polysync_vertex.services.templates import GETS_PER_PAGE
    from tests.integration.test_pipeline_jobs import create_pipeline, pipeline_client, template_job

    pipelines = pipeline_client(app.settings.vertex_endpoint)
    for _ in range(GETS_PER_PAGE + 5):
        create_pipeline(pipelines, template_job())
    vertex.reset_calls()
    query = {"project": "local-project", "location": "us-central1", "jobType": "Vertex AI Pipeline Job"}
    first = call("templates", query=urlencode({**query, "pageSize": "10"})).get_json()
    assert len(first["templates"]) == 10 and first["nextPageToken"]
    assert {k: v for k, v in vertex.calls().items() if v} == {"ListPipelineJobs": 1, "GetPipelineJob": 10}
    vertex.reset_calls()
    rest = call("templates", query=urlencode({**query, "pageToken": first["nextPageToken"]})).get_json()
    assert len(rest["templates"]) == GETS_PER_PAGE + 5 - 10 and rest["nextPageToken"] == ""
    # pageSize 100: the kind's list asks for at most 20 names a call; one GET per template
    assert {k: v for k, v in vertex.calls().items() if v} == {"ListPipelineJobs": 1, "GetPipelineJob": 15}
    for template in first["templates"][:3] + rest["templates"]:
        one = call("templates", query=urlencode({"externalId": template["externalId"]})).get_json()
        assert one == template
        assert template["parameters"] and template["pipelineName"] == "train-pipeline"


def test_masked_custom_templates_equal_their_whole_jobs(call: Callable[..., Any], app: Any) -> None:
    from tests.helpers import create_template, job_client

    create_template(
        job_client(app.settings.vertex_endpoint),
        {
            "displayName": "masked",
            "labels": {"team": "ml"},
            "encryptionSpec": {"kmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
            "jobSpec": {
                "workerPoolSpecs": [
                    {
                        "machineSpec": {"machineType": "n1-standard-4"},
                        "replicaCount": "1",
                        "containerSpec": {
                            "imageUri": "us-docker.pkg.dev/p/r/i:1",
                            "env": [{"name": "A", "value": "gs://b/x"}],
                        },
                    }
                ],
                "baseOutputDirectory": {"outputUriPrefix": "gs://out-bucket/x"},
                "serviceAccount": "sa@p.iam.gserviceaccount.com",
            },
        },
    )
    listed = call("templates", query=urlencode({"project": "local-project", "location": "us-central1"})).get_json()
    assert listed["templates"]
    for template in listed["templates"]:
        one = call("templates", query=urlencode({"externalId": template["externalId"]})).get_json()
        assert {**one, "state": None} == {**template, "state": None}  # the job moves on between the two calls
