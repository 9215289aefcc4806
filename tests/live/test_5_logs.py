"""Vertex AI's own service log lines of a CustomJob, as push hints read them (issue 24): Cloud Logging
`entries.list` (v2 REST reference), resource.type="ml_job", resource.labels.task_name="service", and the label
ml.googleapis.com/job_state on state lines (seen in public captures, not documented as a contract)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from .support import Jobs
from .target import Target, facts

pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]
FACTS = facts()


def _entries(target: Target, filter_: str) -> list[dict[str, Any]]:
    """Every entry matching `filter_`, oldest first, read through the connector's own Cloud Logging adapter
    (functions/polysync_vertex/adapters/cloud_logging.py: entries:list over REST)."""
    from polysync_vertex.adapters.cloud_logging import CloudLogging

    reader = CloudLogging(endpoint="" if target.live else target.logging_endpoint, call_timeout=60)
    out: list[dict[str, Any]] = []
    token = ""
    while True:
        page, token = reader.list_entries(
            [target.project], filter_, time.monotonic() + 60, page_token=token, newest_first=False
        )
        out += page
        if not token:
            return out


@pytest.mark.fact("service_logs")
def test_service_lines_carry_the_job_state_label(target: Target, jobs: Jobs, succeeded_job: Any, record: Any) -> None:
    fact = FACTS["service_logs"]
    job_id = succeeded_job.name.rsplit("/", 1)[1]
    filter_ = (
        f'resource.type="{fact["resource_type"]}" AND resource.labels.job_id="{job_id}" '
        f'AND resource.labels.task_name="{fact["task_name"]}"'
    )
    deadline = time.monotonic() + (300 if target.live else 2)  # Cloud Logging ingestion takes a while
    while True:
        entries = _entries(target, filter_)
        states = [
            e.get("labels", {}).get(fact["state_label"]) for e in entries if fact["state_label"] in e.get("labels", {})
        ]
        if (states and str(states[-1]).endswith(fact["final_state_suffix"])) or time.monotonic() > deadline:
            break
        time.sleep(15 if target.live else 0.1)
    record(
        lines=[(e.get("jsonPayload") or {}).get("message") or e.get("textPayload") for e in entries][:20],
        job_state_values=states,
        label_keys=sorted({k for e in entries for k in e.get("labels", {})}),
    )
    assert entries, f"no service lines for job {job_id}"
    assert states, f"no line carries the label {fact['state_label']}"
    assert str(states[-1]).endswith(fact["final_state_suffix"])

    # The hint sink's clause for Custom Jobs (infra/hints.tf), as a query: accepted, and it keeps the state lines.
    sink = _sink_clause()
    kept = _entries(target, f'{sink} AND resource.labels.job_id="{job_id}"')
    record(sink_clause=sink, sink_kept=[e.get("labels", {}).get(fact["state_label"]) for e in kept])
    assert [e.get("labels", {}).get(fact["state_label"]) for e in kept] == states


def _sink_clause() -> str:
    """The ml_job clause of the hint sink's filter, read from infra/hints.tf (HCL string escapes undone)."""
    text = (Path(__file__).resolve().parents[2] / "infra" / "hints.tf").read_text()
    match = re.search(r'"(\(resource\.type=\\"ml_job\\".*?\))"', text)
    assert match, "infra/hints.tf has no ml_job clause"
    return match.group(1).replace('\\"', '"')
