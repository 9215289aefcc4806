"""Retention: ended runs and their request records carry `expireAt` (now + PSV_RETENTION_DAYS) for Firestore's TTL
policy. The Firestore emulator does not delete expired documents, so the test stops at the field being written."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from polysync_vertex.core import runs
from polysync_vertex.core.labels import request_key
from tests.helpers import example_body


def _docs(app: Any, run_id: str, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from polysync_vertex.core.kinds import parse_run_name, run_doc_id

    _, name = parse_run_name(run_id, "runId")
    run = app.store.runs.document(run_doc_id(name)).get().to_dict()
    request = app.store.requests.document(key).get().to_dict()
    return run, request


def test_active_run_has_no_expiry_and_an_ended_one_has(settings: Any, vertex: Any, status_subscription: str) -> None:
    from polysync_vertex import bootstrap

    app = bootstrap.build(dataclasses.replace(settings, retention_days=7))
    code, body = app.submit.submit(example_body("retention-1"))
    assert code == 201
    run, request = _docs(app, body["runId"], request_key("retention-1"))
    assert "expireAt" not in run and "expireAt" not in request
    vertex.set_state(body["runId"], "JOB_STATE_SUCCEEDED")
    app.poll.poll(None)
    run, request = _docs(app, body["runId"], request_key("retention-1"))
    assert run["status"] == "Success"
    expected = datetime.now(UTC) + timedelta(days=7)
    for doc in (run, request):
        assert isinstance(doc["expireAt"], datetime)  # a Timestamp: what a TTL policy needs
        assert abs((doc["expireAt"] - expected).total_seconds()) < 120
    assert runs.public(run).keys().isdisjoint({"expireAt"})  # not part of what callers see


def test_cancelled_run_expires_too(app: Any, vertex: Any, status_subscription: str) -> None:
    code, body = app.submit.submit(example_body("retention-2"))
    assert app.runs.cancel({"runId": body["runId"]})[0] == 202
    vertex.set_state(body["runId"], "JOB_STATE_CANCELLED")
    app.poll.poll(None)
    run, request = _docs(app, body["runId"], request_key("retention-2"))
    assert run["vertexState"] == "JOB_STATE_CANCELLED" and "expireAt" in run and "expireAt" in request
