"""The Cloud Logging adapter (`LogReader`) against the Vertex AI emulator's entries:list: one call per page, the
kind's filter, newest first, paging, and a failing Logging raised as UpstreamError without a retry."""

from __future__ import annotations

import time
from typing import Any

import pytest

from polysync_vertex.adapters.cloud_logging import CloudLogging
from polysync_vertex.core import diagnostics, kinds
from polysync_vertex.core.errors import UpstreamError
from polysync_vertex.core.names import JobResourceName
from tests.integration.test_poll_cancel import submit_run

pytestmark = pytest.mark.timeout(120)


def test_reads_a_jobs_entries_newest_first_with_paging(app: Any, vertex: Any, settings: Any) -> None:
    run_id = submit_run(app, "logs-read")
    vertex.set_state(run_id, "JOB_STATE_FAILED")
    reader = CloudLogging(settings.logging_endpoint)
    assert reader.endpoint == settings.vertex_endpoint  # the emulator serves entries:list on its own endpoint
    name = JobResourceName(*run_id.split("/")[1::2][:3], "customJobs")  # type: ignore[arg-type]
    filter_ = kinds.CUSTOM.log_filter(name, {})
    deadline = time.monotonic() + 10
    entries, token = reader.list_entries([name.project], filter_, deadline, page_size=1000)
    assert entries and not token
    assert all(diagnostics.entry_job_id(e) == name.job_id for e in entries)
    times = [e["timestamp"] for e in entries]
    assert times == sorted(times, reverse=True)
    first, token = reader.list_entries([name.project], filter_, deadline, page_size=1)
    assert len(first) == 1 and token and first[0] == entries[0]
    second, _ = reader.list_entries([name.project], filter_, deadline, page_size=1, page_token=token)
    assert second == entries[1:2]
    assert reader.calls["ListLogEntries"] == 3
    assert vertex.calls()["ListLogEntries"] == 3


def test_a_failing_logging_is_one_call_and_an_upstream_error(vertex: Any, settings: Any) -> None:
    reader = CloudLogging(settings.logging_endpoint)
    vertex.reset_calls()
    vertex.add_fault(method="ListLogEntries", http_status=503, count=1)
    with pytest.raises(UpstreamError) as err:
        reader.list_entries(["local-project"], "", time.monotonic() + 10)
    assert err.value.code == "UNAVAILABLE" and err.value.method == "ListLogEntries"
    assert vertex.calls()["ListLogEntries"] == 1  # never retried: a read is quota
    with pytest.raises(UpstreamError) as bad:
        reader.list_entries(["local-project"], "resource.type=(", time.monotonic() + 10)
    assert bad.value.code == "INVALID_ARGUMENT"
    unreachable = CloudLogging("http://127.0.0.1:9")
    with pytest.raises(UpstreamError) as down:
        unreachable.list_entries(["local-project"], "", time.monotonic() + 5)
    assert down.value.code == "UNAVAILABLE"
