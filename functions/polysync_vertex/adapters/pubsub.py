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
# The client library's own retry of one publish ends after this; the event then stays in its run's outbox and a
# later tick publishes it again (same ce-id).
LIBRARY_RETRY_SECONDS = 120.0
# What the client library may hold unsent (google.cloud.pubsub_v1.types.PublishFlowControl; its default is IGNORE,
# unbounded): past it a publish fails at once and the event waits in the outbox.
BUFFER_MESSAGES = 1000
BUFFER_BYTES = 16 * 1024 * 1024


class Publisher:
    """Status events with ordering key = runId, at most one publish in flight per event (ce-id) in this instance.

    What Pub/Sub gives and does not give (google-cloud-pubsub, publisher/_sequencer/ordered_sequencer.py; Google's
    "Message ordering" page, https://cloud.google.com/pubsub/docs/ordering): messages of one ordering key published
    from one client reach subscribers in publish order; a failed publish pauses its key in the client (every later
    publish of that key fails until `resume_publish`), so nothing later overtakes it. Pub/Sub does not deduplicate
    publishes: a message published twice is delivered twice, and redelivery of a message also redelivers every later
    message of its key, acknowledged or not. So consumers still drop duplicates by ce-id (the contract).

    What this class adds: an event whose publish is still in flight (the library retrying through an outage) is
    never published again by a later tick, in this instance; its outcome is collected by whichever tick finds it
    done. So an outage of any length leaves one copy per event in the library's buffer (was one more per tick), the
    buffer is bounded (`BUFFER_*`), and an earlier event is never published again after a later one of the same
    run was accepted: a run's events are sent in sequence order, and a later one only after every earlier one in
    flight (the key stays blocked while one is pending)."""

    def __init__(self, timeout: float = PUBLISH_TIMEOUT) -> None:
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry, if_exception_type
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        types = pubsub_v1.types
        self.client = pubsub_v1.PublisherClient(
            publisher_options=types.PublisherOptions(
                enable_message_ordering=True,
                flow_control=types.PublishFlowControl(
                    message_limit=BUFFER_MESSAGES,
                    byte_limit=BUFFER_BYTES,
                    limit_exceeded_behavior=types.LimitExceededBehavior.ERROR,
                ),
                # The library's default retry of Publish (publisher/transports/base.py), ended sooner.
                retry=Retry(
                    predicate=if_exception_type(
                        gexc.Aborted,
                        gexc.Cancelled,
                        gexc.DeadlineExceeded,
                        gexc.InternalServerError,
                        gexc.ResourceExhausted,
                        gexc.ServiceUnavailable,
                        gexc.Unknown,
                    ),
                    initial=0.1,
                    maximum=60.0,
                    multiplier=4.0,
                    timeout=LIBRARY_RETRY_SECONDS,
                ),
            )
        )
        self.timeout = timeout
        self.counts: Counter[str] = Counter()
        self._inflight: dict[str, Any] = {}  # ce-id -> the library's future of its one publish
        self._lock = threading.Lock()

    def publish(self, topic: str, messages: Sequence[Message]) -> set[str]:
        """Publish in order; returns the ce-ids that Pub/Sub accepted (now or in an earlier tick's publish).

        Per ordering key, messages go in the given order; a message whose earlier publish is still in flight is
        not sent again, and blocks the rest of its key for this call. A failure pauses the key: later messages of
        that run are not sent (they stay in the outbox for the next tick), and the key is resumed.
        """
        futures: list[tuple[Message, Any]] = []
        blocked: set[str] = set()  # keys with a failure or a publish still pending: nothing later is sent now
        failed_keys: set[str] = set()
        published: set[str] = set()
        with self._lock:
            for message in messages:
                key = message.ordering_key
                if key in blocked:
                    continue
                earlier = self._inflight.get(message.ce_id)
                if earlier is not None:
                    if not earlier.done():
                        self.counts["stillInFlight"] += 1
                        futures.append((message, earlier))
                        blocked.add(key)  # nothing later of this run before it is accepted
                        continue
                    del self._inflight[message.ce_id]
                    if earlier.exception() is None:
                        published.add(message.ce_id)  # accepted after an earlier tick stopped waiting
                        continue
                    failed_keys.add(key)  # failed for good: the key is paused; resumed below, sent next tick
                    blocked.add(key)
                    continue
                try:
                    future = self.client.publish(topic, message.data, ordering_key=key, **message.attributes)
                except Exception:  # noqa: BLE001 - a key still paused by an earlier failure, a full buffer
                    failed_keys.add(key)
                    blocked.add(key)
                    continue
                self.counts["sent"] += 1
                self._inflight[message.ce_id] = future
                futures.append((message, future))
        deadline = time.monotonic() + self.timeout  # one budget for the whole batch, not one per message
        for message, future in futures:
            if message.ordering_key in failed_keys:
                continue
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                continue  # still in flight: the library goes on; a later tick collects it, never resends it
            except Exception:  # noqa: BLE001 - failed for good: the event stays in the outbox
                failed_keys.add(message.ordering_key)
                with self._lock:
                    self._inflight.pop(message.ce_id, None)
                continue
            published.add(message.ce_id)
            with self._lock:
                self._inflight.pop(message.ce_id, None)
        for key in failed_keys:
            # Only a key whose publish failed for good is paused; one still in flight is being retried by the
            # client library, and resuming it would raise.
            with contextlib.suppress(RuntimeError):
                self.client.resume_publish(topic, key)
        with self._lock:
            self.counts["published"] += len(published)
            self.counts["failed"] += len(messages) - len(published)
            if len(self._inflight) > BUFFER_MESSAGES:
                # Finished publishes no tick came back for (their runs' outboxes were emptied elsewhere): forgotten,
                # so the map stays as bounded as the library's buffer.
                for ce_id in [c for c, f in self._inflight.items() if f.done()]:
                    del self._inflight[ce_id]
        return published

    def publish_plain(self, topic: str, data: bytes, **attributes: str) -> None:
        self.client.publish(topic, data, **attributes).result(timeout=self.timeout)
