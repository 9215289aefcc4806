"""health's status-topic check tests the poll function's identity (the one that publishes), not its own: the
credentials passed to the Pub/Sub client are minted for the identity PSV_FUNCTION_IDENTITIES names for poll. No
I/O: the credential factory and the client are replaced by recorders."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from polysync_vertex.adapters import probes
from polysync_vertex.config import Settings

TOPIC = "projects/p/topics/status"


class Recorder:
    instances: list[Recorder] = []

    def __init__(self, credentials: Any = None) -> None:
        self.credentials = credentials
        self.asked: dict[str, Any] = {}
        Recorder.instances.append(self)

    def test_iam_permissions(self, request: dict[str, Any], timeout: float) -> Any:
        self.asked = request

        class Response:
            permissions: list[str] = []

        return Response()


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    minted: list[str] = []
    Recorder.instances = []
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setattr(pubsub_v1, "PublisherClient", Recorder)
    monkeypatch.setattr(probes, "_credentials", lambda identity: minted.append(identity) or f"token-of:{identity}")
    return minted


def test_the_topic_is_tested_as_the_poll_identity(recorded: list[str]) -> None:
    settings = replace(Settings(project="p"), function_identities=(("poll", "poll@p.iam.gserviceaccount.com"),))
    ok, detail = probes.CloudProbes(settings, store=None).topic_permissions(TOPIC, ["pubsub.topics.publish"])
    assert recorded == ["poll@p.iam.gserviceaccount.com"]
    assert Recorder.instances[-1].credentials == "token-of:poll@p.iam.gserviceaccount.com"
    assert Recorder.instances[-1].asked == {"resource": TOPIC, "permissions": ["pubsub.topics.publish"]}
    assert ok is False and "poll@p.iam.gserviceaccount.com (poll) lacks pubsub.topics.publish" in detail


def test_without_a_named_poll_identity_the_own_identity_is_tested(recorded: list[str]) -> None:
    cloud = probes.CloudProbes(Settings(project="p"), store=None)
    ok, detail = cloud.topic_permissions(TOPIC, ["pubsub.topics.publish"])
    assert recorded == [] and Recorder.instances[-1].credentials is None
    assert ok is False and "the health function's own identity (poll)" in detail
