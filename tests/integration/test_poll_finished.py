"""Issue 18: finished runs' final states come from list calls filtered by their request labels; a job such a call
does not return, or a Vertex AI that rejects the filter, falls back to GETs (counted calls, not time)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_poll_cancel import submit_run


def _app_with(settings: Any, vertex_class: type) -> Any:
    from polysync_vertex import bootstrap

    return bootstrap.build(settings, vertex=vertex_class(settings.vertex_endpoint))


def _finish(app: Any, vertex: Any, n: int, prefix: str) -> list[str]:
    run_ids = [submit_run(app, f"{prefix}-{i}") for i in range(n)]
    app.poll.poll(None)  # the first tick: full scan, everything still pending
    for run_id in run_ids:
        vertex.set_state(run_id, "JOB_STATE_SUCCEEDED")
    vertex.reset_calls()
    return run_ids


def test_finished_jobs_are_read_by_label_lists(app: Any, vertex: Any) -> None:
    run_ids = _finish(app, vertex, 3, "fin-list")
    summary = app.poll.poll(None)
    assert summary["changes"] == 3
    calls = {k: v for k, v in vertex.calls().items() if v}
    assert calls == {"ListCustomJobs": 2}  # the non-final walk and one label list for the three
    assert all(app.runs.status(r)[1]["status"] == "Success" for r in run_ids)


def test_a_finished_job_missing_from_the_label_list_is_read_by_get(settings: Any, vertex: Any) -> None:
    from polysync_vertex.adapters.vertex import VertexJobs

    class DropsOne(VertexJobs):
        def list_page(self, parent: str, deadline: float, **kw: Any) -> tuple[list[dict[str, Any]], str]:
            jobs, token = super().list_page(parent, deadline, **kw)
            if "polysync-request" in kw.get("filter", ""):
                jobs = jobs[1:]  # a list that misses one of the jobs asked for
            return jobs, token

    app = _app_with(settings, DropsOne)
    run_ids = _finish(app, vertex, 3, "fin-drop")
    summary = app.poll.poll(None)
    assert summary["changes"] == 3
    assert vertex.calls().get("GetCustomJob") == 1 and vertex.calls().get("ListCustomJobs") == 2
    assert all(app.runs.status(r)[1]["status"] == "Success" for r in run_ids)


def test_a_rejected_label_filter_falls_back_to_gets_logged_once(
    settings: Any, vertex: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from polysync_vertex.adapters.vertex import VertexJobs
    from polysync_vertex.core.errors import UpstreamError

    class RejectsLabelOr(VertexJobs):
        def list_page(self, parent: str, deadline: float, **kw: Any) -> tuple[list[dict[str, Any]], str]:
            if "polysync-request" in kw.get("filter", ""):
                self.calls["ListCustomJobs"] += 1
                raise UpstreamError("INVALID_ARGUMENT", "unsupported filter", method="ListCustomJobs")
            return super().list_page(parent, deadline, **kw)

    app = _app_with(settings, RejectsLabelOr)
    run_ids = _finish(app, vertex, 3, "fin-reject")
    summary = app.poll.poll(None)
    assert summary["changes"] == 3
    assert vertex.calls().get("GetCustomJob") == 3  # one GET per finished run, never a wrong state
    assert all(app.runs.status(r)[1]["status"] == "Success" for r in run_ids)
    assert capsys.readouterr().out.count("rejected the label OR filter") == 1


def test_a_transient_filter_rejection_falls_back_for_a_while_then_the_normal_filters_come_back(
    app: Any, vertex: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 30 finding 4: one 400 on the state filter (injected by the emulator, once) made the poller list by
    label alone for the life of the instance. Now it falls back for that tick, until a back-off ends, then tries the
    state filter again; the rejection is counted and logged."""
    filters: list[str] = []
    original = app.vertex.list_page

    def spy(parent: str, deadline: float, **kw: Any) -> Any:
        filters.append(kw.get("filter", ""))
        return original(parent, deadline, **kw)

    app.vertex.list_page = spy
    now = [1000.0]
    unsupported = app.poll.observer.unsupported
    unsupported.clock = lambda: now[0]
    run_ids = [submit_run(app, f"transient-{i}") for i in range(2)]
    vertex.add_fault(method="ListCustomJobs", http_status=400, status="INVALID_ARGUMENT", count=1)
    app.poll.poll(None)
    assert len([f for f in filters if "state=" in f]) == 1  # the one rejected, then the label-only walk
    assert sum(unsupported.counts.values()) == 1
    assert "rejected the state filter" in capsys.readouterr().out
    filters.clear()
    app.poll.poll(None)  # inside the back-off: label only
    assert filters and not any("state=" in f for f in filters)
    now[0] += unsupported.FIRST_BACKOFF_SECONDS + 1
    filters.clear()
    vertex.set_state(run_ids[0], "JOB_STATE_SUCCEEDED")
    app.poll.poll(None)  # the back-off ended: the state filter again, accepted
    assert any("state=" in f for f in filters)
    filters.clear()
    now[0] += 1
    app.poll.poll(None)
    assert any("state=" in f for f in filters) and sum(unsupported.counts.values()) == 1
    assert app.runs.status(run_ids[0])[1]["status"] == "Success"
