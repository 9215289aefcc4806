"""pipelineJobs through the official ``PipelineServiceClient`` over REST (and raw REST where a client cannot)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import empty_pb2, struct_pb2

from vertex_emulator import AdminClient, EmulatorServer

from .support import error_of, wait_pipeline_state

pytestmark = pytest.mark.timeout(120)
SUCCEEDED = v1.PipelineState.PIPELINE_STATE_SUCCEEDED


SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "train-pipeline"},
    "schemaVersion": "2.1.0",
    "root": {
        "dag": {"tasks": {"train": {"taskInfo": {"name": "train"}}, "evaluate": {"taskInfo": {"name": "evaluate"}}}},
        "inputDefinitions": {
            "parameters": {
                "epochs": {"parameterType": "NUMBER_INTEGER"},
                "rate": {"parameterType": "NUMBER_DOUBLE"},
                "name": {"parameterType": "STRING"},
                "fast": {"parameterType": "BOOLEAN"},
                "layers": {"parameterType": "LIST"},
                "config": {"parameterType": "STRUCT"},
            }
        },
        "outputDefinitions": {"parameters": {"accuracy": {"parameterType": "NUMBER_DOUBLE"}}},
    },
}
VALUES: dict[str, Any] = {"epochs": 3, "rate": 0.5, "name": "n", "fast": True, "layers": [1, 2], "config": {"a": 1}}


def pipeline_job(
    scenario: str | None = None,
    outputs: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    display_name: str = "pipeline",
    labels: dict[str, str] | None = None,
) -> v1.PipelineJob:
    params = dict(VALUES if values is None else values)
    if scenario is not None:
        params["VERTEX_EMULATOR_SCENARIO"] = scenario
    if outputs is not None:
        params["VERTEX_EMULATOR_OUTPUTS"] = json.dumps(outputs)
    spec = struct_pb2.Struct()
    spec.update(SPEC)
    job = v1.PipelineJob(
        display_name=display_name,
        labels=labels or {},
        runtime_config=v1.PipelineJob.RuntimeConfig(gcs_output_directory="gs://bucket/root"),
    )
    job.pipeline_spec = spec
    for key, value in params.items():
        job.runtime_config.parameter_values[key] = value
    return job


def test_create_with_client_chosen_id_get_and_already_exists(pipelines: v1.PipelineServiceClient, parent: str) -> None:
    job = pipelines.create_pipeline_job(
        parent=parent, pipeline_job=pipeline_job("PENDING:1000,RUNNING"), pipeline_job_id="run-0001"
    )
    assert job.name == f"{parent}/pipelineJobs/run-0001"
    assert job.state == v1.PipelineState.PIPELINE_STATE_PENDING
    assert job.labels["vertex-ai-pipelines-run-billing-id"].isdigit()
    assert dict(job.runtime_config.parameter_values)["epochs"] == 3
    got = pipelines.get_pipeline_job(name=job.name)
    assert got.pipeline_spec["pipelineInfo"]["name"] == "train-pipeline"
    assert {t.task_name for t in got.job_detail.task_details} == {"run-0001", "train", "evaluate"}  # root: job id
    with pytest.raises(gexc.Conflict) as exc:
        pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job(), pipeline_job_id="run-0001")
    assert error_of(exc)["status"] == "ALREADY_EXISTS" and error_of(exc)["code"] == 409
    assert len(list(pipelines.list_pipeline_jobs(parent=parent))) == 1


def test_server_assigned_id_and_bad_ids(pipelines: v1.PipelineServiceClient, parent: str) -> None:
    job = pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job())
    assert re.fullmatch(rf"{parent}/pipelineJobs/train-pipeline-\d{{14}}", job.name), job.name
    for bad in ("Upper", "-lead", "x" * 129, "under_score"):
        with pytest.raises(gexc.BadRequest) as exc:
            pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job(), pipeline_job_id=bad)
        assert error_of(exc)["status"] == "INVALID_ARGUMENT"
    with pytest.raises(gexc.BadRequest):
        pipelines.get_pipeline_job(name=f"{parent}/pipelineJobs/Not_Valid")
    with pytest.raises(gexc.NotFound):
        pipelines.get_pipeline_job(name=f"{parent}/pipelineJobs/missing")


def test_outputs_on_the_root_task_not_in_runtime_config_and_update_time_moves(
    pipelines: v1.PipelineServiceClient, parent: str
) -> None:
    job = pipelines.create_pipeline_job(
        parent=parent, pipeline_job=pipeline_job("PENDING:1,RUNNING:1,SUCCEEDED", outputs={"accuracy": 0.93})
    )
    assert "accuracy" not in job.runtime_config.parameter_values
    seen = {job.state: job.update_time}
    done = job
    while done.state != SUCCEEDED:
        done = pipelines.get_pipeline_job(name=job.name)
        seen.setdefault(done.state, done.update_time)
    assert "accuracy" not in done.runtime_config.parameter_values  # runtimeConfig is input only (issue 23)
    assert dict(done.runtime_config.parameter_values)["epochs"] == 3
    root = next(t for t in done.job_detail.task_details if t.execution.schema_title == "system.Run")
    assert root.execution.metadata["output:accuracy"] == 0.93
    assert done.start_time and done.end_time == done.update_time
    times = [seen[s] for s in sorted(seen, key=lambda s: s.value)]
    assert times == sorted(times) and len(set(times)) == len(times)  # update_time changes on every state change
    assert all(t.state == v1.PipelineTaskDetail.State.SUCCEEDED for t in done.job_detail.task_details)


def test_failed_pipeline_has_error(pipelines: v1.PipelineServiceClient, parent: str) -> None:
    job = pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job("RUNNING:0,FAILED", outputs={"x": 1}))
    failed = wait_pipeline_state(pipelines, job.name, v1.PipelineState.PIPELINE_STATE_FAILED)
    assert failed.error.code == 9 and "failed" in failed.error.message
    assert "x" not in failed.runtime_config.parameter_values  # outputs only on success


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"nope": 1}, "'nope' is not declared"),
        ({"epochs": 1.5}, "NUMBER_INTEGER"),
        ({"epochs": "3"}, "NUMBER_INTEGER"),
        ({"rate": "fast"}, "NUMBER_DOUBLE"),
        ({"name": 5}, "STRING"),
        ({"fast": "yes"}, "BOOLEAN"),
        ({"layers": {"a": 1}}, "LIST"),
        ({"config": [1]}, "STRUCT"),
    ],
)
def test_undeclared_or_ill_typed_parameter_is_invalid_argument(
    pipelines: v1.PipelineServiceClient, parent: str, values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(gexc.BadRequest) as exc:
        pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job(values=values))
    assert error_of(exc)["status"] == "INVALID_ARGUMENT" and fragment in error_of(exc)["message"]
    assert list(pipelines.list_pipeline_jobs(parent=parent)) == []


def test_control_parameters_need_no_declaration_and_are_checked(
    pipelines: v1.PipelineServiceClient, parent: str
) -> None:
    pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job("SUCCEEDED", outputs={"a": [1]}, values={}))
    with pytest.raises(gexc.BadRequest) as bad_scenario:
        pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job("PENDING:1,BOGUS"))
    assert "unknown job state" in error_of(bad_scenario)["message"]
    job = pipeline_job()
    job.runtime_config.parameter_values["VERTEX_EMULATOR_OUTPUTS"] = "not json"
    with pytest.raises(gexc.BadRequest) as bad_outputs:
        pipelines.create_pipeline_job(parent=parent, pipeline_job=job)
    assert "VERTEX_EMULATOR_OUTPUTS" in error_of(bad_outputs)["message"]


def test_spec_or_template_and_output_directory_are_required(emulator: EmulatorServer, parent: str) -> None:
    url = f"{emulator.url}/v1/{parent}/pipelineJobs"
    missing = requests.post(url, json={"runtimeConfig": {"gcsOutputDirectory": "gs://b"}}, timeout=10).json()
    assert "pipeline_job.pipeline_spec" in missing["error"]["message"]
    no_root = requests.post(url, json={"pipelineSpec": SPEC}, timeout=10).json()
    assert "pipeline_job.runtime_config.gcs_output_directory" in no_root["error"]["message"]
    template = {
        "templateUri": "https://us-central1-kfp.pkg.dev/p/repo/train/v1",
        "runtimeConfig": {"gcsOutputDirectory": "gs://b/r", "parameterValues": {"anything": 1}},
    }
    created = requests.post(url, json=template, timeout=10)
    assert created.status_code == 200, created.text  # without a spec the parameters cannot be checked
    assert created.json()["templateUri"] == template["templateUri"]


def test_cancel_and_delete(pipelines: v1.PipelineServiceClient, parent: str) -> None:
    job = pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job("PENDING:0,RUNNING"))
    wait_pipeline_state(pipelines, job.name, v1.PipelineState.PIPELINE_STATE_RUNNING)
    with pytest.raises(gexc.BadRequest) as early:
        pipelines.delete_pipeline_job(name=job.name)
    assert error_of(early)["status"] == "FAILED_PRECONDITION"
    pipelines.cancel_pipeline_job(name=job.name)
    assert pipelines.get_pipeline_job(name=job.name).state == v1.PipelineState.PIPELINE_STATE_CANCELLING
    AdminClient(pipelines._transport._host).set_state(job.name, "CANCELLED")  # skip the cancel delay
    assert pipelines.get_pipeline_job(name=job.name).state == v1.PipelineState.PIPELINE_STATE_CANCELLED
    with pytest.raises(gexc.BadRequest) as ended:
        pipelines.cancel_pipeline_job(name=job.name)
    assert error_of(ended)["status"] == "FAILED_PRECONDITION"
    operation = pipelines.delete_pipeline_job(name=job.name)
    assert operation.result() == empty_pb2.Empty()
    with pytest.raises(gexc.NotFound):
        pipelines.get_pipeline_job(name=job.name)


@pytest.fixture(scope="module")
def listed_parent(pipelines: v1.PipelineServiceClient) -> Iterator[tuple[str, list[v1.PipelineJob]]]:
    parent = "projects/test-project/locations/pipeline-filters"
    jobs = []
    for i, (scenario, labels) in enumerate(
        [("SUCCEEDED", {"team": "ml"}), ("RUNNING", {"team": "data"}), ("PENDING:0,FAILED", {}), ("SUCCEEDED", {})]
    ):
        jobs.append(
            pipelines.create_pipeline_job(
                parent=parent,
                pipeline_job=pipeline_job(scenario, display_name=f"p{i}", labels=labels),
                pipeline_job_id=f"p-{i}",
            )
        )
        time.sleep(0.002)
    yield parent, jobs


def names(client: v1.PipelineServiceClient, parent: str, **request: Any) -> list[str]:
    return [j.display_name for j in client.list_pipeline_jobs(request={"parent": parent, **request})]


def test_list_filters_and_order_by(
    pipelines: v1.PipelineServiceClient, listed_parent: tuple[str, list[v1.PipelineJob]]
) -> None:
    parent, jobs = listed_parent
    assert names(pipelines, parent) == ["p3", "p2", "p1", "p0"]  # default: newest first (v1 reference)
    assert names(pipelines, parent, order_by="create_time") == ["p0", "p1", "p2", "p3"]
    assert names(pipelines, parent, order_by="create_time desc") == ["p3", "p2", "p1", "p0"]
    assert names(pipelines, parent, filter='state="PIPELINE_STATE_SUCCEEDED"', order_by="create_time") == ["p0", "p3"]
    assert names(
        pipelines, parent, filter='pipeline_name="train-pipeline" AND labels.team:*', order_by="create_time"
    ) == [
        "p0",
        "p1",
    ]
    # Label equalities are served from the label index, also with an order (same answer as a scan of every job).
    for order in ("create_time", "create_time desc"):
        for text in ('labels.team="ml" OR labels.team="data"', 'labels.team="data"', 'labels.team="none"'):
            scanned = f'({text} OR display_name="none")'
            assert names(pipelines, parent, filter=text, order_by=order) == names(
                pipelines, parent, filter=scanned, order_by=order
            )
    assert names(pipelines, parent, filter='labels.team="ml" OR labels.team="data"', order_by="create_time desc") == [
        "p1",
        "p0",
    ]
    assert set(names(pipelines, parent, filter='end_time>"2000-01-01T00:00:00Z"')) == {"p0", "p2", "p3"}
    since = pipelines.get_pipeline_job(name=jobs[2].name).update_time.isoformat().replace("+00:00", "Z")
    assert set(names(pipelines, parent, filter=f'update_time>="{since}"')) == {"p2", "p3"}
    assert names(
        pipelines, parent, filter='display_name:"p*" AND state!="PIPELINE_STATE_RUNNING" OR labels.team="data"'
    )
    paged = [j.display_name for j in pipelines.list_pipeline_jobs(request={"parent": parent, "page_size": 1})]
    assert paged == ["p3", "p2", "p1", "p0"]
    assert "jobDetail" not in requests.get(f"{pipelines._transport._host}/v1/{parent}/pipelineJobs", timeout=10).text
    for bad in ('state="JOB_STATE_SUCCEEDED"', 'model_display_name="x"', 'pipeline_name:"train*"'):
        with pytest.raises(gexc.BadRequest) as exc:
            list(pipelines.list_pipeline_jobs(request={"parent": parent, "filter": bad}))
        assert "filter" in error_of(exc)["message"]
    with pytest.raises(gexc.BadRequest) as order:
        list(pipelines.list_pipeline_jobs(request={"parent": parent, "order_by": "display_name"}))
    assert "order_by" in error_of(order)["message"]


def test_calls_and_faults_per_method(
    pipelines: v1.PipelineServiceClient, emulator: EmulatorServer, parent: str
) -> None:
    admin = AdminClient(emulator.url)
    admin.reset_calls()
    admin.add_fault(method="GetPipelineJob", http_status=503, count=1)
    job = pipelines.create_pipeline_job(parent=parent, pipeline_job=pipeline_job(), pipeline_job_id="counted")
    with pytest.raises(gexc.ServiceUnavailable):
        pipelines.get_pipeline_job(name=job.name, retry=None)
    pipelines.get_pipeline_job(name=job.name)
    list(pipelines.list_pipeline_jobs(parent=parent))
    calls = {k: v for k, v in admin.calls().items() if v}
    assert calls == {"CreatePipelineJob": 1, "GetPipelineJob": 2, "ListPipelineJobs": 1}
    admin.clear_faults()
