"""Custom Job Output parameters (issue 26) through the real handlers, against the Firestore, Pub/Sub and Cloud Storage
emulators and our Vertex AI emulator: where submit tells the job to write them, and what the run reports."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OUTPUTS_BUCKET
from tests.helpers import create_template, example_body, job_client, job_dict

PREFIX = "polysync-outputs"


def env_of(pool: dict[str, Any]) -> dict[str, str]:
    spec = pool.get("containerSpec") or pool.get("pythonPackageSpec") or {}
    return {e["name"]: e["value"] for e in spec.get("env", [])}


@pytest.fixture
def outputs_on(env: dict[str, str], storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An outputs bucket configured (the Cloud Storage emulator's)."""
    from polysync_vertex import bootstrap

    monkeypatch.setenv("PSV_OUTPUTS_BUCKET", OUTPUTS_BUCKET)
    monkeypatch.delenv("PSV_OUTPUTS_PREFIX", raising=False)
    bootstrap.app.cache_clear()
    return OUTPUTS_BUCKET


def expected_uri(request_id: str) -> str:
    from polysync_vertex.core.labels import request_key

    return f"gs://{OUTPUTS_BUCKET}/{PREFIX}/{request_key(request_id)}/outputs.json"


def test_with_a_bucket_pool_0_is_told_where_to_write_and_nothing_is_ignored(
    call: Any, vertex: Any, vertex_server: Any, outputs_on: str
) -> None:
    resp = call("submit", example_body("outputs-env-1"))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["warnings"] == []
    uri = expected_uri("outputs-env-1")
    job = job_dict(job_client(vertex_server.url), body["runId"])
    assert env_of(job["jobSpec"]["workerPoolSpecs"][0]) == {
        "EPOCHS": "10",
        "MODE": "fast",
        "POLYSYNC_OUTPUTS_PATH": "/gcs/" + uri.removeprefix("gs://"),
        "POLYSYNC_OUTPUTS_URI": uri,
    }
    status = call("status", query=f"runId={body['runId']}").get_json()
    assert status["outputs"] is None  # until the run ends

    # A replay of the request answers the same run; its job writes to the same object.
    again = call("submit", example_body("outputs-env-1"))
    assert again.status_code == 200 and again.get_json()["runId"] == body["runId"]


def test_only_the_chief_pool_gets_the_location(call: Any, vertex: Any, vertex_server: Any, outputs_on: str) -> None:
    client = job_client(vertex_server.url)
    pool = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": "1",
        "containerSpec": {"imageUri": "us-docker.pkg.dev/p/r/t:1", "env": [{"name": "OWN", "value": "x"}]},
    }
    template = create_template(
        client, {"displayName": "two-pools", "jobSpec": {"workerPoolSpecs": [pool, {**pool, "replicaCount": "2"}]}}
    )
    resp = call(
        "submit",
        {
            "requestId": "outputs-pools",
            "jobName": "two",
            "externalId": template["name"],
            "parameters": [{"name": "SCORE", "direction": "Output", "type": "Number"}],
        },
    )
    assert resp.status_code == 201, resp.get_json()
    pools = job_dict(client, resp.get_json()["runId"])["jobSpec"]["workerPoolSpecs"]
    assert env_of(pools[0])["POLYSYNC_OUTPUTS_URI"] == expected_uri("outputs-pools")
    assert env_of(pools[1]) == {"OWN": "x"}


def test_without_output_parameters_nothing_is_added(
    call: Any, vertex: Any, vertex_server: Any, outputs_on: str
) -> None:
    body = example_body("outputs-none", parameters=[{"name": "EPOCHS", "type": "Number", "value": 1}])
    resp = call("submit", body)
    assert resp.status_code == 201, resp.get_json()
    job = job_dict(job_client(vertex_server.url), resp.get_json()["runId"])
    assert env_of(job["jobSpec"]["workerPoolSpecs"][0]) == {"EPOCHS": "1"}
    assert "outputs" not in call("status", query=f"runId={resp.get_json()['runId']}").get_json()


def test_without_a_bucket_output_parameters_are_ignored_with_a_warning(
    call: Any, vertex: Any, vertex_server: Any
) -> None:
    resp = call("submit", example_body("outputs-off"))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["warnings"] == ["parameter SCORE (Output) is not supported and was ignored"]
    job = job_dict(job_client(vertex_server.url), resp.get_json()["runId"])
    assert "POLYSYNC_OUTPUTS_URI" not in env_of(job["jobSpec"]["workerPoolSpecs"][0])
    assert "outputs" not in call("status", query=f"runId={resp.get_json()['runId']}").get_json()


def test_too_many_env_vars_with_the_locations_is_a_400(call: Any, vertex: Any, outputs_on: str) -> None:
    params = [{"name": f"P{i}", "type": "Number", "value": i} for i in range(99)]
    params.append({"name": "SCORE", "direction": "Output", "type": "Number"})
    resp = call("submit", example_body("outputs-env-limit", parameters=params))
    assert resp.status_code == 400, resp.get_json()
    assert "POLYSYNC_OUTPUTS_PATH" in resp.get_json()["error"]["message"]


# -- reading them when the run ends ----------------------------------------------------------------------------
SCENARIO = {"name": "VERTEX_EMULATOR_SCENARIO", "type": "String", "value": "PENDING"}
DECLARED = [
    {"name": "SCORE", "direction": "Output", "type": "Number"},
    {"name": "READY", "direction": "Output", "type": "Boolean"},
    {"name": "DAY", "direction": "Output", "type": "Date"},
    {"name": "META", "direction": "Output", "type": "JSON"},
    {"name": "MODE", "direction": "InputOutput", "type": "String", "value": "fast"},
]


def body_with(request_id: str, written: str | None) -> dict[str, Any]:
    params: list[dict[str, Any]] = [SCENARIO, *DECLARED]
    if written is not None:
        params.append({"name": "VERTEX_EMULATOR_OUTPUTS", "type": "String", "value": written})
    return example_body(request_id, parameters=params)


def tick_handler() -> None:
    """One poll tick through the real `poll` entry point (a CloudEvent, as Eventarc delivers the scheduler's)."""
    from datetime import UTC, datetime

    from functions_framework import create_app

    from tests.conftest import ROOT

    client = create_app(target="poll", source=str(ROOT / "functions" / "main.py"), signature_type="cloudevent")
    headers = {
        "ce-id": "tick-1",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/local-project/topics/tick",
        "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    resp = client.test_client().post("/", json={"message": {"data": ""}}, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)


def end_run(call: Any, vertex: Any, request_id: str, written: str | None, state: str = "SUCCEEDED") -> str:
    resp = call("submit", body_with(request_id, written))
    assert resp.status_code == 201, resp.get_json()
    run_id = str(resp.get_json()["runId"])
    vertex.set_state(run_id, f"JOB_STATE_{state}")  # the emulator writes the scripted object first
    tick_handler()
    return run_id


def final_event(subscription: str, run_id: str) -> dict[str, Any]:
    from tests.conftest import pull_events

    events = [e for e in pull_events(subscription, expect=1, max_wait=10) if e["attributes"]["ce-subject"] == run_id]
    finals = [e for e in events if e["data"]["status"] in ("Success", "Failed", "Cancelled")]
    assert len(finals) == 1, events
    return finals[0]["data"]


def test_outputs_typed_and_delivered_in_the_terminal_event(
    call: Any, vertex: Any, outputs_on: str, status_subscription: str
) -> None:
    written = '{"SCORE": 0.93, "READY": true, "DAY": "2026-12-03", "META": {"layers": [1, 2]}, "MODE": "slow"}'
    run_id = end_run(call, vertex, "outputs-typed", written)
    expected = {"SCORE": 0.93, "READY": True, "DAY": "2026-12-03", "META": {"layers": [1, 2]}, "MODE": "slow"}
    status = call("status", query=f"runId={run_id}").get_json()
    assert status["status"] == "Success" and status["outputs"] == expected
    event = final_event(status_subscription, run_id)
    assert event["status"] == "Success" and event["outputs"] == expected


def test_missing_object_each_name_null_and_where_the_connector_looked(
    call: Any, vertex: Any, outputs_on: str, status_subscription: str
) -> None:
    run_id = end_run(call, vertex, "outputs-missing", None)
    outputs = call("status", query=f"runId={run_id}").get_json()["outputs"]
    assert {k: v for k, v in outputs.items() if k != "_error"} == {
        "SCORE": None,
        "READY": None,
        "DAY": None,
        "META": None,
        "MODE": "fast",
    }
    assert expected_uri("outputs-missing") in outputs["_error"]
    assert final_event(status_subscription, run_id)["outputs"] == outputs


@pytest.mark.parametrize(
    ("written", "names", "kept"),
    [
        ("{not json", ["not valid UTF-8 JSON"], {}),
        ('{"SCORE": "high", "READY": 1, "DAY": "03/12/2026", "META": 5}', ["SCORE", "READY", "DAY", "META"], {}),
        ('{"SCORE": 1, "ACCURACY": 0.9}', ["undeclared", "ACCURACY"], {"SCORE": 1}),
    ],
    ids=["bad-json", "wrong-type", "undeclared"],
)
def test_invalid_objects_name_what_is_wrong_and_keep_the_rest(
    call: Any, vertex: Any, outputs_on: str, written: str, names: list[str], kept: dict[str, Any]
) -> None:
    run_id = end_run(call, vertex, f"outputs-invalid-{len(written)}", written)
    status = call("status", query=f"runId={run_id}").get_json()
    assert status["status"] == "Success"  # never changed by its outputs
    outputs = status["outputs"]
    for name in names:
        assert name in outputs["_error"], outputs
    assert outputs["MODE"] == "fast" and "ACCURACY" not in outputs
    for name, value in kept.items():
        assert outputs[name] == value


def test_an_object_over_one_mib_is_ignored(call: Any, vertex: Any, outputs_on: str) -> None:
    from google.cloud import storage

    resp = call("submit", body_with("outputs-large", None))
    run_id = resp.get_json()["runId"]
    name = expected_uri("outputs-large").removeprefix(f"gs://{OUTPUTS_BUCKET}/")
    blob = storage.Client(project="local-project").bucket(OUTPUTS_BUCKET).blob(name)
    blob.upload_from_string(('{"SCORE": 1, "PAD": "' + "x" * (1024 * 1024) + '"}').encode())
    vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    tick_handler()
    outputs = call("status", query=f"runId={run_id}").get_json()["outputs"]
    assert outputs["SCORE"] is None and "larger than 1048576 bytes" in outputs["_error"]


def test_a_failed_job_keeps_its_partial_outputs(
    call: Any, vertex: Any, outputs_on: str, status_subscription: str
) -> None:
    run_id = end_run(call, vertex, "outputs-failed", '{"SCORE": 0.4}', state="FAILED")
    status = call("status", query=f"runId={run_id}").get_json()
    assert status["status"] == "Failed" and status["error"]
    assert status["outputs"] == {"SCORE": 0.4, "READY": None, "DAY": None, "META": None, "MODE": "fast"}
    assert final_event(status_subscription, run_id)["outputs"] == status["outputs"]


def test_a_cancelled_run_is_not_read(call: Any, vertex: Any, outputs_on: str) -> None:
    run_id = end_run(call, vertex, "outputs-cancelled", '{"SCORE": 0.4}', state="CANCELLED")
    outputs = call("status", query=f"runId={run_id}").get_json()["outputs"]
    assert outputs["SCORE"] is None and "ended Cancelled" in outputs["_error"]


class FailingReads:
    """The real Cloud Storage adapter, failing its first `fail` reads (a fault injected in front of it)."""

    def __init__(self, fail: int) -> None:
        from polysync_vertex.adapters.storage import ObjectStore

        self.real = ObjectStore("local-project")
        self.calls = self.real.calls
        self.fail = fail

    def read(self, uri: str, max_bytes: int, deadline: float) -> bytes | None:
        if self.fail:
            self.fail -= 1
            self.calls["storage.read"] += 1
            from polysync_vertex.core.errors import UpstreamError

            raise UpstreamError("UNAVAILABLE", "injected", method="storage.read")
        return self.real.read(uri, max_bytes, deadline)


def app_with(storage: Any) -> Any:
    from polysync_vertex import bootstrap
    from polysync_vertex.config import Settings

    return bootstrap.build(Settings.from_env(), storage=storage)


@pytest.mark.parametrize("fail", [1, 2])
def test_a_failed_read_is_retried_next_tick_and_the_terminal_event_waits_at_most_one_tick(
    call: Any, vertex: Any, outputs_on: str, status_subscription: str, fail: int
) -> None:
    app = app_with(FailingReads(fail))
    resp = call("submit", body_with(f"outputs-retry-{fail}", '{"SCORE": 2}'))
    run_id = resp.get_json()["runId"]
    vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    first = app.poll.tick()
    assert first["changes"] == 1 and first["eventsPublished"] == 0  # only the failed read noted
    assert call("status", query=f"runId={run_id}").get_json()["status"] == "Running"
    second = app.poll.tick()
    assert second["eventsPublished"] == 1 and second["outputsRead"] == 1
    outputs = final_event(status_subscription, run_id)["outputs"]
    if fail == 1:
        assert outputs["SCORE"] == 2 and "_error" not in outputs
    else:
        assert outputs["SCORE"] is None and "could not be read: UNAVAILABLE" in outputs["_error"]
    assert app.storage.calls["storage.read"] == 2


def test_reads_per_tick_are_bounded(call: Any, vertex: Any, outputs_on: str) -> None:
    app = app_with(FailingReads(0))
    app.poll.outputs_reads_per_tick = 2
    run_ids = []
    for i in range(3):
        run_ids.append(call("submit", body_with(f"outputs-bound-{i}", '{"SCORE": 3}')).get_json()["runId"])
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    assert app.poll.tick()["outputsRead"] == 2
    assert app.poll.tick()["outputsRead"] == 1
    for run_id in run_ids:
        assert call("status", query=f"runId={run_id}").get_json()["outputs"]["SCORE"] == 3
    assert app.storage.calls["storage.read"] == 3


def test_an_adopted_run_reads_the_outputs_its_request_declared(
    call: Any, vertex: Any, vertex_server: Any, outputs_on: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create that landed after its request gave up is adopted by the poller; its request record holds where the
    job writes and what it declared, so the adopted run reads its outputs like any other run."""
    import dataclasses

    from polysync_vertex import bootstrap
    from polysync_vertex.adapters.vertex import VertexJobs
    from polysync_vertex.config import Settings
    from polysync_vertex.core.errors import ApiError, UpstreamError
    from polysync_vertex.services.poll import index as poll_index

    class LostResponse(VertexJobs):  # the create reaches Vertex AI, its response is lost, lookups see nothing
        def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            super().create(*args, **kwargs)
            raise UpstreamError("DEADLINE_EXCEEDED", "the response did not arrive", method="CreateCustomJob")

        def find_by_label(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
            return None

    settings = dataclasses.replace(Settings.from_env(), request_budget_seconds=3)
    gave_up = bootstrap.build(settings, vertex=LostResponse(settings.vertex_endpoint))
    with pytest.raises(ApiError) as err:
        gave_up.submit.submit(body_with("outputs-adopted", '{"SCORE": 7}'))
    assert err.value.http == 503, err.value.message
    monkeypatch.setattr(poll_index, "SWEEP_SECONDS", 0)  # the orphan sweep on every tick
    poller = app_with(FailingReads(0))
    assert sum(poller.poll.tick()["adopted"] for _ in range(3)) == 1
    (job,) = [
        j
        for j in job_client(vertex_server.url).list_custom_jobs(parent="projects/local-project/locations/us-central1")
        if j.labels.get("polysync-job") == "nightly-train" and "outputs-adopted" in j.labels.get("polysync-request", "")
    ]
    vertex.set_state(job.name, "JOB_STATE_SUCCEEDED")
    poller.poll.tick()
    run = poller.runs.status(job.name)[1]
    assert run["status"] == "Success" and run["outputs"]["SCORE"] == 7 and run["outputs"]["MODE"] == "fast"


# -- a run recorded final where nothing reads objects: the poller reads its outputs next --------------------------
WRITTEN = '{"SCORE": 0.8, "READY": true}'
EXPECTED = {"SCORE": 0.8, "READY": True, "DAY": None, "META": None, "MODE": "fast"}


def lost_create(endpoint: str) -> Any:
    """A Vertex AI client whose creates reach Vertex AI but whose responses are lost, and whose label lookups see
    nothing (an attempt that gives up with the job's fate unknown; the job lands anyway)."""
    from polysync_vertex.adapters.vertex import VertexJobs
    from polysync_vertex.core.errors import UpstreamError

    class LostResponse(VertexJobs):
        def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            super().create(*args, **kwargs)
            raise UpstreamError("DEADLINE_EXCEEDED", "the response did not arrive", method="CreateCustomJob")

        def find_by_label(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
            return None

    return LostResponse(endpoint)


def give_up(request_id: str, *, lease_ends: bool = False) -> None:
    """A submit whose create lands but whose response is lost: it gives up with 503 (its lease kept, or with
    `lease_ends` ended with it, so the next attempt takes over at once)."""
    import dataclasses

    from polysync_vertex import bootstrap
    from polysync_vertex.config import Settings
    from polysync_vertex.core.errors import ApiError

    settings = dataclasses.replace(Settings.from_env(), request_budget_seconds=3)
    attempt = bootstrap.build(settings, vertex=lost_create(settings.vertex_endpoint))
    if lease_ends:
        attempt.submit.lease_margin = -settings.request_budget_seconds
    with pytest.raises(ApiError) as err:
        attempt.submit.submit(body_with(request_id, WRITTEN))
    assert err.value.http == 503, err.value.message


def landed_job(vertex_server: Any, request_id: str) -> str:
    from polysync_vertex.core.labels import request_key

    client = job_client(vertex_server.url)
    key = request_key(request_id)
    jobs = client.list_custom_jobs(parent="projects/local-project/locations/us-central1")
    (name,) = [j.name for j in jobs if j.labels.get("polysync-request") == key]
    return str(name)


def test_a_cancel_that_finds_the_job_already_succeeded_records_its_outputs_and_the_terminal_event_carries_them(
    call: Any, vertex: Any, outputs_on: str, status_subscription: str
) -> None:
    """The job succeeded (and wrote its outputs) between two ticks; the cancel finds it ended (FAILED_PRECONDITION,
    then one GET) and answers 200. The cancel function reads no objects (its identity has no read on the bucket):
    the run is recorded Success with its outputs due, and the next tick reads them once and publishes the one
    terminal event with them."""
    resp = call("submit", body_with("outputs-cancel-late", WRITTEN))
    assert resp.status_code == 201, resp.get_json()
    run_id = resp.get_json()["runId"]
    vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")  # the emulator writes the scripted object first
    cancelled = call("cancel", {"runId": run_id})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["status"] == "Success" and cancelled.get_json()["outputs"] is None  # not read yet
    tick_handler()
    status = call("status", query=f"runId={run_id}").get_json()
    assert status["status"] == "Success" and status["outputs"] == EXPECTED
    event = final_event(status_subscription, run_id)
    assert event["status"] == "Success" and event["outputs"] == EXPECTED


def test_a_takeover_that_finds_its_custom_job_already_succeeded_records_its_outputs(
    call: Any, vertex: Any, vertex_server: Any, outputs_on: str, status_subscription: str
) -> None:
    """The first attempt's create landed but its answer was lost; the job ran and succeeded before the retry took
    over. The takeover finds the job by its label, already final, and records it: its outputs are read by the next
    tick (submit reads no objects), and the terminal event (sequence 1) carries them."""
    give_up("outputs-takeover", lease_ends=True)
    job = landed_job(vertex_server, "outputs-takeover")
    vertex.set_state(job, "JOB_STATE_SUCCEEDED")
    resp = call("submit", body_with("outputs-takeover", WRITTEN))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["runId"] == job and resp.get_json()["status"] == "Success"
    tick_handler()
    status = call("status", query=f"runId={job}").get_json()
    assert status["status"] == "Success" and status["outputs"] == EXPECTED
    event = final_event(status_subscription, job)
    assert event["sequence"] == 1 and event["outputs"] == EXPECTED


def test_an_adopted_job_that_had_already_succeeded_reads_its_outputs_before_its_event(
    call: Any,
    vertex: Any,
    vertex_server: Any,
    outputs_on: str,
    status_subscription: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A late create that ran to Success before the poller found it is adopted final; its outputs are read on the
    next tick, and its one terminal event waits for them."""
    from polysync_vertex.services.poll import index as poll_index

    give_up("outputs-adopted-ended")
    job = landed_job(vertex_server, "outputs-adopted-ended")
    vertex.set_state(job, "JOB_STATE_SUCCEEDED")
    monkeypatch.setattr(poll_index, "SWEEP_SECONDS", 0)  # the orphan sweep on every tick
    poller = app_with(FailingReads(0))
    ticks = [poller.poll.tick() for _ in range(4)]
    assert sum(t["adopted"] for t in ticks) == 1 and sum(t["outputsRead"] for t in ticks) == 1
    run = poller.runs.status(job)[1]
    assert run["status"] == "Success" and run["outputs"] == EXPECTED
    assert final_event(status_subscription, job)["outputs"] == EXPECTED
