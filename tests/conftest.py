"""Shared fixtures: the real emulators (Firestore, Pub/Sub from gcloud; our Vertex AI emulator), settings isolated
per test, and signed calls to the real function handlers."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "local-project"
LOCATION = "us-central1"
SECRET = "test-webhook-secret"
# The live suite's options (--live-budget, ...) and report hooks: registered here, before collection.
pytest_plugins = ("tests.live.plugin",)


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (a CI timeout, `timeout`, a killed job) ends the session like Ctrl-C does, so the session fixtures
    still stop the emulators' process groups instead of leaving Java servers behind."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope="session")
def cloud_emulators() -> Iterator[dict[str, str]]:
    """Firestore and Pub/Sub emulators (gcloud), started in parallel, each in its own process group."""
    from polysync_local import processes

    processes.check_prerequisites()
    started: dict[str, Any] = {}
    errors: list[BaseException] = []

    def start(name: str, fn: Callable[..., Any]) -> None:
        try:
            started[name] = fn(project=PROJECT)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [
        threading.Thread(target=start, args=("firestore", processes.start_firestore)),
        threading.Thread(target=start, args=("pubsub", processes.start_pubsub)),
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        os.environ["FIRESTORE_EMULATOR_HOST"] = started["firestore"].host
        os.environ["PUBSUB_EMULATOR_HOST"] = started["pubsub"].host
        yield {"firestore": started["firestore"].host, "pubsub": started["pubsub"].host}
    finally:
        for t in threads:  # interrupted while starting: let the start finish, so what it started is stopped
            t.join(timeout=120)
        for emulator in started.values():
            emulator.stop()


OUTPUTS_BUCKET = "local-outputs"


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[str]:
    """The Cloud Storage emulator (gcp-storage-emulator) in its own process group, with the outputs bucket;
    STORAGE_EMULATOR_HOST points the official client at it. Yields its URL."""
    from polysync_local import processes

    emulator = processes.start_storage(buckets=(OUTPUTS_BUCKET,))
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
    try:
        yield emulator.url
    finally:
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
        emulator.stop()


@pytest.fixture(scope="session")
def vertex_server() -> Iterator[Any]:
    """Our Vertex AI emulator, in-process on a free port, jobs advancing 50x faster than scripted."""
    from vertex_emulator import EmulatorServer

    # CANCELLING lasts 5 s (250 s scaled), so tests observe it before it ends on its own.
    server = EmulatorServer(host="127.0.0.1", port=0, time_factor=0.02, cancel_delay=250)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def vertex(vertex_server: Any) -> Any:
    """The emulator's admin client, with jobs, faults and counters reset for this test."""
    from vertex_emulator.admin import AdminClient

    admin = AdminClient(vertex_server.url)
    admin.reset()
    return admin


@pytest.fixture
def prefix() -> str:
    from test_utils.prefixer import Prefixer

    return Prefixer("psv", "t", separator="-").create_prefix()[-40:].lstrip("-") + "-"


@pytest.fixture
def env(
    cloud_emulators: dict[str, str], vertex_server: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """PSV_* settings for this test (unique Firestore collections and topics), set in os.environ."""
    from polysync_vertex import bootstrap

    values = {
        "PSV_PROJECT": PROJECT,
        "PSV_DEFAULT_LOCATION": LOCATION,
        "PSV_ALLOWED_PROJECTS": f"{PROJECT},other-project",
        "PSV_ALLOWED_LOCATIONS": f"{LOCATION},europe-west4",
        "PSV_WEBHOOK_SECRETS": SECRET,
        "PSV_VERTEX_ENDPOINT": vertex_server.url,
        "PSV_STATUS_TOPIC": f"{prefix}status",
        "PSV_SHARD_TOPIC": "",
        "PSV_COLLECTION_PREFIX": prefix,
        "PSV_REQUEST_BUDGET_SECONDS": "20",
        "PSV_TEMPLATE_CACHE_SECONDS": "0",
        # One pass per tick() call: tests of the cadence (test_cadence.py) set their own interval and clock.
        "PSV_POLL_INTERVAL_SECONDS": "0",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    bootstrap.app.cache_clear()
    yield values
    bootstrap.app.cache_clear()


@pytest.fixture
def settings(env: dict[str, str]) -> Any:
    from polysync_vertex.config import Settings

    return Settings.from_env()


@pytest.fixture
def app(settings: Any) -> Any:
    from polysync_vertex import bootstrap

    return bootstrap.build(settings)


@pytest.fixture
def status_subscription(env: dict[str, str], cloud_emulators: dict[str, str]) -> Iterator[str]:
    """The status topic of this test with a pull subscription (message ordering on), as Terraform makes it."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = f"projects/{PROJECT}/topics/{env['PSV_STATUS_TOPIC']}"
    sub = f"projects/{PROJECT}/subscriptions/{env['PSV_STATUS_TOPIC']}-sub"
    publisher.create_topic(name=topic)
    subscriber.create_subscription(request={"name": sub, "topic": topic, "enable_message_ordering": True})
    yield sub
    subscriber.delete_subscription(subscription=sub)
    publisher.delete_topic(topic=topic)
    subscriber.close()


def pull_events(subscription: str, *, max_wait: float = 5.0, expect: int | None = None) -> list[dict[str, Any]]:
    """Pull (and ack) what is on the subscription: [{"attributes", "data", "orderingKey"}] in arrival order."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + max_wait
    try:
        while time.monotonic() < deadline:
            resp = subscriber.pull(
                request={"subscription": subscription, "max_messages": 500, "return_immediately": True}, timeout=5
            )
            if resp.received_messages:
                for m in resp.received_messages:
                    out.append(
                        {
                            "attributes": dict(m.message.attributes),
                            "data": json.loads(m.message.data),
                            "orderingKey": m.message.ordering_key,
                        }
                    )
                subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in resp.received_messages])
                continue
            if expect is not None and len(out) >= expect:
                break
            time.sleep(0.1)
    finally:
        subscriber.close()
    return out


@pytest.fixture
def call(env: dict[str, str]) -> Callable[..., Any]:
    """call(function, body=None, query=None, secret=SECRET, headers=None) -> Flask test response, signed."""
    from functions_framework import create_app

    from polysync_vertex.core.auth import signature_header

    clients: dict[str, Any] = {}

    def do(
        target: str,
        body: Any = None,
        *,
        query: str | None = None,
        secret: str | None = SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        if target not in clients:
            clients[target] = create_app(target=target, source=str(ROOT / "functions" / "main.py")).test_client()
        client = clients[target]
        hdrs = dict(headers or {})
        ts = int(time.time()) if timestamp is None else timestamp
        if query is not None:
            if secret is not None:
                hdrs["X-Polysync-Signature"] = signature_header(secret, ts, query.encode())
            return client.get("/?" + query if query else "/", headers=hdrs)
        payload = raw if raw is not None else json.dumps(body).encode()
        if secret is not None:
            hdrs["X-Polysync-Signature"] = signature_header(secret, ts, payload)
        return client.post("/", data=payload, headers=hdrs, content_type=content_type)

    return do
