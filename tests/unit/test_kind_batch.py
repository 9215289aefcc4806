"""The Batch Prediction Job kind, pure: attributes, the create body, outputs and the template reader."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysync_vertex.core import runs
from polysync_vertex.core.errors import ApiError
from polysync_vertex.core.kinds import BATCH, by_type, parse_run_name
from polysync_vertex.core.kinds.batch import CLONED
from polysync_vertex.core.labels import request_key
from polysync_vertex.core.request import parse_submit

PARENT = "projects/my-proj/locations/us-central1"
NAME = f"{PARENT}/batchPredictionJobs/123"
MODEL = f"{PARENT}/models/sentiment@3"
KMS = f"{PARENT}/keyRings/r/cryptoKeys/k"
SA = "runner@my-proj.iam.gserviceaccount.com"
NOW = datetime(2026, 11, 22, 8, 15, tzinfo=UTC)
GCS_IN = {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://in-bucket/a.jsonl"]}}
GCS_OUT = {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://out-bucket/p"}}
BQ_IN = {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://my-proj.ds.table"}}
BQ_OUT = {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": "bq://my-proj.results"}}


def template(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "name": NAME,
        "displayName": "score",
        "model": MODEL,
        "modelVersionId": "3",
        "inputConfig": GCS_IN,
        "outputConfig": GCS_OUT,
        "instanceConfig": {"instanceType": "object", "keyField": "id"},
        "dedicatedResources": {
            "machineSpec": {
                "machineType": "n1-standard-8",
                "acceleratorType": "NVIDIA_TESLA_T4",
                "acceleratorCount": 1,
            },
            "startingReplicaCount": 2,
            "maxReplicaCount": 6,
        },
        "manualBatchTuningParameters": {"batchSize": 16},
        "generateExplanation": False,
        "explanationSpec": {"parameters": {"integratedGradientsAttribution": {"stepCount": 50}}},
        "serviceAccount": SA,
        "encryptionSpec": {"kmsKeyName": KMS},
        "disableContainerLogging": True,
        "modelParameters": {"temperature": 0.2, "topK": 40.0},
        "labels": {"team": "nlp", "managed-by": "someone", "polysync-request": "stale"},
        # Output-only fields of the template's own run: never cloned.
        "state": "JOB_STATE_SUCCEEDED",
        "outputInfo": {"gcsOutputDirectory": "gs://out-bucket/p/prediction-x"},
        "completionStats": {"successfulCount": "10"},
        "createTime": "2026-11-01T00:00:00Z",
    }
    job.update(overrides)
    return job


def request(
    attributes: dict[str, Any] | None = None, parameters: list[Any] | None = None, *, externalId: str | None = NAME
):
    b: dict[str, Any] = {"requestId": "r-1", "jobName": "nightly score"}
    if externalId:
        b["externalId"] = externalId
    else:
        b["jobType"] = BATCH.job_type
    if attributes is not None:
        b["attributes"] = attributes
    if parameters is not None:
        b["parameters"] = parameters
    return parse_submit(b)


def build(req: Any, tmpl: dict[str, Any] | None) -> dict[str, Any]:
    return BATCH.build(req, tmpl, request_key(req.request_id), NOW)


def error_of(fn: Any) -> ApiError:
    with pytest.raises(ApiError) as err:
        fn()
    assert err.value.status == "INVALID_ARGUMENT"
    return err.value


# -- the kind's description --------------------------------------------------------------------------------------
def test_kind_identity_and_console_url() -> None:
    assert by_type("Vertex AI Batch Prediction Job") is BATCH
    kind, name = parse_run_name(NAME, "runId")
    assert kind is BATCH and name.collection == "batchPredictionJobs"
    assert BATCH.console_url(name) == (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1/batch-predictions/123?project=my-proj"
    )
    assert BATCH.required_without_template == ("model", "inputConfig", "outputConfig")
    assert BATCH.job_id("key") is None  # exactly once by labels + claim, no client-chosen id
    assert {"output_info", "completion_stats", "partial_failures"} <= set(BATCH.read_mask)
    assert not BATCH.outputs_supported and not BATCH.poll_by_update_time


def test_job_states_map_as_the_contract_says() -> None:
    from polysync_vertex.core import states

    assert BATCH.states is states.JOB_STATES
    assert states.polysync_status("JOB_STATE_SUCCEEDED") == "Success"
    assert states.polysync_status("JOB_STATE_PARTIALLY_SUCCEEDED") == "Unknown"  # "anything else"
    assert states.is_final("JOB_STATE_PARTIALLY_SUCCEEDED")


# -- attributes --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model",
    [
        MODEL,
        f"{PARENT}/models/123456",
        f"{PARENT}/models/m@golden",
        "projects/123456789012/locations/us-central1/models/55",
        "publishers/google/models/gemini-1.5-flash-002",
        f"{PARENT}/publishers/google/models/text-bison@002",
    ],
)
def test_model_forms_accepted(model: str) -> None:
    assert BATCH.parse_attributes({"model": model}) == {"model": model}


@pytest.mark.parametrize(
    "model",
    ["models/m", f"{PARENT}/models/", f"{PARENT}/models/a/b", "publishers/google/models/", f"{PARENT}/endpoints/1", 5],
)
def test_model_forms_refused(model: Any) -> None:
    assert error_of(lambda: BATCH.parse_attributes({"model": model})).field == "attributes.model"


@pytest.mark.parametrize(
    "config",
    [
        GCS_IN,
        BQ_IN,
        {"instancesFormat": "csv", "gcsSource": {"uris": ["gs://bkt/a.csv", "gs://bkt/*.csv"]}},
        {"instancesFormat": "file-list", "gcsSource": {"uris": ["gs://bkt/list.txt"]}},
        {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://my-proj.ds.my-table"}},
    ],
)
def test_input_configs_accepted(config: dict[str, Any]) -> None:
    assert BATCH.parse_attributes({"inputConfig": config}) == {"inputConfig": config}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ([], "attributes.inputConfig"),
        ({"gcsSource": {"uris": ["gs://b/a"]}}, "attributes.inputConfig.instancesFormat"),
        ({"instancesFormat": "JSONL", "gcsSource": {"uris": ["gs://b/a"]}}, "attributes.inputConfig.instancesFormat"),
        ({"instancesFormat": "jsonl"}, "attributes.inputConfig"),
        ({**GCS_IN, **BQ_IN, "instancesFormat": "jsonl"}, "attributes.inputConfig"),
        ({"instancesFormat": "jsonl", "gcsSource": {"uris": "gs://b/a"}}, "attributes.inputConfig.gcsSource.uris"),
        (
            {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/a"] * 101}},
            "attributes.inputConfig.gcsSource.uris",
        ),
        (
            {"instancesFormat": "jsonl", "gcsSource": {"uris": ["http://b/a"]}},
            "attributes.inputConfig.gcsSource.uris[0]",
        ),
        ({"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/a"], "x": 1}}, "attributes.inputConfig.gcsSource"),
        (
            {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://my-proj"}},
            "attributes.inputConfig.bigquerySource.inputUri",
        ),
        (
            {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://my-proj.ds"}},
            "attributes.inputConfig.bigquerySource.inputUri",
        ),
        (
            {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://P.ds.t"}},
            "attributes.inputConfig.bigquerySource.inputUri",
        ),
        (
            {"instancesFormat": "jsonl", "bigquerySource": {"inputUri": "bq://my-proj.ds.t"}},
            "attributes.inputConfig.instancesFormat",
        ),
        (
            {"instancesFormat": "bigquery", "gcsSource": {"uris": ["gs://b/a"]}},
            "attributes.inputConfig.instancesFormat",
        ),
        ({**GCS_IN, "unknown": True}, "attributes.inputConfig.unknown"),
    ],
)
def test_input_configs_refused(config: Any, field: str) -> None:
    assert error_of(lambda: BATCH.parse_attributes({"inputConfig": config})).field == field


@pytest.mark.parametrize(
    "uri", ["bq://my-proj", "bq://my-proj.results", "bq://my-proj.results.scores", "bq://my-proj.results.scores-2026"]
)
def test_bigquery_destinations_accepted(uri: str) -> None:
    config = {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": uri}}
    assert BATCH.parse_attributes({"outputConfig": config}) == {"outputConfig": config}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (
            {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": "bq://my-proj.a.b.c"}},
            "attributes.outputConfig.bigqueryDestination.outputUri",
        ),
        (
            {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": "my-proj.a"}},
            "attributes.outputConfig.bigqueryDestination.outputUri",
        ),
        (
            {"predictionsFormat": "jsonl", "bigqueryDestination": {"outputUri": "bq://my-proj"}},
            "attributes.outputConfig.predictionsFormat",
        ),
        (
            {"predictionsFormat": "bigquery", "gcsDestination": {"outputUriPrefix": "gs://b/p"}},
            "attributes.outputConfig.predictionsFormat",
        ),
        (
            {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "b/p"}},
            "attributes.outputConfig.gcsDestination.outputUriPrefix",
        ),
        ({"predictionsFormat": "jsonl", "gcsDestination": {}}, "attributes.outputConfig.gcsDestination"),
        ({"predictionsFormat": "jsonl", "gcsSource": {"uris": ["gs://b/a"]}}, "attributes.outputConfig.gcsSource"),
    ],
)
def test_output_configs_refused(config: Any, field: str) -> None:
    assert error_of(lambda: BATCH.parse_attributes({"outputConfig": config})).field == field


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"machineType": "N1"}, "attributes.machineType"),
        ({"machineType": 4}, "attributes.machineType"),
        ({"startingReplicaCount": 0}, "attributes.startingReplicaCount"),
        ({"startingReplicaCount": True}, "attributes.startingReplicaCount"),
        ({"maxReplicaCount": 1001}, "attributes.maxReplicaCount"),
        ({"maxReplicaCount": "2"}, "attributes.maxReplicaCount"),
        ({"startingReplicaCount": 3, "maxReplicaCount": 2}, "attributes.startingReplicaCount"),
        ({"serviceAccount": "x"}, "attributes.serviceAccount"),
        ({"replicaCount": 1}, "attributes.replicaCount"),
        ({"gcsOutputDirectory": "gs://b"}, "attributes.gcsOutputDirectory"),
    ],
)
def test_other_attributes_refused(attributes: dict[str, Any], field: str) -> None:
    assert error_of(lambda: BATCH.parse_attributes(attributes)).field == field


def test_attributes_are_copied_not_shared() -> None:
    config = copy.deepcopy(GCS_IN)
    parsed = BATCH.parse_attributes({"inputConfig": config, "maxReplicaCount": 4.0, "model": None})
    assert parsed == {"inputConfig": GCS_IN, "maxReplicaCount": 4}
    config["gcsSource"]["uris"].append("gs://b/other")
    assert parsed["inputConfig"] == GCS_IN


@given(st.dictionaries(st.text(max_size=12), st.none() | st.integers() | st.text(max_size=20), max_size=4))
def test_any_attributes_either_parse_or_name_an_attribute(raw: dict[str, Any]) -> None:
    try:
        BATCH.parse_attributes(raw)
    except ApiError as err:
        assert err.status == "INVALID_ARGUMENT" and (err.field or "").startswith("attributes.")


# -- build -------------------------------------------------------------------------------------------------------
def test_build_clones_exactly_the_contract_fields() -> None:
    tmpl = template()
    job = build(request(), tmpl)
    assert set(CLONED) - {"modelParameters"} == {
        "model",
        "modelVersionId",
        "inputConfig",
        "outputConfig",
        "instanceConfig",
        "dedicatedResources",
        "manualBatchTuningParameters",
        "generateExplanation",
        "explanationSpec",
        "serviceAccount",
        "encryptionSpec",
        "disableContainerLogging",
    }
    for field in CLONED:
        assert job[field] == tmpl[field], field
    assert job["generateExplanation"] is False  # a false flag is still the template's choice
    assert job["displayName"] == "nightly score_20261122T081500Z"
    assert job["labels"]["team"] == "nlp" and job["labels"]["managed-by"] == "polysync-vertex"
    assert job["labels"]["polysync-request"] == request_key("r-1") and job["labels"]["polysync-job"] == "nightly-score"
    for output_only in ("name", "state", "outputInfo", "completionStats", "createTime"):
        assert output_only not in job
    job["inputConfig"]["gcsSource"]["uris"].append("gs://x/y")
    assert tmpl["inputConfig"] == GCS_IN  # the (cached) template is never modified


def test_build_overrides() -> None:
    tmpl = template()
    attributes = {
        "model": f"{PARENT}/models/other",
        "inputConfig": BQ_IN,
        "outputConfig": BQ_OUT,
        "machineType": "n1-highmem-4",
        "maxReplicaCount": 3,
        "serviceAccount": "other@my-proj.iam.gserviceaccount.com",
    }
    job = build(request(attributes), tmpl)
    assert job["model"] == attributes["model"] and "modelVersionId" not in job
    assert job["inputConfig"] == BQ_IN and job["outputConfig"] == BQ_OUT
    assert job["serviceAccount"] == attributes["serviceAccount"]
    assert job["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-highmem-4", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1},
        "startingReplicaCount": 2,
        "maxReplicaCount": 3,
    }
    assert tmpl["dedicatedResources"]["machineSpec"]["machineType"] == "n1-standard-8"


def test_build_without_template() -> None:
    req = request({"model": MODEL, "inputConfig": GCS_IN, "outputConfig": GCS_OUT}, externalId=None)
    job = build(req, None)
    assert job == {
        "model": MODEL,
        "inputConfig": GCS_IN,
        "outputConfig": GCS_OUT,
        "displayName": "nightly score_20261122T081500Z",
        "labels": job["labels"],
    }
    assert set(job["labels"]) == {"managed-by", "polysync-request", "polysync-job", "polysync-shard"}
    with_resources = build(
        request(
            {"model": MODEL, "inputConfig": GCS_IN, "outputConfig": GCS_OUT, "machineType": "n1-standard-2"},
            externalId=None,
        ),
        None,
    )
    assert with_resources["dedicatedResources"] == {"machineSpec": {"machineType": "n1-standard-2"}}


@pytest.mark.parametrize(
    ("attributes", "tmpl", "field"),
    [
        ({"startingReplicaCount": 7}, template(), "attributes.startingReplicaCount"),  # template max 6
        ({"maxReplicaCount": 1}, template(), "attributes.maxReplicaCount"),  # template starting 2
        (
            {"startingReplicaCount": 11},
            template(dedicatedResources={"machineSpec": {"machineType": "n1-standard-4"}}),
            "attributes.startingReplicaCount",
        ),
        ({"maxReplicaCount": 4}, template(dedicatedResources=None), "attributes.machineType"),
        (
            {"startingReplicaCount": 1},
            template(dedicatedResources={"startingReplicaCount": 1}),
            "attributes.machineType",
        ),
    ],
)
def test_build_refuses_resources_vertex_would_refuse(
    attributes: dict[str, Any], tmpl: dict[str, Any], field: str
) -> None:
    assert error_of(lambda: build(request(attributes), tmpl)).field == field


def test_replica_counts_within_the_template_are_fine() -> None:
    job = build(request({"startingReplicaCount": 6}), template())
    assert job["dedicatedResources"]["startingReplicaCount"] == 6
    job = build(
        request({"startingReplicaCount": 10}),
        template(dedicatedResources={"machineSpec": {"machineType": "n1-standard-4"}}),
    )
    assert job["dedicatedResources"] == {"machineSpec": {"machineType": "n1-standard-4"}, "startingReplicaCount": 10}


def test_typed_parameters_merge_over_the_templates() -> None:
    params = [
        {"name": "temperature", "type": "Number", "value": "0.9"},
        {"name": "n", "type": "Number", "value": 3.0},
        {"name": "flag", "type": "Boolean", "value": "False"},
        {"name": "mode", "direction": "InputOutput", "type": "String", "value": "fast"},
        {"name": "day", "type": "Date", "value": "2026-11-22"},
        {"name": "cfg", "type": "JSON", "value": {"a": [1, 2]}},
        {"name": "SCORE", "direction": "Output", "type": "Number"},
    ]
    req = request(parameters=params)
    assert req.warnings == ("parameter SCORE (Output) is not supported and was ignored",)
    job = build(req, template())
    assert job["modelParameters"] == {
        "temperature": 0.9,
        "topK": 40.0,
        "n": 3,
        "flag": False,
        "mode": "fast",
        "day": "2026-11-22",
        "cfg": {"a": [1, 2]},
    }
    assert type(job["modelParameters"]["n"]) is int and job["modelParameters"]["flag"] is False


def test_only_output_parameters_leave_model_parameters_alone() -> None:
    job = build(request(parameters=[{"name": "SCORE", "direction": "Output"}]), template(modelParameters=None))
    assert "modelParameters" not in job


def test_parameters_cannot_merge_into_a_non_object() -> None:
    req = request(parameters=[{"name": "SCORE", "direction": "Output"}, {"name": "t", "value": "x"}])
    err = error_of(lambda: build(req, template(modelParameters=["a"])))
    assert err.field == "parameters[1]"
    assert build(request(), template(modelParameters=["a"]))["modelParameters"] == ["a"]  # cloned as it is


def test_template_labels_managed_by_the_connector_are_replaced() -> None:
    labels = build(request(), template(labels={"polysync-job": "x", "managed-by": "y", "keep": "1"}))["labels"]
    assert (
        labels["keep"] == "1"
        and labels["managed-by"] == "polysync-vertex"
        and labels["polysync-job"] == "nightly-score"
    )


# -- outputs and the run record ----------------------------------------------------------------------------------
def test_outputs_of_a_final_job() -> None:
    final = template(partialFailures=[{"code": 3, "message": "instance 1"}])
    assert BATCH.outputs(final, ()) == {
        "outputInfo": {"gcsOutputDirectory": "gs://out-bucket/p/prediction-x"},
        "completionStats": {"successfulCount": "10"},
        "partialFailures": [{"code": 3, "message": "instance 1"}],
    }
    assert BATCH.outputs({"state": "JOB_STATE_FAILED", "completionStats": {}}, ()) == {
        "outputInfo": None,
        "completionStats": None,
        "partialFailures": None,
    }


def test_run_record_carries_outputs_once_final_and_the_accelerator() -> None:
    _, name = parse_run_name(NAME, "runId")
    pending = {**template(state="JOB_STATE_PENDING"), "outputInfo": None, "completionStats": None}
    run = runs.new_run(
        runs.RunOrigin(
            request_id="r-1",
            key="k",
            job_name="j",
            template=None,
            fingerprint="f",
            warnings=(),
        ),
        name,
        pending,
        NOW,
    )
    assert run["jobType"] == BATCH.job_type and run["acceleratorType"] == "NVIDIA_TESLA_T4"
    assert "outputInfo" not in run
    public = runs.public(run)
    assert public["outputInfo"] is None and public["completionStats"] is None and public["partialFailures"] is None
    event = runs.apply_state(run, template(state="JOB_STATE_SUCCEEDED"), NOW)
    assert event is not None
    assert event["data"]["outputInfo"] == {"gcsOutputDirectory": "gs://out-bucket/p/prediction-x"}
    assert event["data"]["completionStats"] == {"successfulCount": "10"}
    assert runs.public(run)["completionStats"] == {"successfulCount": "10"}
    assert runs.public(run, runs.SUBMIT_FIELDS).keys() == {*runs.SUBMIT_FIELDS, "jobType"}


def test_accelerator() -> None:
    assert BATCH.accelerator(template()) == "NVIDIA_TESLA_T4"
    assert BATCH.accelerator(template(dedicatedResources={"machineSpec": {"machineType": "n1-standard-4"}})) is None
    spec = {"machineSpec": {"machineType": "n1", "acceleratorType": "ACCELERATOR_TYPE_UNSPECIFIED"}}
    assert BATCH.accelerator(template(dedicatedResources=spec)) is None
    assert BATCH.accelerator({}) is None


# -- templates ---------------------------------------------------------------------------------------------------
def test_to_template_gcs() -> None:
    t = BATCH.to_template(
        template(modelParameters={"temperature": 0.2, "topK": 40.0, "on": True, "s": "x", "o": {"a": 1.0}, "l": [1]})
    )
    assert t["externalId"] == NAME and t["displayName"] == "score" and t["jobType"] == BATCH.job_type
    assert t["attributes"] == {
        "model": MODEL,
        "inputConfig": GCS_IN,
        "outputConfig": GCS_OUT,
        "machineType": "n1-standard-8",
        "startingReplicaCount": 2,
        "maxReplicaCount": 6,
        "serviceAccount": SA,
    }
    assert [(p["name"], p["type"], p["direction"], p["default"]) for p in t["parameters"]] == [
        ("temperature", "Number", "Input", 0.2),
        ("topK", "Number", "Input", 40),
        ("on", "Boolean", "Input", True),
        ("s", "String", "Input", "x"),
        ("o", "JSON", "Input", {"a": 1}),
        ("l", "JSON", "Input", [1]),
    ]
    assert type(t["parameters"][1]["default"]) is int
    assert {(link["type"], link["name"]) for link in t["links"]} == {
        ("gcp-ai-platform-model", MODEL),
        ("gcp-storage-bucket", "in-bucket"),
        ("gcp-storage-bucket", "out-bucket"),
        ("gcp-iam-service-account", SA),
        ("gcp-cloud-kms-crypto-key", KMS),
    }
    assert t["state"] == "JOB_STATE_SUCCEEDED" and t["labels"]["team"] == "nlp"


def test_to_template_bigquery_and_sparse() -> None:
    t = BATCH.to_template(template(inputConfig=BQ_IN, outputConfig=BQ_OUT, encryptionSpec=None, serviceAccount=""))
    links = {(link["type"], link["name"]) for link in t["links"]}
    assert links == {
        ("gcp-ai-platform-model", MODEL),
        ("gcp-big-query-table", "bq://my-proj.ds.table"),
        ("gcp-big-query-table", "bq://my-proj.results"),
    }
    bare = BATCH.to_template({"name": NAME, "model": "not a model", "dedicatedResources": {"maxReplicaCount": 0}})
    assert bare["attributes"] == {} and bare["parameters"] == [] and bare["state"] == "JOB_STATE_UNSPECIFIED"
    assert bare["links"] == [{"type": "gcp-ai-platform-model", "name": "not a model"}]


def test_template_round_trip_builds_the_template_job() -> None:
    """Importing a template and submitting it with its own attributes and parameters reproduces it."""
    tmpl = template()
    t = BATCH.to_template(tmpl)
    params = [{"name": p["name"], "type": p["type"], "value": p["default"]} for p in t["parameters"]]
    job = build(request(t["attributes"], params), tmpl)
    for field in CLONED:
        assert job[field] == tmpl[field], field
