"""Batch Prediction facts: a finished job's outputInfo and completionStats, also in a list with the poller's read
mask. Against Vertex AI only with --live-batch-model (a Model resource name) and PSV_LIVE_BATCH_INPUT."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud.aiplatform_v1 import types
from google.protobuf import field_mask_pb2

from polysync_vertex.core import kinds

from .support import SCENARIO, Jobs, labels
from .target import RUN_LABEL, Target, facts

pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]
FACTS = facts()


@pytest.mark.fact("batch_outputs")
def test_a_finished_batch_job_reports_its_outputs(
    target: Target, jobs: Jobs, request: pytest.FixtureRequest, record: Any
) -> None:
    model = str(request.config.getoption("--live-batch-model"))
    if target.live and not model:
        pytest.skip("Batch Prediction runs against Vertex AI only with --live-batch-model (it costs the most)")
    if target.live and not (target.batch_input and target.pipeline_root):
        pytest.fail(
            "--live-batch-model needs PSV_LIVE_BATCH_INPUT (gs://.../instances.jsonl) and PSV_LIVE_PIPELINE_ROOT"
        )
    fact = FACTS["batch_outputs"]
    job = types.BatchPredictionJob(
        display_name="psv-live-batch",
        labels=labels(target, f"live-{target.session}-batch", "psv-live-batch"),
        model=model or f"{target.parent}/models/live-model",
        input_config=types.BatchPredictionJob.InputConfig(
            instances_format="jsonl", gcs_source=types.GcsSource(uris=[target.batch_input])
        ),
        output_config=types.BatchPredictionJob.OutputConfig(
            predictions_format="jsonl",
            gcs_destination=types.GcsDestination(output_uri_prefix=f"{target.pipeline_root}/batch-{target.session}"),
        ),
        dedicated_resources=types.BatchDedicatedResources(
            machine_spec=types.MachineSpec(machine_type=target.machine_type),
            starting_replica_count=1,
            max_replica_count=1,
        ),
    )
    if not target.live:
        job.model_parameters = {SCENARIO: "PENDING:1,RUNNING:2,SUCCEEDED"}
    created = jobs.create(lambda: jobs.jobs.create_batch_prediction_job(parent=target.parent, batch_prediction_job=job))
    done = jobs.wait(created.name, lambda j: j.state.name.endswith(("SUCCEEDED", "FAILED", "CANCELLED")), "an end")
    mask = kinds.BY_COLLECTION["batchPredictionJobs"].read_mask  # the poller's own
    request_ = types.ListBatchPredictionJobsRequest(
        parent=target.parent,
        filter=f'labels.{RUN_LABEL}="{target.session}"',
        read_mask=field_mask_pb2.FieldMask(paths=list(mask)),
    )
    listed = list(next(iter(jobs.jobs.list_batch_prediction_jobs(request=request_).pages)).batch_prediction_jobs)
    got = types.BatchPredictionJob.to_dict(done, preserving_proto_field_name=False)
    in_list = types.BatchPredictionJob.to_dict(listed[0], preserving_proto_field_name=False) if listed else {}
    record(state=done.state.name, output_info=got.get("outputInfo"), completion_stats=got.get("completionStats"))
    assert done.state.name == fact["final_state"], done.error
    for name in fact["fields"]:
        assert got.get(name), f"{name} missing on the finished job"
        assert in_list.get(name) == got.get(name), f"{name} differs in a list with the poller's read mask"
