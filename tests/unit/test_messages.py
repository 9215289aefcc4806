"""Messages callers read: no internal URLs from the client library, durations that read right under a minute."""

from __future__ import annotations

from datetime import timedelta

from polysync_vertex.core import runs
from polysync_vertex.core.errors import UpstreamError
from polysync_vertex.services.upstream import api_error
from tests.unit.test_runs_events import T0, make_run


def test_upstream_message_drops_the_request_line() -> None:
    raw = (
        "POST http://127.0.0.1:8789/v1/projects/p/locations/us-central1/customJobs?%24alt=json%3Benum-encoding%3Dint: "
        "Invalid value at 'custom_job.job_spec' (TYPE_STRING), 5"
    )
    err = api_error(UpstreamError("INVALID_ARGUMENT", raw, method="CreateCustomJob"), project="p")
    assert "http" not in err.message and "%24alt" not in err.message
    assert "Invalid value at 'custom_job.job_spec'" in err.message


def test_queued_too_long_under_a_minute_says_seconds() -> None:
    run = make_run("JOB_STATE_QUEUED")
    entry = runs.queued_too_long(run, T0 + timedelta(seconds=45), threshold_seconds=30)
    assert entry is not None
    message = entry["data"]["message"]
    assert "for 45 s (threshold 30 s)" in message and "0 min" not in message


def test_queued_too_long_in_minutes() -> None:
    run = make_run("JOB_STATE_QUEUED")
    entry = runs.queued_too_long(run, T0 + timedelta(minutes=31), threshold_seconds=1800)
    assert entry is not None and "for 31 min (threshold 30 min)" in entry["data"]["message"]
