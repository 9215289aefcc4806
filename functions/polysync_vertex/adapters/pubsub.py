"""Publishing status events and shard work to Pub/Sub, with ordering keys."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..core.events import Message

PUBLISH_TIMEOUT = 30.0


class Publisher:
    def __init__(self) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        self.client = pubsub_v1.PublisherClient(
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
        )
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def publish(self, topic: str, messages: Sequence[Message]) -> set[str]:
        """Publish in order; returns the ce-ids that Pub/Sub accepted.

        Per ordering key, a failure pauses the key: later messages of that run are not sent (they stay in the
        outbox for the next tick), and the key is resumed for the next attempt.
        """
        futures: list[tuple[Message, Any]] = []
        failed_keys: set[str] = set()
        for message in messages:
            if message.ordering_key in failed_keys:
                continue
            try:
                future = self.client.publish(
                    topic, message.data, ordering_key=message.ordering_key, **message.attributes
                )
            except Exception:  # noqa: BLE001 - e.g. a key still paused by an earlier failure
                failed_keys.add(message.ordering_key)
                continue
            futures.append((message, future))
        published: set[str] = set()
        deadline = time.monotonic() + PUBLISH_TIMEOUT  # one budget for the whole batch, not one per message
        for message, future in futures:
            if message.ordering_key in failed_keys:
                continue
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
                published.add(message.ce_id)
            except Exception:  # noqa: BLE001 - any failure leaves the event in the outbox
                failed_keys.add(message.ordering_key)
        for key in failed_keys:
            # Only a key whose publish failed for good is paused; one that merely timed out here is still being
            # retried by the client library, and resuming it would raise.
            with contextlib.suppress(RuntimeError):
                self.client.resume_publish(topic, key)
        with self._lock:
            self.counts["published"] += len(published)
            self.counts["failed"] += len(messages) - len(published)
        return published

    def publish_plain(self, topic: str, data: bytes, **attributes: str) -> None:
        self.client.publish(topic, data, **attributes).result(timeout=PUBLISH_TIMEOUT)
