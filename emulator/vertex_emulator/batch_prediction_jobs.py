"""``batchPredictionJobs``: the BatchPredictionJob collection (proto ``aiplatform.v1.BatchPredictionJob``)."""

from __future__ import annotations

import json
import re
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format
from google.protobuf.message import Message

from .collection import JobView, Prepared, Resource, time_fields
from .custom_jobs import job_state_error
from .ids import BATCH_PREDICTION_JOBS as COLLECTION
from .scenario import SCENARIO_ENV
from .schema import require_all, tidy_numbers
from .schema_check import required_error, violation
from .service_log import scripted_param
from .states import JOB_FINAL, JOB_STATES
from .timeutil import format_timestamp
from .validation import check_display_name, validate_labels

INSTANCE_COUNT_PARAM = "VERTEX_EMULATOR_INSTANCE_COUNT"
FAILED_COUNT_PARAM = "VERTEX_EMULATOR_FAILED_COUNT"
_MODEL = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?models/[^/@]+(?:@[A-Za-z0-9_-]+)?$"
    r"|^(?:projects/[^/]+/locations/[^/]+/)?publishers/[^/]+/models/[^/@]+(?:@[A-Za-z0-9._-]+)?$"
)
_INSTANCES_FORMATS = frozenset({"jsonl", "csv", "tf-record", "tf-record-gzip", "bigquery", "file-list"})
_PREDICTIONS_FORMATS = frozenset({"jsonl", "csv", "bigquery"})
_BQ_TABLE = re.compile(r"^bq://[^./]+\.[^./]+\.[^./]+$")
_BQ_DESTINATION = re.compile(r"^bq://[^./]+(?:\.[^./]+){0,2}$")
DEFAULT_INSTANCE_COUNT = 100


def _batch_state_error(state: str, project: str, job_id: str) -> dict[str, Any] | None:
    if state == "JOB_STATE_FAILED":
        return {"code": 13, "message": "Batch prediction failed: no instance could be predicted; see partial_failures."}
    if state in ("JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"):
        return job_state_error(state, project, job_id)
    return None


def _count(params: dict[str, Any], key: str, default: int, where: str) -> int:
    value = params.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or not float(value).is_integer():
        raise violation(where, f"{key} must be a whole number >= 0, got {json.dumps(value)}.")
    return int(value)


def _format_and_oneof(
    config: Any, where: str, format_field: str, formats: frozenset[str], oneof: str, choices: tuple[str, ...]
) -> str:
    """An input or output config's format is one Vertex AI accepts, and one field of its `oneof` is set: which
    (`choices`: the fields a missing one is reported as)."""
    fmt = getattr(config, format_field)
    if fmt not in formats:
        raise violation(
            f"{where}.{format_field}",
            f"Unsupported {where}.{format_field} {fmt!r}; supported: {', '.join(sorted(formats))}.",
        )
    kind = config.WhichOneof(oneof)
    if kind is None:
        raise required_error([f"{where}.{choice}" for choice in choices])
    return str(kind)


def _prepare_batch_job(message: Message, project: str, location: str) -> Prepared:
    root = "batch_prediction_job"
    job = message  # google.cloud.aiplatform.v1.BatchPredictionJob
    check_display_name(job.display_name, root, required=True)  # type: ignore[attr-defined]
    model = job.model  # type: ignore[attr-defined]
    has_unmanaged = job.HasField("unmanaged_container_model")
    if model and has_unmanaged:
        raise violation(f"{root}.model", "Exactly one of model and unmanaged_container_model must be set.")
    if not model and not has_unmanaged:
        raise required_error([f"{root}.model"])
    if model and not _MODEL.match(model):
        raise violation(
            f"{root}.model",
            f"Invalid value at '{root}.model': {model!r} is not a model resource name "
            "(projects/{project}/locations/{location}/models/{model}[@version] "
            "or publishers/{publisher}/models/{model}).",
        )
    require_all(job, root)  # display_name, input_config(.instances_format), output_config(.predictions_format), ...
    source = job.input_config  # type: ignore[attr-defined]
    where = f"{root}.input_config"
    kind = _format_and_oneof(
        source, where, "instances_format", _INSTANCES_FORMATS, "source", ("gcs_source", "bigquery_source")
    )
    if kind == "gcs_source":
        bad = [uri for uri in source.gcs_source.uris if not uri.startswith("gs://")]
        if bad:
            raise violation(f"{where}.gcs_source.uris", f"Cloud Storage URIs must start with gs://, got {bad[0]!r}.")
        if source.instances_format == "bigquery":
            raise violation(f"{where}.instances_format", "instances_format bigquery needs a bigquery_source.")
    else:
        if not _BQ_TABLE.match(source.bigquery_source.input_uri):
            raise violation(
                f"{where}.bigquery_source.input_uri",
                "BigQuery input_uri must look like bq://project.dataset.table, "
                f"got {source.bigquery_source.input_uri!r}.",
            )
        if source.instances_format != "bigquery":
            raise violation(f"{where}.instances_format", "A bigquery_source needs instances_format bigquery.")
    sink = job.output_config  # type: ignore[attr-defined]
    where = f"{root}.output_config"
    destinations = ("gcs_destination", "bigquery_destination")
    kind = _format_and_oneof(sink, where, "predictions_format", _PREDICTIONS_FORMATS, "destination", destinations)
    if kind == "gcs_destination":
        prefix = sink.gcs_destination.output_uri_prefix
        if not prefix.startswith("gs://"):
            raise violation(f"{where}.gcs_destination.output_uri_prefix", f"must start with gs://, got {prefix!r}.")
        if sink.predictions_format == "bigquery":
            raise violation(f"{where}.predictions_format", "predictions_format bigquery needs a bigquery_destination.")
    elif kind == "bigquery_destination":
        uri = sink.bigquery_destination.output_uri
        if not _BQ_DESTINATION.match(uri):
            raise violation(
                f"{where}.bigquery_destination.output_uri",
                f"BigQuery output_uri must look like bq://project[.dataset[.table]], got {uri!r}.",
            )
        if sink.predictions_format != "bigquery":
            raise violation(f"{where}.predictions_format", "A bigquery_destination needs predictions_format bigquery.")
    params = tidy_numbers(json_format.MessageToDict(job.model_parameters)) if job.HasField("model_parameters") else None
    params = params if isinstance(params, dict) else {}
    where = f"{root}.model_parameters"
    scenario_text = params.get(SCENARIO_ENV, BATCH_PREDICTION_JOBS.default_scenario)
    if not isinstance(scenario_text, str):
        raise violation(where, f"{SCENARIO_ENV} must be a string.")
    count = _count(params, INSTANCE_COUNT_PARAM, DEFAULT_INSTANCE_COUNT, where)
    failed = _count(params, FAILED_COUNT_PARAM, 0, where)
    if failed > count:
        raise violation(where, f"{FAILED_COUNT_PARAM} ({failed}) exceeds {INSTANCE_COUNT_PARAM} ({count}).")
    labels = validate_labels(dict(job.labels), root)  # type: ignore[attr-defined]
    model_id, _, version = (model or "unmanaged-container-model").rsplit("/", 1)[-1].partition("@")
    return Prepared(
        message=job,
        display_name=job.display_name,  # type: ignore[attr-defined]
        labels=labels,
        scenario=BATCH_PREDICTION_JOBS.scenario(scenario_text, "model_parameters"),
        filter_values={"model_display_name": model_id},
        extra={
            "count": count,
            "failed": failed,
            "version": version if version.isdigit() else "1",
            "scripted_logs": scripted_param(params, where),
        },
    )


def _iso_millis(us: int) -> str:
    """``YYYY-MM-DDThh:mm:ss.sssZ``, the job-create-time in Vertex AI's output names."""
    text = format_timestamp(us - us % 1000)
    return text if "." in text else text[:-1] + ".000Z"


def _decorate_batch_job(job: JobView, out: dict[str, Any], index: int, now: int, ints: bool, detail: bool) -> None:
    if out.get("model"):
        out["modelVersionId"] = job.extra["version"]
    state = job.segments[index].state
    count, failed = job.extra["count"], job.extra["failed"]
    if state == "JOB_STATE_PARTIALLY_SUCCEEDED" and not failed:
        failed = max(1, count // 10)
    if state == "JOB_STATE_FAILED":
        failed = count
    if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED"):
        stamp = _iso_millis(job.create_us)
        model_name = job.filter_values["model_display_name"]
        destination = out.get("outputConfig") or {}
        if "gcsDestination" in destination:
            prefix = destination["gcsDestination"]["outputUriPrefix"].rstrip("/")
            out["outputInfo"] = {"gcsOutputDirectory": f"{prefix}/prediction-{model_name}-{stamp}"}
        elif "bigqueryDestination" in destination:
            uri = destination["bigqueryDestination"]["outputUri"]
            parts = uri[len("bq://") :].split(".")
            bq_stamp = re.sub(r"[-:.]", "_", stamp)
            if len(parts) == 1:
                dataset = f"bq://{parts[0]}.prediction_{re.sub(r'[^A-Za-z0-9_]', '_', model_name)}_{bq_stamp}"
            else:
                dataset = f"bq://{parts[0]}.{parts[1]}"
            table = parts[2] if len(parts) == 3 else f"predictions_{bq_stamp}"
            out["outputInfo"] = {"bigqueryOutputDataset": dataset, "bigqueryOutputTable": table}
    if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_FAILED"):
        stats = {"successfulCount": str(count - failed), "failedCount": str(failed), "incompleteCount": "0"}
        out["completionStats"] = {k: v for k, v in stats.items() if v != "0"}
        if failed and state != "JOB_STATE_SUCCEEDED":
            out["partialFailures"] = [
                {"code": 3, "message": f"Instance {i + 1}: the model returned an error for this instance."}
                for i in range(min(failed, 20))
            ]
    if state in ("JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"):
        out["completionStats"] = {"incompleteCount": str(count)} if count else {}


BATCH_PREDICTION_JOBS = Resource(
    collection=COLLECTION,
    kind="BatchPredictionJob",
    root="batch_prediction_job",
    message_class=aiplatform_v1.BatchPredictionJob.pb(),  # type: ignore[arg-type]
    state_prefix="JOB_STATE_",
    states=JOB_STATES,
    final_states=JOB_FINAL,
    default_scenario="PENDING:1,QUEUED:1,RUNNING:3,SUCCEEDED",
    numeric_ids=True,
    filter_fields=time_fields("model_display_name"),
    filter_example='state="JOB_STATE_SUCCEEDED" AND model_display_name="my-model"',
    prepare=_prepare_batch_job,
    decorate=_decorate_batch_job,
    state_error=_batch_state_error,
)
