"""How a tick writes (against the Firestore emulator): its changes in one commit and their published events dropped
in one more, each run with its own precondition; a run written by someone else meanwhile makes that commit fall
back to one write per run, and nothing is lost or doubled; the index documents hold their entries as one JSON text,
and an index written in the earlier form (a map) is still read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from polysync_vertex.adapters.firestore import RunStore, stored
from polysync_vertex.services.poll import index as poll_index
from tests.integration.test_poll_cancel import status_events, submit_run


def _count_calls(monkeypatch: pytest.MonkeyPatch, *names: str) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    for name in names:
        original = getattr(RunStore, name)

        def counted(self: Any, *args: Any, __name: str = name, __original: Any = original, **kwargs: Any) -> Any:
            counts[__name] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(RunStore, name, counted)
    return counts


def _finished(app: Any, vertex: Any, n: int, tag: str) -> list[str]:
    run_ids = [submit_run(app, f"{tag}-{i}") for i in range(n)]
    app.poll.poll(None)  # full scan: all pending
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    return run_ids


def test_a_tick_records_its_changes_in_one_commit_and_drops_their_events_in_one(
    app: Any, vertex: Any, status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ids = _finished(app, vertex, 12, "batch")
    status_events(status_subscription, expect=12)  # the events of the first tick
    counts = _count_calls(monkeypatch, "_commit_runs", "update_run", "get_run", "get_runs")
    # As in a steady state, the runs were recorded long before this tick: known from the index alone, then read.
    monkeypatch.setattr(poll_index, "NEW_RUN_MARGIN_SECONDS", -3600)
    summary = app.poll.poll(None)
    assert summary["changes"] == 12 and summary["eventsPublished"] == 12
    # One commit records the 12 changes, one drops the 12 published events; the 12 runs were read in one call.
    assert counts == {"_commit_runs": 2, "update_run": 0, "get_run": 0, "get_runs": 1}
    for run_id in run_ids:
        code, run = app.runs.status(run_id)
        assert code == 200 and run["status"] == "Success"
    ours = [stored.decode(d.to_dict()) for d in app.store.runs.stream() if d.to_dict().get("runId") in run_ids]
    assert len(ours) == 12 and all(not r["outbox"] and r["sequence"] == 2 for r in ours)
    events = status_events(status_subscription, expect=12)
    assert sorted(e["data"]["runId"] for e in events) == sorted(run_ids)
    assert {e["data"]["status"] for e in events} == {"Success"}


def test_a_run_written_elsewhere_during_the_tick_makes_the_commit_fall_back_per_run(
    app: Any, vertex: Any, status_subscription: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ids = _finished(app, vertex, 5, "conflict")
    status_events(status_subscription, expect=5)
    counts = _count_calls(monkeypatch, "_commit_runs", "update_run")
    original = RunStore.update_runs
    touched: list[str] = []

    def update_runs(self: Any, items: list[tuple[str, Any]]) -> Any:
        if items and not touched:
            # Someone else (an overlapping poller, a cancel) writes one of the runs after this tick read it.
            doc_id = items[2][0]
            self.runs.document(doc_id).update({"lastPolled": "2026-12-01T00:00:00Z"})
            touched.append(doc_id)
        return original(self, items)

    monkeypatch.setattr(RunStore, "update_runs", update_runs)
    summary = app.poll.poll(None)
    assert touched and summary["changes"] == 5 and summary["eventsPublished"] == 5
    # The recording commit was refused as a whole; each of its 5 runs was then written on its own (re-read,
    # change re-applied). The drop commit went through.
    assert counts == {"_commit_runs": 2, "update_run": 5}
    ours = [stored.decode(d.to_dict()) for d in app.store.runs.stream() if d.to_dict().get("runId") in run_ids]
    assert len(ours) == 5
    assert all(r["status"] == "Success" and r["sequence"] == 2 and not r["outbox"] for r in ours)
    events = status_events(status_subscription, expect=5)
    assert sorted(e["data"]["runId"] for e in events) == sorted(run_ids)  # each once
    assert app.poll.poll(None)["changes"] == 0 and status_events(status_subscription, expect=None) == []


def test_index_documents_hold_one_json_text_and_the_earlier_map_form_is_still_read(app: Any, vertex: Any) -> None:
    run_ids = [submit_run(app, f"index-{i}") for i in range(6)]
    app.poll.poll(None)
    docs = [d for d in app.store.index.stream() if d.id.startswith("runs~")]
    assert docs and all(isinstance(d.to_dict()["runs"], str) for d in docs)
    members = {m: e for d in docs for m, e in json.loads(d.to_dict()["runs"]).items()}
    assert {e["runId"] for e in members.values()} == set(run_ids)
    # Written by an earlier version: a map of entries.
    for d in docs:
        d.reference.update({"runs": json.loads(d.to_dict()["runs"])})
    vertex.set_state(run_ids[0], "JOB_STATE_SUCCEEDED")
    summary = app.poll.poll(None)
    assert summary["fullScan"] is False and summary["runsSeen"] == 6 and summary["changes"] == 1
    assert app.runs.status(run_ids[0])[1]["status"] == "Success"
    rewritten = [d for d in app.store.index.stream() if d.id.startswith("runs~")]
    assert any(isinstance(d.to_dict()["runs"], str) for d in rewritten)
