"""Pipeline Job facts: a repeated pipelineJobId answers ALREADY_EXISTS; what the suite sends."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from polysync_vertex.core import kinds
from polysync_vertex.core.errors import UpstreamError

from .support import Jobs, error_body, pipeline_job
from .target import RUN_LABEL, Target, facts

pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]
FACTS = facts()


@pytest.mark.fact("pipeline_job_id_repeated")
def test_a_repeated_pipeline_job_id_is_already_exists(
    target: Target, jobs: Jobs, succeeded_pipeline: tuple[Any, Any], pipeline_id: str, record: Any
) -> None:
    """The contract's second guarantee of one job per requestId (a create with the same id answers 409), seen
    through the adapter the connector uses (functions/polysync_vertex/adapters/vertex.py)."""
    from polysync_vertex.adapters.vertex import VertexJobs

    sent, done = succeeded_pipeline
    fact = FACTS["pipeline_job_id_repeated"]
    with pytest.raises(gexc.GoogleAPICallError) as raw:
        jobs.create(
            lambda: jobs.pipelines.create_pipeline_job(
                parent=target.parent, pipeline_job=sent, pipeline_job_id=pipeline_id
            )
        )
    body = error_body(raw.value)["error"]
    record(http=raw.value.code, status=body.get("status"), message=str(body.get("message"))[:300])
    assert (raw.value.code, body.get("status"), body.get("code")) == (fact["http"], fact["status"], fact["http"])

    adapter = VertexJobs(endpoint="" if target.live else target.api_endpoint)
    as_json = type(sent).to_dict(sent, use_integers_for_enums=False, preserving_proto_field_name=False)
    with pytest.raises(UpstreamError) as mapped:
        jobs.create(
            lambda: adapter.create(
                target.parent,
                as_json,
                time.monotonic() + 60,
                kind=kinds.BY_COLLECTION["pipelineJobs"],
                job_id=pipeline_id,
            )
        )
    assert mapped.value.code == fact["status"]
    listed = jobs.pipelines.list_pipeline_jobs(
        request={"parent": target.parent, "filter": f'labels.{RUN_LABEL}="{target.session}"'}
    )
    assert [j.name for j in listed] == [done.name], "the refused creates made no second job"


def test_pipeline_body_carries_no_scripted_parameters_on_vertex_ai(target: Target) -> None:
    """The emulator's scripted parameters stay out of what is sent to Vertex AI (it refuses undeclared ones)."""
    live = Target(**{**target.__dict__, "name": "vertex-ai"})
    body = pipeline_job(live, "x", job_labels={}, scenario="SUCCEEDED")
    assert dict(body.runtime_config.parameter_values) == {}
    assert body.pipeline_spec["root"]["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "NUMBER_INTEGER"
