"""Vertex AI's own job-state log entries, as push hints read them (issue 24), through Cloud Logging `entries.list`
(https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list) and the connector's own adapter.

- Custom Jobs: resource.type="ml_job", resource.labels.task_name="service", and the label
  ml.googleapis.com/job_state on state lines (seen in public captures, not documented as a contract).
- Pipeline Jobs: Vertex AI "View pipeline job logs" (https://cloud.google.com/vertex-ai/docs/pipelines/logging) says,
  in its Logs Explorer steps: "Resource: Select Vertex Pipelines Job. [...] Log names: In the [...] section, select
  aiplatform.googlapis.com/pipeline_job_events." (sic, "googlapis"), and for gcloud:
  `gcloud logging read "projects/PROJECT_ID/logs/aiplatform.googleapis.com/pipeline_job_events" --limit=LIMIT`.
  The page (as found by the search tool) names neither `jsonPayload.state` nor the resource's labels: that the
  entries carry the state and `resource.labels.pipeline_job_id` / `project_id` / `location` is issue 24's reading
  (sky-uk/kfp-operator), which this fact checks and records.
"""

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
    sink = _sink_clause(fact["resource_type"], target.project)
    kept = _entries(target, f'{sink} AND resource.labels.job_id="{job_id}"')
    record(sink_clause=sink, sink_kept=[e.get("labels", {}).get(fact["state_label"]) for e in kept])
    assert [e.get("labels", {}).get(fact["state_label"]) for e in kept] == states


@pytest.mark.fact("pipeline_job_events")
def test_pipeline_job_events_carry_the_state_and_the_job(
    target: Target, succeeded_pipeline: tuple[Any, Any], record: Any
) -> None:
    from polysync_vertex.core.kinds.pipeline import PipelineJobKind

    fact = FACTS["pipeline_job_events"]
    # What the connector's hint reader keys on is what this fact checks.
    assert (PipelineJobKind.hint_resource_type, PipelineJobKind.hint_job_id_label) == (
        fact["resource_type"],
        fact["job_id_label"],
    )
    _, done = succeeded_pipeline
    assert done.state.name == fact["final_state"], done.error
    job_id = done.name.rsplit("/", 1)[1]
    filter_ = f'resource.type="{fact["resource_type"]}" AND resource.labels.{fact["job_id_label"]}="{job_id}"'
    deadline = time.monotonic() + (300 if target.live else 2)  # Cloud Logging ingestion takes a while
    while True:
        entries = _entries(target, filter_)
        events = [e for e in entries if str(e.get("logName", "")).endswith(fact["log_suffix"])]
        states = [(e.get("jsonPayload") or {}).get("state") for e in events]
        if (states and str(states[-1]).endswith(fact["final_state"])) or time.monotonic() > deadline:
            break
        time.sleep(15 if target.live else 0.1)
    labels = [(e.get("resource") or {}).get("labels") or {} for e in events]
    record(
        log_names=sorted({str(e.get("logName")) for e in entries}),
        states=states,
        messages=[(e.get("jsonPayload") or {}).get("message") for e in events][:20],
        json_payload_keys=sorted({k for e in events for k in e.get("jsonPayload") or {}}),
        resource_label_keys=sorted({k for entry_labels in labels for k in entry_labels}),
        location_labels=sorted({str(entry_labels.get("location")) for entry_labels in labels}),
    )
    assert events, f"no {fact['log_suffix']} entries for pipeline job {job_id} among {len(entries)} entries"
    assert all(isinstance(s, str) and s for s in states), f"an entry without jsonPayload.state: {states}"
    assert str(states[-1]).endswith(fact["final_state"]), f"the last state is not {fact['final_state']}: {states}"
    for entry_labels in labels:
        # services/poll/hints.py: project_id is required; without `location` every allowed location is tried.
        assert sorted(entry_labels) == fact["resource_labels"], f"resource.labels: {entry_labels}"
        assert (entry_labels["project_id"], entry_labels["location"]) == (target.project, target.location)
        assert entry_labels[fact["job_id_label"]] == job_id

    # The hint sink's PipelineJob clause (infra/hints.tf), as a query: it keeps exactly those state entries.
    sink = _sink_clause(fact["resource_type"], target.project)
    kept = _entries(target, f'{sink} AND resource.labels.{fact["job_id_label"]}="{job_id}"')
    record(sink_clause=sink, sink_kept=[(e.get("jsonPayload") or {}).get("state") for e in kept])
    assert [e.get("insertId") for e in kept] == [e.get("insertId") for e in events]


def _sink_clause(resource_type: str, project: str) -> str:
    """The hint sink filter's clause for `resource_type`, read from infra/hints.tf (HCL string escapes undone, the
    per-project `${p}` filled in)."""
    text = (Path(__file__).resolve().parents[2] / "infra" / "hints.tf").read_text()
    match = re.search(r'"(\(resource\.type=\\"' + re.escape(resource_type) + r'\\".*?\))"', text)
    assert match, f"infra/hints.tf has no {resource_type} clause"
    return match.group(1).replace('\\"', '"').replace("${p}", project)
