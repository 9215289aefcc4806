"""Cancel semantics: CANCELLING, then CANCELLED with error code 1; a repeated cancel; cancel of a finished job.
Runs after the list facts (file order): it cancels the shared running job they look at."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from polysync_vertex.core.errors import UpstreamError

from .support import Jobs, error_body
from .target import Target, facts

pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]
FACTS = facts()


@pytest.mark.fact("cancel")
def test_cancel_goes_through_cancelling_to_cancelled(jobs: Jobs, running_job: Any, record: Any) -> None:
    fact = FACTS["cancel"]
    assert running_job.state.name == "JOB_STATE_RUNNING", running_job.error
    jobs.jobs.cancel_custom_job(name=running_job.name)
    seen = [jobs.get(running_job.name).state.name]
    repeated_ok = True
    if seen[0] == fact["states"][0]:
        try:
            jobs.jobs.cancel_custom_job(name=running_job.name)  # the connector's cancel may be repeated
        except gexc.GoogleAPICallError as exc:
            repeated_ok = False
            record(repeat_error={"http": exc.code, "body": error_body(exc)})
    final = jobs.wait(running_job.name, lambda j: j.state.name != fact["states"][0], "the end of CANCELLING")
    seen.append(final.state.name)
    record(states=seen, error_code=final.error.code, repeat_while_cancelling_ok=repeated_ok)
    assert seen == fact["states"]
    assert final.error.code == fact["error_code"]
    assert repeated_ok is fact["repeat_while_cancelling_ok"]


@pytest.mark.fact("cancel")
def test_cancel_of_a_finished_job(target: Target, jobs: Jobs, succeeded_job: Any, record: Any) -> None:
    from polysync_vertex.adapters.vertex import VertexJobs

    want = FACTS["cancel"]["finished_job"]
    with pytest.raises(gexc.GoogleAPICallError) as raw:
        jobs.jobs.cancel_custom_job(name=succeeded_job.name)
    error = error_body(raw.value)["error"]
    with pytest.raises(UpstreamError) as mapped:
        VertexJobs(endpoint="" if target.live else target.api_endpoint).cancel(
            succeeded_job.name, time.monotonic() + 60
        )
    after = jobs.get(succeeded_job.name).state.name
    record(http=raw.value.code, status=error.get("status"), message=str(error.get("message"))[:300], state_after=after)
    assert (raw.value.code, error.get("status"), mapped.value.code) == (want["http"], want["status"], want["status"])
    assert after == "JOB_STATE_SUCCEEDED"
