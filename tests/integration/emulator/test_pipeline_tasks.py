"""A PipelineJob's jobDetail through the official ``PipelineServiceClient`` (REST), as Vertex AI reports it.

Google's own readers of that shape: python-aiplatform reads a run's output parameters from
``execution.metadata["output:<name>"]`` of the task whose ``execution.schema_title`` is ``system.Run``
(vertexai/language_models/_language_models.py) and finds that root task by ``task_name ==`` the job id
(google/cloud/aiplatform/model_evaluation/model_evaluation_job.py); ``PipelineJob.clone()`` reads a fetched job's
``runtime_config`` back as inputs, so it must come back as created; ``job_detail`` is "Not available in the list
view" (google/cloud/aiplatform_v1/types/pipeline_job.py), and the SDK's simple list view asks for
``job_detail.pipeline_run_context`` and ``job_detail.pipeline_context`` only (google/cloud/aiplatform/constants/
pipeline.py ``_READ_MASK_FIELDS``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from vertex_emulator import AdminClient, EmulatorServer

from .support import error_of, wait_pipeline_state

pytestmark = pytest.mark.timeout(120)
State = v1.PipelineTaskDetail.State
CUSTOM_JOB = re.compile(r"^projects/test-project/locations/loc-\d+/customJobs/\d+$")

CONTAINER = {"executorLabel": "exec"}
SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "dag-pipeline"},
    "schemaVersion": "2.1.0",
    "components": {"comp-step": CONTAINER, "comp-sub": {"dag": {"tasks": {}}}},
    "root": {
        "dag": {
            "tasks": {
                "prepare": {"taskInfo": {"name": "prepare"}, "componentRef": {"name": "comp-step"}},
                "train": {
                    "taskInfo": {"name": "train"},
                    "componentRef": {"name": "comp-step"},
                    "dependentTasks": ["prepare"],
                },
                "evaluate": {
                    "taskInfo": {"name": "evaluate"},
                    "componentRef": {"name": "comp-sub"},
                    "dependentTasks": ["train"],
                },
                "notify": {"taskInfo": {"name": "notify"}, "componentRef": {"name": "comp-step"}},
            }
        },
        "inputDefinitions": {
            "parameters": {"epochs": {"parameterType": "NUMBER_INTEGER"}, "name": {"parameterType": "STRING"}}
        },
        "outputDefinitions": {
            "parameters": {
                "accuracy": {"parameterType": "NUMBER_DOUBLE"},
                "count": {"parameterType": "NUMBER_INTEGER"},
                "label": {"parameterType": "STRING"},
                "ok": {"parameterType": "BOOLEAN"},
                "config": {"parameterType": "STRUCT"},
            }
        },
    },
}
OUTPUTS = {"accuracy": 0.93, "count": 7, "label": "best", "ok": True, "config": {"layers": [1, 2]}}


def pipeline_job(scenario: str, **scripted: str) -> v1.PipelineJob:
    spec = struct_pb2.Struct()
    spec.update(SPEC)
    job = v1.PipelineJob(
        display_name="dag", runtime_config=v1.PipelineJob.RuntimeConfig(gcs_output_directory="gs://bucket/root")
    )
    job.pipeline_spec = spec
    values = {"epochs": 3, "name": "n", "VERTEX_EMULATOR_SCENARIO": scenario, **scripted}
    for key, value in values.items():
        job.runtime_config.parameter_values[key] = value
    return job


def by_name(job: v1.PipelineJob) -> dict[str, v1.PipelineTaskDetail]:
    return {t.task_name: t for t in job.job_detail.task_details}


def root_of(job: v1.PipelineJob) -> v1.PipelineTaskDetail:
    """As python-aiplatform finds it: the system.Run task, whose task_name is the job id."""
    roots = [t for t in job.job_detail.task_details if t.execution.schema_title == "system.Run"]
    assert len(roots) == 1
    assert roots[0].task_name == job.name.rsplit("/", 1)[-1]
    return roots[0]


def states(job: v1.PipelineJob) -> dict[str, str]:
    return {name: task.state.name for name, task in by_name(job).items()}


def test_success_keeps_runtime_config_and_puts_outputs_on_the_root_task(
    pipelines: v1.PipelineServiceClient, emulator: EmulatorServer, parent: str
) -> None:
    sent = pipeline_job("PENDING:0,RUNNING", VERTEX_EMULATOR_OUTPUTS=json.dumps(OUTPUTS))
    created = pipelines.create_pipeline_job(parent=parent, pipeline_job=sent, pipeline_job_id="dag-ok")
    running = wait_pipeline_state(pipelines, created.name, v1.PipelineState.PIPELINE_STATE_RUNNING)
    assert not any(k.startswith("output:") for k in root_of(running).execution.metadata)
    assert states(running)["prepare"] == "RUNNING" and states(running)["train"] == "PENDING"
    AdminClient(emulator.url).set_state(created.name, "SUCCEEDED")
    done = wait_pipeline_state(pipelines, created.name, v1.PipelineState.PIPELINE_STATE_SUCCEEDED)

    assert done.runtime_config == created.runtime_config == sent.runtime_config  # nothing merged in
    root = root_of(done)
    assert root.parent_task_id == 0 and root.state == State.SUCCEEDED
    assert root.execution.state == v1.Execution.State.COMPLETE
    metadata = dict(root.execution.metadata)
    assert {k: v for k, v in metadata.items() if k.startswith("input:")} == {"input:epochs": 3.0, "input:name": "n"}
    outputs = {k.removeprefix("output:"): v for k, v in metadata.items() if k.startswith("output:")}
    assert outputs == OUTPUTS
    assert isinstance(outputs["count"], float) and isinstance(metadata["input:epochs"], float)  # Struct numbers
    assert isinstance(outputs["ok"], bool)

    tasks = by_name(done)
    assert set(tasks) == {root.task_name, "prepare", "train", "evaluate", "notify"}
    for name in ("prepare", "train", "notify"):
        task = tasks[name]
        assert task.parent_task_id == root.task_id and task.state == State.SUCCEEDED
        assert task.execution.schema_title == "system.ContainerExecution"
        assert CUSTOM_JOB.match(task.executor_detail.container_detail.main_job), task.executor_detail
        assert task.start_time and task.end_time == done.end_time
    assert tasks["evaluate"].execution.schema_title == "system.DagExecution"
    assert not tasks["evaluate"].executor_detail.container_detail.main_job
    assert len({t.task_id for t in tasks.values()}) == 5
    assert done.job_detail.pipeline_run_context.name.endswith("/metadataStores/default/contexts/dag-ok")
    assert done.job_detail.pipeline_context.name.endswith("/contexts/dag-pipeline")


def test_a_failing_job_fails_its_named_task(pipelines: v1.PipelineServiceClient, parent: str) -> None:
    sent = pipeline_job(
        "RUNNING:0,FAILED", VERTEX_EMULATOR_OUTPUTS='{"accuracy": 1}', VERTEX_EMULATOR_FAIL_TASK="train"
    )
    job = pipelines.create_pipeline_job(parent=parent, pipeline_job=sent, pipeline_job_id="dag-failed")
    failed = wait_pipeline_state(pipelines, job.name, v1.PipelineState.PIPELINE_STATE_FAILED)
    # upstream succeeded, the named task failed, its dependents never ran, an independent one was cancelled
    root = root_of(failed)
    assert states(failed) == {
        root.task_name: "FAILED",
        "prepare": "SUCCEEDED",
        "train": "FAILED",
        "evaluate": "NOT_TRIGGERED",
        "notify": "CANCELLED",
    }
    train = by_name(failed)["train"]
    main_job = train.executor_detail.container_detail.main_job
    assert train.error.code == 13 and "non-zero status" in train.error.message
    assert main_job.rsplit("/", 1)[-1] in train.error.message
    assert train.execution.state == v1.Execution.State.FAILED
    assert "[train]" in failed.error.message and failed.error.code == 9
    assert not any(k.startswith("output:") for k in root.execution.metadata)  # outputs only on success
    assert failed.runtime_config == sent.runtime_config
    assert not by_name(failed)["evaluate"].start_time


def test_without_a_named_task_the_first_one_fails(pipelines: v1.PipelineServiceClient, parent: str) -> None:
    job = pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job("PENDING:0,FAILED"))
    failed = wait_pipeline_state(pipelines, job.name, v1.PipelineState.PIPELINE_STATE_FAILED)
    named = {k: v for k, v in states(failed).items() if k != root_of(failed).task_name}
    # the first task in a dependency order, ties by name: notify (prepare also has no dependency)
    assert named == {"notify": "FAILED", "prepare": "CANCELLED", "train": "CANCELLED", "evaluate": "CANCELLED"}
    assert "[notify]" in failed.error.message
    ordered = [t.task_name for t in failed.job_detail.task_details]
    assert ordered == [root_of(failed).task_name, "notify", "prepare", "train", "evaluate"]


def test_an_unknown_fail_task_is_invalid_argument(pipelines: v1.PipelineServiceClient, parent: str) -> None:
    with pytest.raises(gexc.BadRequest) as exc:
        pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job("FAILED", VERTEX_EMULATOR_FAIL_TASK="x"))
    assert "VERTEX_EMULATOR_FAIL_TASK" in error_of(exc)["message"] and "prepare" in error_of(exc)["message"]


def test_cancel_cancels_the_running_tasks(
    pipelines: v1.PipelineServiceClient, emulator: EmulatorServer, parent: str
) -> None:
    job = pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job("PENDING:0,RUNNING"))
    running = wait_pipeline_state(pipelines, job.name, v1.PipelineState.PIPELINE_STATE_RUNNING)
    root = root_of(running).task_name
    assert states(running) == {
        root: "RUNNING",
        "prepare": "RUNNING",
        "train": "PENDING",
        "evaluate": "PENDING",
        "notify": "RUNNING",
    }
    pipelines.cancel_pipeline_job(name=job.name)
    cancelling = pipelines.get_pipeline_job(name=job.name)
    assert states(cancelling)["prepare"] == "CANCELLING" and states(cancelling)[root] == "CANCELLING"
    AdminClient(emulator.url).set_state(job.name, "CANCELLED")
    cancelled = pipelines.get_pipeline_job(name=job.name)
    assert set(states(cancelled).values()) == {"CANCELLED"}
    prepare = by_name(cancelled)["prepare"]
    assert prepare.error.message == "CANCELED" and prepare.execution.state == v1.Execution.State.CANCELLED
    assert cancelled.runtime_config == running.runtime_config


def test_lists_carry_no_task_details_whatever_the_read_mask(
    pipelines: v1.PipelineServiceClient, emulator: EmulatorServer, parent: str
) -> None:
    job = pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job("SUCCEEDED"))
    wait_pipeline_state(pipelines, job.name, v1.PipelineState.PIPELINE_STATE_SUCCEEDED)
    assert by_name(pipelines.get_pipeline_job(name=job.name))  # GET has them

    def listed(*paths: str) -> v1.PipelineJob:
        mask = field_mask_pb2.FieldMask(paths=list(paths)) if paths else None
        request = v1.ListPipelineJobsRequest(parent=parent, read_mask=mask)
        return next(iter(pipelines.list_pipeline_jobs(request=request)))

    plain = listed()
    assert not v1.PipelineJob.pb(plain).HasField("job_detail")
    assert plain.runtime_config == job.runtime_config
    # The SDK's simple view (python-aiplatform constants/pipeline.py _READ_MASK_FIELDS) asks for the contexts.
    simple = listed("name", "state", "job_detail.pipeline_run_context", "job_detail.pipeline_context")
    assert simple.job_detail.pipeline_run_context.name.endswith(job.name.rsplit("/", 1)[-1])
    assert simple.job_detail.pipeline_context.name.endswith("/contexts/dag-pipeline")
    assert not simple.job_detail.task_details and not simple.display_name
    whole = listed("job_detail")
    assert whole.job_detail.pipeline_run_context.name and not whole.job_detail.task_details
    assert not v1.PipelineJob.pb(listed("job_detail.task_details")).HasField("job_detail")
    raw = requests.get(f"{emulator.url}/v1/{parent}/pipelineJobs", params={"readMask": "jobDetail"}, timeout=10).json()
    assert "taskDetails" not in json.dumps(raw) and "pipelineRunContext" in json.dumps(raw)
    got = requests.get(f"{emulator.url}/v1/{job.name}", timeout=10).json()
    parsed = json_format.ParseDict(got, v1.PipelineJob.pb()())  # the GET view is a valid PipelineJob
    assert len(parsed.job_detail.task_details) == 5
