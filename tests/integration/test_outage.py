"""Issue 30, finding 7 (and 2b): a Pub/Sub outage does not multiply events, nor kill the poller. The Pub/Sub
emulator behind a TCP proxy that stalls (tests/faults.py): publishes hang as in an outage, then go through."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import pull_events
from tests.faults import StallingProxy, stalling_emulator
from tests.integration.test_poll_cancel import submit_run


@pytest.fixture
def pubsub_proxy(
    cloud_emulators: dict[str, str], status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StallingProxy]:
    with stalling_emulator(cloud_emulators["pubsub"], "PUBSUB_EMULATOR_HOST", monkeypatch) as stalling:
        yield stalling


def _outage_app(settings: Any) -> Any:
    from polysync_vertex import bootstrap

    app = bootstrap.build(settings)
    app.publisher.timeout = 1.0  # how long a tick waits for its publishes (30 s deployed)
    return app


def test_an_outage_leaves_one_publish_per_event_and_no_earlier_event_after_a_later_one(
    settings: Any, vertex: Any, status_subscription: str, pubsub_proxy: StallingProxy
) -> None:
    app = _outage_app(settings)
    run_ids = [submit_run(app, f"outage-{i}") for i in range(2)]
    pubsub_proxy.stall()
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_RUNNING")
    assert app.poll.poll(None)["eventsPublished"] == 0  # sequence 2 of each run: in flight, not accepted
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    for _ in range(4):  # the outage goes on for four more ticks
        assert app.poll.poll(None)["eventsPublished"] == 0
    # One publish per event in flight; the terminal events wait behind them (was: every pending event once more
    # per tick, all buffered in the client library).
    assert app.publisher.counts["sent"] == 2
    pubsub_proxy.resume()
    published = 0
    for _ in range(5):
        published += app.poll.poll(None)["eventsPublished"]
        if published >= 4:
            break
    assert published == 4 and app.publisher.counts["sent"] == 4
    assert app.poll.poll(None)["eventsPublished"] == 0
    events = pull_events(status_subscription, expect=4, max_wait=15)
    per_run: dict[str, list[int]] = defaultdict(list)
    for e in events:
        per_run[e["data"]["runId"]].append(int(e["data"]["sequence"]))
    assert set(per_run) == set(run_ids)
    for sequences in per_run.values():
        assert sorted(set(sequences)) == [2, 3]
        assert sequences.index(3) > max(i for i, s in enumerate(sequences) if s == 2)  # never 2 after 3
        assert max(Counter(sequences).values()) <= 2  # at most the library's own retry of the one publish


def test_a_big_run_and_an_outage_do_not_stop_the_poller(
    settings: Any, vertex: Any, status_subscription: str, pubsub_proxy: StallingProxy
) -> None:
    """7,000 Output names made a 413 KB record and each event ~400 KB: an outage let the outbox push the record
    over 1 MiB, and the poller stayed dead after Pub/Sub returned. Now the events are small and the record
    bounded: every change is recorded and, once Pub/Sub is back, published."""
    from polysync_vertex.core import kinds, storable
    from tests.helpers import example_body

    app = _outage_app(settings)
    body = example_body("big-outage-1")
    body["parameters"] += [{"name": f"OUT_{i:05d}", "direction": "Output"} for i in range(7000)]
    body["parameters"].append(
        {"name": "VERTEX_EMULATOR_SCENARIO", "type": "String", "value": "PENDING:600,RUNNING:600,SUCCEEDED"}
    )
    run_id = app.submit.submit(body)[1]["runId"]
    pubsub_proxy.stall()
    for state in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"):
        vertex.set_state(run_id, state)
        assert app.poll.poll(None)["changes"] == 1
    _, name = kinds.parse_run_name(run_id, "runId")
    stored = app.store.get_run(kinds.run_doc_id(name))
    assert stored is not None and len(stored["outbox"]) == 3
    assert storable.document_bytes(stored) < 200_000
    pubsub_proxy.resume()
    published = sum(app.poll.poll(None)["eventsPublished"] for _ in range(5))
    assert published == 3
    events = pull_events(status_subscription, expect=3, max_wait=15)
    assert sorted({int(e["data"]["sequence"]) for e in events}) == [2, 3, 4]
