"""health and the hints sink (issue 24), with fake probes: with PSV_HINT_SINK set, one check per allowed project
whose answer decides the report (missing sink or a writer that may not publish: 503; ok; skipped locally: not a
failure, never ok); without it no such check."""

from __future__ import annotations

from dataclasses import replace

from polysync_vertex.config import Settings
from polysync_vertex.services.health import HealthService
from tests.fakes import FakeProbes, FakeVertex

SETTINGS = Settings(
    project="p",
    allowed_projects=("p", "vp"),
    webhook_secrets=("s",),
    hint_sink="polysync-vertex-hints",
    hints_topic="polysync-vertex-hints",
)
WRITER_DENIED = "serviceAccount:service-1@gcp-sa-logging.iam.gserviceaccount.com lacks pubsub.topics.publish"


def report(probes: FakeProbes, settings: Settings = SETTINGS) -> tuple[int, dict[str, dict[str, object]]]:
    code, body = HealthService(settings, FakeVertex(), probes).check()
    return code, {str(c["name"]): c for c in body["checks"]}


def test_each_allowed_project_s_sink_is_checked_against_the_hints_topic() -> None:
    probes = FakeProbes()
    probes.sinks = {"p": (True, "ok"), "vp": (True, "ok")}
    code, checks = report(probes)
    assert code == 200
    assert checks["hint-sink:p"]["ok"] is True and checks["hint-sink:vp"]["ok"] is True
    topic = "projects/p/topics/polysync-vertex-hints"
    assert sorted(probes.sink_calls) == [("p", "polysync-vertex-hints", topic), ("vp", "polysync-vertex-hints", topic)]


def test_a_missing_sink_fails_the_report() -> None:
    probes = FakeProbes()
    probes.sinks = {"p": (True, "ok")}
    code, checks = report(probes)
    assert code == 503
    assert checks["hint-sink:vp"]["ok"] is False and "does not exist" in str(checks["hint-sink:vp"]["message"])


def test_a_writer_that_may_not_publish_fails_the_report() -> None:
    probes = FakeProbes()
    probes.sinks = {"p": (True, "ok"), "vp": (False, WRITER_DENIED)}
    code, checks = report(probes)
    assert code == 503 and checks["hint-sink:vp"] == {"name": "hint-sink:vp", "ok": False, "message": WRITER_DENIED}


def test_skipped_locally_is_not_ok_and_not_a_failure() -> None:
    probes = FakeProbes()
    probes.sinks = {p: (None, "no Cloud Logging sinks API here; not checked") for p in ("p", "vp")}
    code, checks = report(probes)
    assert code == 200
    assert checks["hint-sink:p"] == {
        "name": "hint-sink:p",
        "ok": False,
        "skipped": True,
        "message": "no Cloud Logging sinks API here; not checked",
    }


def test_without_hints_configured_no_sink_is_checked() -> None:
    probes = FakeProbes()
    code, checks = report(probes, replace(SETTINGS, hint_sink="", hints_topic=""))
    assert code == 200 and not [n for n in checks if n.startswith("hint-sink")] and probes.sink_calls == []


def test_a_sink_without_its_topic_is_a_configuration_error() -> None:
    probes = FakeProbes()
    code, checks = report(probes, replace(SETTINGS, hints_topic=""))
    assert code == 503 and "PSV_HINTS_TOPIC is not set" in str(checks["hint-sink:vp"]["message"])
    assert probes.sink_calls == []
