"""Issue 30, finding 1 and 2 (poll side): one run's data never stops status for the others. Pipeline Jobs whose
outputs Firestore cannot store natively (an array in an array, nesting over 20 levels, a reserved key) are recorded
and read back exactly as given; a run whose record would exceed 1 MiB, or whose write Firestore refuses, is isolated
to that run (marked, logged) while the tick records and publishes everyone else; commits are split by bytes. Against
the real Firestore / Pub/Sub emulators and the Vertex AI emulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.test_pipeline_jobs import (
    body_for,
    create_pipeline,
    events_of,
    pipeline_client,
    submit,
    template_job,
)


@pytest.fixture
def pipelines(vertex_server: Any) -> Any:
    return pipeline_client(vertex_server.url)


PARAMS = [{"name": "accuracy", "direction": "Output", "type": "Number"}]


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


POISON = {
    "array in array": [[50, 2], [3, 45]],
    "depth over 20": _nested(25),
    "reserved key": {"__a__": 1, "ok": {"__name__": [1, [2]]}},
}


def _finish(app: Any, vertex: Any, pipelines: Any, outputs: list[Any], prefix: str) -> list[str]:
    run_ids = []
    for i, value in enumerate(outputs):
        template = create_pipeline(pipelines, template_job(outputs={"accuracy": value}))
        run_ids.append(submit(app, body_for(template, f"{prefix}-{i}", parameters=PARAMS))["runId"])
    app.poll.poll(None)
    for run_id in run_ids:
        vertex.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
    return run_ids


@pytest.mark.parametrize("case", list(POISON))
def test_outputs_firestore_cannot_store_natively_are_recorded_exactly(
    call: Any, app: Any, vertex: Any, pipelines: Any, status_subscription: str, case: str
) -> None:
    poison, healthy = _finish(app, vertex, pipelines, [POISON[case], 0.9], f"poison-{case[:5]}")
    summary = app.poll.poll(None)
    assert summary["changes"] == 2 and summary["eventsPublished"] == 2
    record = call("status", query=urlencode({"runId": poison})).get_json()
    assert record["status"] == "Success" and record["outputs"] == {"accuracy": POISON[case]}
    assert call("status", query=urlencode({"runId": healthy})).get_json()["outputs"] == {"accuracy": 0.9}
    events = events_of(status_subscription, expect=4)
    terminal = {e["data"]["runId"]: e["data"] for e in events if e["data"]["status"] == "Success"}
    assert terminal[poison]["outputs"] == {"accuracy": POISON[case]}
    assert app.poll.poll(None)["changes"] == 0  # nothing left behind to retry


def test_a_run_over_the_record_limit_is_marked_and_the_others_go_on(
    call: Any, app: Any, vertex: Any, pipelines: Any, status_subscription: str
) -> None:
    """600 KB of outputs: in the record and again in its terminal event, over 1 MiB. The run is recorded without
    them (outputs `_error`, a warning), its events published; the other run in the same commit is untouched."""
    big, healthy = _finish(app, vertex, pipelines, ["x" * 600_000, 0.5], "huge")
    summary = app.poll.poll(None)
    assert summary["changes"] == 2 and summary["eventsPublished"] == 2
    record = call("status", query=urlencode({"runId": big})).get_json()
    assert record["status"] == "Success"
    assert "not recorded" in record["outputs"]["_error"] and "accuracy" not in record["outputs"]
    assert any(w.startswith("not recorded: ") for w in record["warnings"])
    assert call("status", query=urlencode({"runId": healthy})).get_json()["outputs"] == {"accuracy": 0.5}
    events = events_of(status_subscription, expect=4)
    assert [e["data"]["vertexState"] for e in events if e["data"]["runId"] == big][-1] == "PIPELINE_STATE_SUCCEEDED"


def test_a_write_firestore_refuses_is_isolated_to_its_run(
    call: Any, app: Any, vertex: Any, pipelines: Any, status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the connector's own size guard lifted, the emulator itself refuses the over-1 MiB record
    (InvalidArgument): the commit of several runs is refused as a whole, each run is then written alone, the
    refused one is made storable and written again; the others are recorded as usual, and the tick goes on."""
    from polysync_vertex.adapters.firestore import RunStore

    monkeypatch.setattr(RunStore, "record_limit", 8 * 1024 * 1024)
    run_ids = _finish(app, vertex, pipelines, [0.1, "y" * 700_000, 0.3], "refused")
    summary = app.poll.poll(None)
    assert summary["changes"] == 3 and summary["eventsPublished"] == 3
    outputs = [call("status", query=urlencode({"runId": r})).get_json()["outputs"] for r in run_ids]
    assert outputs[0] == {"accuracy": 0.1} and outputs[2] == {"accuracy": 0.3}
    assert "the run store refused the record" in outputs[1]["_error"]
    assert len([e for e in events_of(status_subscription, expect=6) if e["data"]["status"] == "Success"]) == 3
    assert app.poll.poll(None)["changes"] == 0


def test_commits_are_split_by_bytes(
    app: Any, vertex: Any, pipelines: Any, status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six runs of ~700 KB each (outputs in the record and in its terminal event) finishing in one tick: one commit
    of 4.2 MB, which the emulator refused and which was retried as transient every tick. The changes now go out in
    several commits under the byte budget, none refused."""
    from polysync_vertex.adapters.firestore import RunStore

    commits: list[int] = []
    original = RunStore._commit_runs

    def counted(self: Any, items: Any, chunk: Any, results: Any) -> None:
        commits.append(len(chunk))
        original(self, items, chunk, results)

    monkeypatch.setattr(RunStore, "_commit_runs", counted)
    run_ids = _finish(app, vertex, pipelines, ["z" * 350_000] * 6, "bytes")
    commits.clear()
    summary = app.poll.poll(None)
    assert summary["changes"] == 6 and summary["eventsPublished"] == 6
    assert len(commits) >= 3 and commits[0] < 6  # the recording commits were split (then one drops the events)
    assert all(n * 700_000 < RunStore.BATCH_BYTES for n in commits[:-1])
    for run_id in run_ids:
        assert app.runs.status(run_id)[1]["outputs"] == {"accuracy": "z" * 350_000}
