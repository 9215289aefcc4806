"""The event functions accept what a Terraform-managed Pub/Sub push subscription delivers (issue 27, point 7).

Pub/Sub push (without `no_wrapper`) POSTs `{"message": {"data", "attributes", "messageId", "publishTime"},
"subscription"}` (https://cloud.google.com/pubsub/docs/push, "Receive messages"); functions-framework turns it into
a CloudEvent with `time` = publishTime and data = {"message": ...} (functions_framework/event_conversion.py,
marshal_background_event_data). These tests send that envelope through the real functions-framework app of
functions/main.py, against the Firestore and Pub/Sub emulators and the Vertex AI emulator. A 2xx answer acknowledges
the message; anything else makes Pub/Sub redeliver it (retry_policy, then the dead-letter topic):

- poll acknowledges every tick, a failed one too (no retries for ticks, point 8), and skips a stale one;
- poll_shard answers 5xx when its work failed, so Pub/Sub retries it and dead-letters it in the end.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from polysync_vertex import bootstrap

MAIN = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")


def envelope(attributes: dict[str, str] | None = None, *, age_seconds: float = 0.0) -> dict[str, Any]:
    published = datetime.now(UTC) - timedelta(seconds=age_seconds)
    return {
        "message": {
            "data": base64.b64encode(b"{}").decode(),
            "attributes": attributes or {},
            "messageId": "4242",
            "publishTime": published.isoformat().replace("+00:00", "Z"),
        },
        "subscription": "projects/local-project/subscriptions/polysync-vertex-poll-push",
    }


def broken() -> Any:
    raise RuntimeError("firestore is down")


broken.cache_clear = lambda: None  # type: ignore[attr-defined]  # the env fixture resets bootstrap.app after the test


def push(target: str, body: dict[str, Any]) -> Any:
    client = create_app(target=target, source=MAIN).test_client()
    return client.post("/", data=json.dumps(body), content_type="application/json")


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_poll_runs_a_pushed_tick(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    response = push("poll", envelope())
    assert response.status_code == 200
    ticks = [line for line in logged(capsys) if line.get("message") == "poll tick"]
    assert len(ticks) == 1 and ticks[0]["shardRange"] is None


def test_a_stale_pushed_tick_is_acknowledged_without_work(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    response = push("poll", envelope(age_seconds=900))
    assert response.status_code == 200
    messages = [line.get("message") for line in logged(capsys)]
    assert "stale tick skipped" in messages and "poll tick" not in messages


def test_a_failed_tick_is_acknowledged_not_retried(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootstrap, "app", broken)
    response = push("poll", envelope())
    assert response.status_code == 200, "a 2xx acknowledges: Pub/Sub does not redeliver the tick"
    errors = [line for line in logged(capsys) if line.get("severity") == "ERROR"]
    assert [e["message"] for e in errors] == ["poll tick failed"]
    assert "RuntimeError: firestore is down" in errors[0]["error"]


def test_poll_shard_runs_a_pushed_shard(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    response = push("poll_shard", envelope({"shardLo": "0", "shardHi": "8"}))
    assert response.status_code == 200
    ticks = [line for line in logged(capsys) if line.get("message") == "poll tick"]
    assert len(ticks) == 1 and ticks[0]["shardRange"] == [0, 8]


def test_a_failed_shard_is_refused_so_pubsub_retries_it(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "app", broken)
    response = push("poll_shard", envelope({"shardLo": "0", "shardHi": "8"}))
    assert response.status_code >= 500, "not acknowledged: retried, then dead-lettered (infra/pubsub.tf)"
