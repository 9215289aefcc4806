"""The Pipeline Job kind, pure: the create body (clone, attributes, typed parameterValues, labels), the id derived
from the request key, outputs of a final job, and the template Polysync imports (contract: "Job types", templates)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysync_vertex.core.errors import ApiError
from polysync_vertex.core.kinds import BY_COLLECTION, PIPELINE, by_type, parse_run_name
from polysync_vertex.core.kinds.pipeline import CLONED, PIPELINE_ID_RE, declared
from polysync_vertex.core.labels import request_key
from polysync_vertex.core.request import REQUEST_ID_RE, parse_submit
from polysync_vertex.core.shape import tidy_numbers
from polysync_vertex.core.states import PIPELINE_STATES, polysync_status

NAME = "projects/my-proj/locations/us-central1/pipelineJobs/train-20261122"
NOW = datetime(2026, 11, 22, 8, 15, tzinfo=UTC)
KMS = "projects/my-proj/locations/us-central1/keyRings/r/cryptoKeys/k"
SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "train-pipeline"},
    "root": {
        "inputDefinitions": {
            "parameters": {
                "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 5.0},
                "rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1},
                "fast": {"parameterType": "BOOLEAN"},
                "name": {"parameterType": "STRING", "defaultValue": "n"},
                "config": {"parameterType": "STRUCT"},
                "layers": {"parameterType": "LIST"},
            }
        },
        "outputDefinitions": {
            "parameters": {"accuracy": {"parameterType": "NUMBER_DOUBLE"}, "model": {"parameterType": "STRING"}}
        },
    },
}


def template(**overrides: Any) -> dict[str, Any]:
    """A PipelineJob as Vertex AI returns it (GET), with output-only fields that must not be cloned."""
    job: dict[str, Any] = {
        "name": NAME,
        "displayName": "train-template",
        "pipelineSpec": copy.deepcopy(SPEC),
        "runtimeConfig": {
            "gcsOutputDirectory": "gs://pipeline-root/runs",
            "parameterValues": {"epochs": 3.0, "name": "from-template"},
            "failurePolicy": "PIPELINE_FAILURE_POLICY_FAIL_FAST",
        },
        "serviceAccount": "pipelines@my-proj.iam.gserviceaccount.com",
        "network": "projects/123/global/networks/vpc",
        "reservedIpRanges": ["range-a"],
        "encryptionSpec": {"kmsKeyName": KMS},
        "pscInterfaceConfig": {"networkAttachment": "projects/p/regions/r/networkAttachments/a"},
        "labels": {"team": "vision", "vertex-ai-pipelines-run-billing-id": "123", "managed-by": "someone"},
        "state": "PIPELINE_STATE_SUCCEEDED",
        "createTime": "2026-11-01T00:00:00Z",
        "startTime": "2026-11-01T00:00:01Z",
        "endTime": "2026-11-01T00:10:00Z",
        "updateTime": "2026-11-01T00:10:00Z",
        "jobDetail": {"pipelineContext": {"name": "x"}},
        "error": {"code": 0, "message": ""},
        "scheduleName": "projects/my-proj/locations/us-central1/schedules/1",
    }
    job.update(overrides)
    return job


def request(parameters: list[dict[str, Any]] | None = None, attributes: dict[str, Any] | None = None, **kw: Any) -> Any:
    body: dict[str, Any] = {"requestId": "run-1", "jobName": "nightly-pipeline", "externalId": NAME}
    if parameters is not None:
        body["parameters"] = parameters
    if attributes is not None:
        body["attributes"] = attributes
    body.update(kw)
    return parse_submit(body)


def build(parameters: list[dict[str, Any]] | None = None, tmpl: dict[str, Any] | None = None, **kw: Any) -> Any:
    req = request(parameters, **kw)
    return PIPELINE.build(req, template() if tmpl is None else tmpl, request_key(req.request_id), NOW)


def error_of(fn: Any) -> ApiError:
    with pytest.raises(ApiError) as err:
        fn()
    assert err.value.status == "INVALID_ARGUMENT"
    return err.value


# -- the kind's identity -------------------------------------------------------------------------------------------
def test_kind_identity() -> None:
    assert BY_COLLECTION["pipelineJobs"] is PIPELINE and by_type("Vertex AI Pipeline Job") is PIPELINE
    kind, name = parse_run_name(NAME, "runId")
    assert kind is PIPELINE and name.job_id == "train-20261122"
    assert PIPELINE.console_url(name) == (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1/pipelines/runs/train-20261122?project=my-proj"
    )
    assert "runtime_config" in PIPELINE.read_mask and "labels" in PIPELINE.read_mask
    assert PIPELINE.outputs_supported and PIPELINE.poll_by_update_time
    assert PIPELINE.states is PIPELINE_STATES


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("PIPELINE_STATE_SUCCEEDED", "Success"),
        ("PIPELINE_STATE_FAILED", "Failed"),
        ("PIPELINE_STATE_RUNNING", "Running"),
        ("PIPELINE_STATE_QUEUED", "Running"),
        ("PIPELINE_STATE_PENDING", "Running"),
        ("PIPELINE_STATE_PAUSED", "Running"),
        ("PIPELINE_STATE_CANCELLING", "Running"),
        ("PIPELINE_STATE_CANCELLED", "Cancelled"),
        ("PIPELINE_STATE_UNSPECIFIED", "Unknown"),
        ("PIPELINE_STATE_SOMETHING_NEW", "Unknown"),
    ],
)
def test_status_mapping(state: str, status: str) -> None:
    assert polysync_status(state) == status


@given(st.from_regex(REQUEST_ID_RE))
def test_job_id_is_valid_and_stable_for_any_request_id(request_id: str) -> None:
    key = request_key(request_id)
    job_id = PIPELINE.job_id(key)
    assert job_id is not None and PIPELINE_ID_RE.match(job_id) and job_id[0].isalpha()
    assert job_id == PIPELINE.job_id(request_key(request_id))


def test_job_ids_of_distinct_request_ids_differ() -> None:
    ids = {PIPELINE.job_id(request_key(r)) for r in ("Run-1", "run-1", "run.1", "run:1", "run_1", "run--1")}
    assert len(ids) == 6


# -- build -----------------------------------------------------------------------------------------------------------
def test_build_clones_the_contract_fields_and_nothing_else() -> None:
    tmpl = template()
    job = build(tmpl=tmpl)
    assert set(job) == {*CLONED, "displayName", "labels"} - {"templateUri"}
    for field in ("pipelineSpec", "runtimeConfig", "serviceAccount", "network", "reservedIpRanges"):
        assert job[field] == tmpl[field], field
    assert job["encryptionSpec"] == tmpl["encryptionSpec"] and job["pscInterfaceConfig"] == tmpl["pscInterfaceConfig"]
    assert job["displayName"] == "nightly-pipeline_20261122T081500Z"
    key = request_key("run-1")
    assert job["labels"] == {
        "team": "vision",
        "managed-by": "polysync-vertex",
        "polysync-request": key,
        "polysync-job": "nightly-pipeline",
        "polysync-shard": job["labels"]["polysync-shard"],
    }
    assert tmpl == template()  # the template (maybe cached) is not changed


def test_attributes_override_the_clone() -> None:
    job = build(
        attributes={
            "gcsOutputDirectory": "gs://other/root",
            "serviceAccount": "sa@p.iam.gserviceaccount.com",
            "network": "projects/9/global/networks/n",
        }
    )
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://other/root"
    assert job["runtimeConfig"]["failurePolicy"] == "PIPELINE_FAILURE_POLICY_FAIL_FAST"
    assert job["serviceAccount"] == "sa@p.iam.gserviceaccount.com" and job["network"] == "projects/9/global/networks/n"


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"machineType": "n1-standard-4"}, "attributes.machineType"),
        ({"gcsOutputDirectory": "/local/dir"}, "attributes.gcsOutputDirectory"),
        ({"serviceAccount": "not an account"}, "attributes.serviceAccount"),
        ({"network": "vpc"}, "attributes.network"),
        ({"templateUri": "ftp://host/p.json"}, "attributes.templateUri"),
        ({"gcsOutputDirectory": 5}, "attributes.gcsOutputDirectory"),
    ],
)
def test_bad_attributes(attributes: dict[str, Any], field: str) -> None:
    assert error_of(lambda: request(attributes=attributes)).field == field


def test_template_uri_is_the_templates() -> None:
    uri = "https://us-central1-kfp.pkg.dev/p/r/train/v1"
    tmpl = template(templateUri=uri)
    assert build(tmpl=tmpl, attributes={"templateUri": uri})["templateUri"] == uri
    err = error_of(lambda: build(tmpl=tmpl, attributes={"templateUri": uri + "x"}))
    assert err.field == "attributes.templateUri"
    err = error_of(lambda: build(tmpl=template(pipelineSpec=None)))
    assert err.field == "externalId"


def test_without_a_template() -> None:
    body = {"requestId": "r", "jobName": "j", "jobType": "Vertex AI Pipeline Job"}
    for attributes, field in (
        ({}, "attributes.templateUri"),
        ({"templateUri": "gs://tmpl-bucket/p.json"}, "attributes.gcsOutputDirectory"),
        ({"gcsOutputDirectory": "gs://root-bucket/root"}, "attributes.templateUri"),
    ):
        assert error_of(lambda a=attributes: parse_submit({**body, "attributes": a})).field == field
    req = parse_submit(
        {
            **body,
            "attributes": {"templateUri": "gs://tmpl-bucket/p.json", "gcsOutputDirectory": "gs://root-bucket/root"},
            "parameters": [{"name": "anything", "type": "JSON", "value": [1]}],
        }
    )
    assert req.kind is PIPELINE
    job = PIPELINE.build(req, None, request_key("r"), NOW)
    assert job["templateUri"] == "gs://tmpl-bucket/p.json"
    assert job["runtimeConfig"] == {"gcsOutputDirectory": "gs://root-bucket/root", "parameterValues": {"anything": [1]}}
    assert "pipelineSpec" not in job


def test_typed_parameter_values_of_each_type() -> None:
    job = build(
        [
            {"name": "epochs", "type": "Number", "value": "10"},
            {"name": "rate", "type": "Number", "value": 1},
            {"name": "fast", "type": "Boolean", "value": "false"},
            {"name": "name", "direction": "InputOutput", "type": "Date", "value": "2026-11-22"},
            {"name": "config", "type": "JSON", "value": {"a": {"b": [1, None]}}},
            {"name": "layers", "type": "JSON", "value": [3, 2]},
            {"name": "accuracy", "direction": "Output", "type": "Number"},
        ]
    )
    values = job["runtimeConfig"]["parameterValues"]
    assert values == {
        "epochs": 10,
        "rate": 1,
        "fast": False,
        "name": "2026-11-22",
        "config": {"a": {"b": [1, None]}},
        "layers": [3, 2],
    }
    assert type(values["epochs"]) is int and type(values["fast"]) is bool
    assert json.dumps(values["epochs"]) == "10"
    datetime_job = build([{"name": "name", "type": "DateTime", "value": "2026-11-22T08:15:00+01:00"}])
    assert datetime_job["runtimeConfig"]["parameterValues"]["name"] == "2026-11-22T08:15:00+01:00"


def test_a_float_that_is_whole_is_an_integer() -> None:
    job = build([{"name": "epochs", "type": "Number", "value": 4.0}])
    assert type(job["runtimeConfig"]["parameterValues"]["epochs"]) is int


@pytest.mark.parametrize(
    ("param", "words"),
    [
        ({"name": "epochs", "type": "Number", "value": 1.5}, "integer"),
        ({"name": "epochs", "type": "Boolean", "value": True}, "integer"),
        ({"name": "rate", "type": "String", "value": "0.1"}, "number"),
        ({"name": "fast", "type": "String", "value": "true"}, "boolean"),
        ({"name": "name", "type": "Boolean", "value": True}, "string"),
        ({"name": "name", "type": "JSON", "value": {"a": 1}}, "string"),
        ({"name": "config", "type": "JSON", "value": [1]}, "struct"),
        ({"name": "layers", "type": "JSON", "value": {"a": 1}}, "list"),
        ({"name": "layers", "type": "String", "value": "[1]"}, "list"),
    ],
)
def test_ill_typed_parameter_names_it(param: dict[str, Any], words: str) -> None:
    err = error_of(lambda: build([{"name": "rate", "type": "Number", "value": 2}, param]))
    if param["name"] == "rate":
        err = error_of(lambda: build([param]))
        assert err.field == "parameters[0].value"
    else:
        assert err.field == "parameters[1].value"
    assert param["name"] in err.message and words in err.message


def test_undeclared_parameter_lists_the_declared_names() -> None:
    err = error_of(lambda: build([{"name": "EPOCHS", "type": "Number", "value": 1}]))
    assert err.field == "parameters[0].name"
    assert "EPOCHS" in err.message and "config, epochs, fast, layers, name, rate" in err.message
    # An output name is no input either.
    err = error_of(lambda: build([{"name": "accuracy", "direction": "InputOutput", "type": "Number", "value": 1}]))
    assert err.field == "parameters[0].name"
    bare = template(pipelineSpec={"root": {}})
    err = error_of(lambda: build([{"name": "x", "type": "String", "value": "v"}], tmpl=bare))
    assert "declares: none" in err.message


def test_output_parameters_are_not_checked_or_sent() -> None:
    job = build([{"name": "anything", "direction": "Output", "type": "String"}])
    assert "anything" not in job["runtimeConfig"]["parameterValues"]
    assert request([{"name": "anything", "direction": "Output", "type": "String"}]).warnings == ()


def test_legacy_parameter_types_go_to_runtime_config_parameters() -> None:
    """KFP v1-era IR (schemaVersion 2.0.0, `type` INT / DOUBLE / STRING): Vertex AI takes its values in the
    deprecated `runtimeConfig.parameters`, as typed Values, not in `parameterValues`."""
    spec = {
        "schemaVersion": "2.0.0",
        "root": {
            "inputDefinitions": {
                "parameters": {"n": {"type": "INT"}, "x": {"type": "DOUBLE"}, "s": {"type": "STRING"}, "u": {}}
            }
        },
    }
    assert declared(spec) == {"n": "NUMBER_INTEGER", "x": "NUMBER_DOUBLE", "s": "STRING", "u": "STRING"}
    runtime = {"gcsOutputDirectory": "gs://bucket/r", "parameters": {"n": {"intValue": "1"}, "s": {"stringValue": "t"}}}
    tmpl = template(pipelineSpec=spec, runtimeConfig=runtime)
    job = build(
        [
            {"name": "n", "type": "Number", "value": 2},
            {"name": "x", "type": "Number", "value": 2.5},
            {"name": "u", "type": "Date", "value": "2026-11-22"},
        ],
        tmpl=tmpl,
    )
    assert job["runtimeConfig"] == {
        "gcsOutputDirectory": "gs://bucket/r",
        "parameters": {
            "n": {"intValue": "2"},
            "x": {"doubleValue": 2.5},
            "s": {"stringValue": "t"},
            "u": {"stringValue": "2026-11-22"},
        },
    }
    err = error_of(lambda: build([{"name": "n", "type": "Number", "value": 2.5}], tmpl=tmpl))
    assert "integer" in err.message
    # Template defaults and outputs read the legacy values too.
    t = PIPELINE.to_template(tmpl)
    assert {p["name"]: p["default"] for p in t["parameters"]} == {"n": 1, "x": None, "s": "t", "u": None}
    final = {"runtimeConfig": {"parameters": {"n": {"intValue": "7"}}, "parameterValues": {"out": 0.5}}}
    assert PIPELINE.outputs(final, ("n", "out")) == {"outputs": {"n": 7, "out": 0.5}}


def test_a_finished_templates_output_values_are_not_cloned_as_inputs() -> None:
    values = {"epochs": 3, "accuracy": 0.9, "model": "gs://m/1", "VERTEX_EMULATOR_SCENARIO": "PENDING"}
    tmpl = template(runtimeConfig={"gcsOutputDirectory": "gs://b/r", "parameterValues": values})
    job = build(tmpl=tmpl)
    assert job["runtimeConfig"]["parameterValues"] == {"epochs": 3, "VERTEX_EMULATOR_SCENARIO": "PENDING"}
    only_outputs = template(runtimeConfig={"gcsOutputDirectory": "gs://b/r", "parameterValues": {"accuracy": 1}})
    assert "parameterValues" not in build(tmpl=only_outputs)["runtimeConfig"]


def test_vertex_managed_labels_are_dropped_and_label_limit_holds() -> None:
    labels = {"vertex-ai-pipelines-run-billing-id": "1", "vertex-ai-pipelines-x": "y", "keep": "me"}
    job = build(tmpl=template(labels=labels))
    assert "keep" in job["labels"] and not any(k.startswith("vertex-ai-pipelines-") for k in job["labels"])
    many = {f"l{i}": "v" for i in range(61)}
    assert error_of(lambda: build(tmpl=template(labels=many))).field == "externalId"


def test_fingerprint_follows_the_typed_values() -> None:
    a = request([{"name": "epochs", "type": "Number", "value": 3}])
    b = request([{"name": "epochs", "type": "Number", "value": "3.0"}])
    c = request([{"name": "config", "type": "JSON", "value": {"a": 1, "b": 2}}])
    d = request([{"name": "config", "type": "JSON", "value": {"b": 2, "a": 1}}])
    e = request([{"name": "config", "type": "JSON", "value": {"a": 1, "b": 3}}])
    assert a.fingerprint == b.fingerprint and c.fingerprint == d.fingerprint != e.fingerprint


# -- outputs --------------------------------------------------------------------------------------------------------
def test_outputs_of_a_final_job() -> None:
    job = {
        "state": "PIPELINE_STATE_SUCCEEDED",
        "runtimeConfig": {
            "parameterValues": {"epochs": 12.0, "accuracy": 0.91, "model": "gs://m/1", "config": {"n": 2.0}}
        },
    }
    out = PIPELINE.outputs(job, ("epochs", "accuracy", "model", "config", "missing"))
    assert out == {
        "outputs": {"epochs": 12, "accuracy": 0.91, "model": "gs://m/1", "config": {"n": 2}, "missing": None}
    }
    assert json.dumps(out["outputs"]["epochs"]) == "12"
    failed = {"state": "PIPELINE_STATE_FAILED", "error": {"code": 9, "message": "The DAG failed"}}
    assert PIPELINE.outputs(failed, ("accuracy",)) == {"outputs": {"accuracy": None, "_error": "The DAG failed"}}
    assert PIPELINE.outputs({}, ()) == {"outputs": {}}
    assert PIPELINE.outputs({"runtimeConfig": None, "error": None}, ("a",)) == {"outputs": {"a": None}}


def test_outputs_from_the_root_task_before_runtime_config() -> None:
    """Issue 23: outputs are the root system.Run task's execution.metadata["output:<name>"] (python-aiplatform's
    vertexai/language_models/_language_models.py reads them so; the root task is found by schema title and by
    task name == job id, model_evaluation/model_evaluation_job.py); an InputOutput not written keeps input:<name>;
    runtimeConfig (inputs echoed back) only when the job has no task details (a list entry)."""
    job_id = NAME.rsplit("/", 1)[-1]
    root = {
        "taskName": job_id,
        "execution": {
            "schemaTitle": "system.Run",
            "metadata": {"input:epochs": 12.0, "output:accuracy": 0.91, "output:count": 3.0, "output:cfg": {"n": 2.0}},
        },
    }
    other = {"taskName": "train", "execution": {"schemaTitle": "system.ContainerExecution", "metadata": {}}}
    job = {
        "name": NAME,
        "state": "PIPELINE_STATE_SUCCEEDED",
        "runtimeConfig": {"parameterValues": {"epochs": 12, "accuracy": "echoed input"}},
        "jobDetail": {"taskDetails": [other, root]},
    }
    names = ("epochs", "accuracy", "count", "cfg", "missing")
    out = PIPELINE.outputs(job, names)["outputs"]
    assert out == {"epochs": 12, "accuracy": 0.91, "count": 3, "cfg": {"n": 2}, "missing": None}
    assert json.dumps(out["count"]) == "3"
    listed = {k: v for k, v in job.items() if k != "jobDetail"}
    assert PIPELINE.outputs(listed, ("accuracy",))["outputs"] == {"accuracy": "echoed input"}
    assert PIPELINE.needs_full_job(listed, ("accuracy",)) and not PIPELINE.needs_full_job(job, ("accuracy",))
    assert not PIPELINE.needs_full_job(listed, ())  # a run without outputs costs no GET
    assert not BY_COLLECTION["customJobs"].needs_full_job(listed, ("accuracy",))


def test_tidy_numbers() -> None:
    assert tidy_numbers([1.0, 1.5, True, "2.0", {"a": -3.0}, 2.0**60]) == [1, 1.5, True, "2.0", {"a": -3}, 2.0**60]


# -- templates ------------------------------------------------------------------------------------------------------
def test_to_template() -> None:
    tmpl = template(templateUri="gs://templates-bucket/train/pipeline.json")
    t = PIPELINE.to_template(tmpl)
    assert t["externalId"] == NAME and t["jobType"] == "Vertex AI Pipeline Job"
    assert t["displayName"] == "train-template" and t["pipelineName"] == "train-pipeline"
    assert t["attributes"] == {
        "gcsOutputDirectory": "gs://pipeline-root/runs",
        "serviceAccount": "pipelines@my-proj.iam.gserviceaccount.com",
        "network": "projects/123/global/networks/vpc",
        "templateUri": "gs://templates-bucket/train/pipeline.json",
    }
    assert {p["name"]: (p["type"], p["direction"], p["default"]) for p in t["parameters"]} == {
        "epochs": ("Number", "Input", 3),
        "rate": ("Number", "Input", 0.1),
        "fast": ("Boolean", "Input", None),
        "name": ("String", "Input", "from-template"),
        "config": ("JSON", "Input", None),
        "layers": ("JSON", "Input", None),
        "accuracy": ("Number", "Output", None),
        "model": ("String", "Output", None),
    }
    assert type(next(p for p in t["parameters"] if p["name"] == "epochs")["default"]) is int
    assert t["links"] == [
        {"type": "gcp-cloud-kms-crypto-key", "name": KMS},
        {"type": "gcp-compute-network", "name": "projects/123/global/networks/vpc"},
        {"type": "gcp-iam-service-account", "name": "pipelines@my-proj.iam.gserviceaccount.com"},
        {"type": "gcp-storage-bucket", "name": "pipeline-root"},
        {"type": "gcp-storage-bucket", "name": "templates-bucket"},
    ]
    assert t["state"] == "PIPELINE_STATE_SUCCEEDED" and t["createTime"] == "2026-11-01T00:00:00Z"
    assert t["labels"]["team"] == "vision"


def test_to_template_defaults_and_odd_values() -> None:
    t = PIPELINE.to_template(
        {
            "name": NAME,
            "pipelineSpec": {
                "root": {"inputDefinitions": {"parameters": {"epochs": {"parameterType": "NUMBER_INTEGER"}}}}
            },
            "runtimeConfig": {"gcsOutputDirectory": "gs://Bad_Bucket/x"},
            "serviceAccount": "Odd Account",
        }
    )
    # What submit would refuse is left out of the attributes (the clone carries it unchanged).
    assert t["attributes"] == {}
    assert t["parameters"] == [{"name": "epochs", "type": "Number", "direction": "Input", "default": None}]
    assert t["pipelineName"] == "" and t["state"] == "PIPELINE_STATE_UNSPECIFIED"
    spec_default = PIPELINE.to_template(template(runtimeConfig={"gcsOutputDirectory": "gs://b/r"}))
    assert {p["name"]: p["default"] for p in spec_default["parameters"]}["epochs"] == 5
    empty = PIPELINE.to_template({"name": NAME, "templateUri": "https://us-central1-kfp.pkg.dev/p/r/t/v1"})
    assert empty["parameters"] == [] and empty["attributes"] == {"templateUri": empty["attributes"]["templateUri"]}
    assert empty["links"] == []
