"""health: Polysync's "test connectivity", against the emulators (denied permissions via the emulator admin API)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def denied(vertex: Any) -> Iterator[Any]:
    yield vertex
    vertex.reset_permissions()


def test_all_checks_pass_and_nothing_is_created_or_published(app: Any, vertex: Any) -> None:
    vertex.reset_calls()
    code, report = app.health.check(deep=True)
    assert code == 200 and report["ok"] is True
    names = {c["name"] for c in report["checks"]}
    assert {"webhook-secret", "firestore", "status-topic"} <= names
    assert "vertex-list:local-project:us-central1:pipelineJobs" in names
    calls = {k: v for k, v in vertex.calls().items() if v}
    assert not any(k.startswith(("Create", "Cancel", "Delete")) for k in calls), calls
    # deep: one list per allowed project, location and job kind (2 x 2 x 3)
    assert sum(v for k, v in calls.items() if k.startswith("List") and k.endswith("Jobs")) == 12


def test_a_denied_permission_names_identity_permission_and_fix(app: Any, denied: Any) -> None:
    denied.deny_permissions("other-project", ["aiplatform.batchPredictionJobs.cancel"])
    code, report = app.health.check()
    assert code == 503 and report["ok"] is False
    failed = [c for c in report["checks"] if not c["ok"] and not c.get("skipped")]
    assert [c["name"] for c in failed] == [
        "vertex-permissions:other-project:poll",
        "vertex-permissions:other-project:cancel",
    ]
    message = failed[0]["message"]
    assert "aiplatform.batchPredictionJobs.cancel" in message and "other-project" in message
    assert "vertex_projects" in message and "gcloud projects add-iam-policy-binding" in message


def test_reading_job_logs_needs_logging_permission_for_poll_and_status(app: Any, denied: Any) -> None:
    """Issue 25: poll (failed runs' log tails) and status (`logs=N`) read Cloud Logging in the job's project."""
    denied.deny_permissions("local-project", ["logging.logEntries.list"])
    code, report = app.health.check()
    assert code == 503
    failed = [c for c in report["checks"] if not c["ok"] and not c.get("skipped")]
    assert [c["name"] for c in failed] == [
        "vertex-permissions:local-project:poll",
        "vertex-permissions:local-project:status",
    ]
    assert all("logging.logEntries.list" in c["message"] for c in failed)


def test_deep_list_failure_is_reported(app: Any, vertex: Any) -> None:
    vertex.add_fault(method="ListBatchPredictionJobs", http_status=403, status="PERMISSION_DENIED", count=100)
    code, report = app.health.check(deep=True)
    assert code == 503
    failed = [c["name"] for c in report["checks"] if not c["ok"] and not c.get("skipped")]
    assert failed and all(name.endswith(":batchPredictionJobs") for name in failed)


def test_missing_secret_fails_the_report(settings: Any) -> None:
    import dataclasses

    from polysync_vertex import bootstrap

    code, report = bootstrap.build(dataclasses.replace(settings, webhook_secrets=())).health.check()
    assert code == 503
    (secret,) = [c for c in report["checks"] if c["name"] == "webhook-secret"]
    assert secret["ok"] is False and "PSV_WEBHOOK_SECRETS" in secret["message"]


def test_the_hints_sink_is_reported_skipped_against_the_emulators(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24: with hints configured (as the local stack configures them) the sink check cannot be answered by
    the emulators (no Cloud Logging sinks API): skipped with the reason, never ok, and not a failure."""
    from polysync_vertex import bootstrap
    from polysync_vertex.config import Settings

    monkeypatch.setenv("PSV_HINT_SINK", "polysync-vertex-hints")
    monkeypatch.setenv("PSV_HINTS_TOPIC", f"{env['PSV_STATUS_TOPIC']}-hints")
    code, report = bootstrap.build(Settings.from_env()).health.check()
    sinks = [c for c in report["checks"] if c["name"].startswith("hint-sink:")]
    assert [c["name"] for c in sinks] == ["hint-sink:local-project", "hint-sink:other-project"]
    for check in sinks:
        assert check["ok"] is False and check["skipped"] is True
        assert "no Cloud Logging sinks API" in check["message"] and "not checked" in check["message"]
    assert code == 200 and report["ok"] is True, "a skipped check does not fail the report"
