"""Stand-ins for what Google runs between Pub/Sub and the event functions: Eventarc's Pub/Sub trigger and Cloud
Scheduler's poll tick. `post_pubsub_event` is the one builder of an Eventarc delivery (the stack's forwarders and
the chaos run's second poller use it)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("polysync_local.stack")

PUBSUB_MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
DELIVERY_TIMEOUT = 540.0  # the event functions' timeout_seconds in infra/functions.tf
RETRY_MIN_SECONDS, RETRY_MAX_SECONDS = 1, 10  # local back-off for failed deliveries (Pub/Sub's is 10 s .. 600 s)


def rfc3339(value: Any = None) -> str:
    """A datetime (else now) as RFC 3339 UTC with milliseconds, as Pub/Sub writes publish times."""
    when = value if isinstance(value, datetime) else datetime.now(UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pubsub_cloudevent(
    *,
    data: bytes,
    topic: str,
    subscription: str,
    message_id: str | None = None,
    attributes: dict[str, str] | None = None,
    publish_time: Any = None,
    ordering_key: str = "",
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a Pub/Sub message as Eventarc POSTs it: a binary-mode CloudEvent of type
    `google.cloud.pubsub.topic.v1.messagePublished` whose data is the push envelope {"message", "subscription"}."""
    message_id = message_id or uuid.uuid4().hex
    published = rfc3339(publish_time)
    message: dict[str, Any] = {
        "data": base64.b64encode(data).decode(),
        "attributes": dict(attributes or {}),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": published,
        "publish_time": published,
    }
    if ordering_key:
        message["orderingKey"] = ordering_key
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": message_id,
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "ce-type": PUBSUB_MESSAGE_PUBLISHED,
        "ce-time": published,
    }
    return headers, json.dumps({"message": message, "subscription": subscription}).encode()


def post_pubsub_event(url: str, timeout: float = DELIVERY_TIMEOUT, **message: Any) -> int:
    """POST one Pub/Sub message to an event function as Eventarc does; the HTTP status (0: no response)."""
    headers, body = pubsub_cloudevent(**message)
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


class EventarcForwarder(threading.Thread):
    """Delivers the messages of one pull subscription to an event function, like an Eventarc Pub/Sub trigger.

    One delivery at a time (the functions run with max_instance_request_concurrency = 1). A 2xx answer acks the
    message; anything else leaves it unacked with an ack deadline of the back-off, so Pub/Sub redelivers it.
    """

    def __init__(self, subscriber: Any, subscription: str, topic: str, url: str, stop: threading.Event) -> None:
        super().__init__(name=f"eventarc-{url}", daemon=True)
        self.subscriber = subscriber
        self.subscription = subscription
        self.topic = topic
        self.url = url
        self.stop_event = stop
        self.delivered = 0
        self.failed = 0
        self._attempts: dict[str, int] = {}

    def run(self) -> None:
        from google.api_core import exceptions as gexc

        while not self.stop_event.is_set():
            try:
                response = self.subscriber.pull(
                    request={"subscription": self.subscription, "max_messages": 1}, timeout=2, retry=None
                )
            except (gexc.DeadlineExceeded, gexc.ServiceUnavailable):
                continue
            except Exception as exc:  # noqa: BLE001 - the emulator going away during shutdown, or a hiccup
                if not self.stop_event.is_set():
                    log.warning("pulling %s failed: %s", self.subscription, exc)
                    self.stop_event.wait(1)
                continue
            for received in response.received_messages:
                if self.stop_event.is_set():
                    return
                self._deliver(received)

    def _deliver(self, received: Any) -> None:
        message = received.message
        status = self.post(message)
        try:
            if 200 <= status < 300:
                self._attempts.pop(message.message_id, None)
                self.delivered += 1
                self.subscriber.acknowledge(request={"subscription": self.subscription, "ack_ids": [received.ack_id]})
                return
            self.failed += 1
            attempt = self._attempts.get(message.message_id, 0) + 1
            self._attempts[message.message_id] = attempt
            backoff = min(RETRY_MAX_SECONDS, RETRY_MIN_SECONDS * 2 ** (attempt - 1))
            if not self.stop_event.is_set():
                log.warning(
                    "%s answered %s to message %s (attempt %d); redelivered in %d s",
                    self.url,
                    status or "no response",
                    message.message_id,
                    attempt,
                    backoff,
                )
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": self.subscription,
                    "ack_ids": [received.ack_id],
                    "ack_deadline_seconds": backoff,
                }
            )
        except Exception as exc:  # noqa: BLE001 - an unacked message is redelivered anyway
            if not self.stop_event.is_set():
                log.warning("acknowledging on %s failed: %s", self.subscription, exc)

    def post(self, message: Any) -> int:
        """POST one pulled Pub/Sub message as Eventarc does; returns the HTTP status (0: none)."""
        return post_pubsub_event(
            self.url,
            data=message.data,
            topic=self.topic,
            subscription=self.subscription,
            message_id=message.message_id,
            attributes=dict(message.attributes),
            publish_time=message.publish_time,
            ordering_key=message.ordering_key,
        )


class Scheduler(threading.Thread):
    """Publishes the poll tick (data `{}`, as the Cloud Scheduler job in infra/scheduler.tf) every `interval` s."""

    def __init__(self, publisher: Any, topic: str, interval: float, stop: threading.Event) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.publisher = publisher
        self.topic = topic
        self.interval = interval
        self.stop_event = stop
        self.ticks = 0

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop_event.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.interval
            try:
                self.publisher.publish(self.topic, b"{}").result(timeout=10)
                self.ticks += 1
            except Exception as exc:  # noqa: BLE001 - a missed tick is covered by the next one
                if not self.stop_event.is_set():
                    log.warning("publishing the poll tick failed: %s", exc)
            next_at = max(next_at, time.monotonic())
