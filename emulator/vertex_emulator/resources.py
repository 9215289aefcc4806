"""One definition per job collection: proto type, id style, states, where the scenario lives, extra output.

The store, the lifecycle, list/paging, cancel/delete, the admin API and fault injection are generic; what differs
between ``customJobs``, ``pipelineJobs`` and ``batchPredictionJobs`` is here. The message types are those of
``google.cloud.aiplatform_v1`` (schema source, see :mod:`.schema`); the filterable fields and ``orderBy`` fields
are those the v1 REST reference lists for each collection's ``list`` method.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format
from google.protobuf.message import Message

from .errors import invalid_argument
from .scenario import CANCEL_DELAY_ENV, CANCELLED_ERROR, SCENARIO_ENV, Step, parse_scenario
from .schema import missing_required, required_error, violation
from .timeutil import format_timestamp
from .validation import MAX_DISPLAY_NAME, validate_custom_job, validate_labels

if TYPE_CHECKING:
    from .store import Job

OUTPUTS_PARAM = "VERTEX_EMULATOR_OUTPUTS"
INSTANCE_COUNT_PARAM = "VERTEX_EMULATOR_INSTANCE_COUNT"
FAILED_COUNT_PARAM = "VERTEX_EMULATOR_FAILED_COUNT"
CONTROL_PARAMS = frozenset({SCENARIO_ENV, OUTPUTS_PARAM})
BILLING_LABEL = "vertex-ai-pipelines-run-billing-id"
PIPELINE_JOB_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
NUMERIC_ID = re.compile(r"^[0-9]{1,19}$")


@dataclass
class Prepared:
    """A validated create request: the message to store and what drives its lifecycle."""

    message: Message
    display_name: str
    labels: dict[str, str]
    scenario: list[Step]
    timeout_s: float | None = None
    timeout_text: str = ""
    cancel_delay_s: float | None = None
    filter_values: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Resource:
    collection: str  # URL segment, e.g. "customJobs"
    kind: str  # message name, e.g. "CustomJob"
    root: str  # request field in error paths, e.g. "custom_job"
    message_class: type[Message]
    state_prefix: str  # "JOB_STATE_" or "PIPELINE_STATE_"
    states: dict[str, int]
    final_states: frozenset[str]
    default_scenario: str
    numeric_ids: bool
    filter_fields: dict[str, str]
    filter_example: str
    prepare: Callable[[Any, str, str], Prepared]
    decorate: Callable[[Job, dict[str, Any], int, int, bool, bool], None]
    state_error: Callable[[str, str, str], dict[str, Any] | None]
    order_fields: tuple[str, ...] = ()
    newest_first: bool = False  # the default list order

    @property
    def state_names(self) -> frozenset[str]:
        return frozenset(self.states)

    @property
    def list_field(self) -> str:
        return self.collection

    def method(self, verb: str) -> str:
        return f"{verb}{self.kind}s" if verb == "List" else f"{verb}{self.kind}"

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.method(v) for v in ("Create", "Get", "List", "Cancel", "Delete"))

    def state(self, short: str) -> str:
        return self.state_prefix + short

    def state_name(self, value: str) -> str:
        """``RUNNING``, ``running`` or ``JOB_STATE_RUNNING`` -> the full name (ValueError if unknown)."""
        text = value.strip().upper()
        full = text if text.startswith(self.state_prefix) else self.state_prefix + text
        if full not in self.states:
            raise ValueError(f"unknown job state {value!r} (a {self.kind} state is one of {self.state_prefix}*)")
        return full

    def scenario(self, text: str, where: str) -> list[Step]:
        try:
            return parse_scenario(text, self)
        except ValueError as exc:
            raise invalid_argument(f"Invalid {SCENARIO_ENV} in {where}: {exc}.") from None


def _enum_states(enum: Any) -> dict[str, int]:
    return {member.name: int(member.value) for member in enum}


def tidy_numbers(value: Any) -> Any:
    """Integral doubles (how protobuf holds every JSON number in a Struct) back to JSON integers, as Google does."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: tidy_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [tidy_numbers(item) for item in value]
    return value


def _check_display_name(display_name: str, root: str, required: bool) -> None:
    if required and not display_name:
        raise required_error([f"{root}.display_name"])
    if len(display_name) > MAX_DISPLAY_NAME:
        raise violation(
            f"{root}.display_name",
            f"{root}.display_name is {len(display_name)} characters long; at most {MAX_DISPLAY_NAME} are allowed.",
        )


def _require_all(message: Message, root: str) -> None:
    missing = missing_required(message, root)
    if missing:
        raise required_error(missing)


# -- customJobs ---------------------------------------------------------------------------------------------------
JOB_STATES = _enum_states(aiplatform_v1.JobState)
JOB_FINAL = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)


def custom_job_failed_error(project: str, job_id: str, exit_code: int = 1, detail: str = "") -> dict[str, Any]:
    logs = f"https://console.cloud.google.com/logs/viewer?project={project}&resource=ml_job%2Fjob_id%2F{job_id}"
    message = (
        f"The replica workerpool0-0 exited with a non-zero status of {exit_code}. "
        f"{detail}To find out more about why your job exited please check the logs: {logs}"
    )
    return {"code": 13, "message": message}


def _job_state_error(state: str, project: str, job_id: str) -> dict[str, Any] | None:
    if state == "JOB_STATE_FAILED":
        return custom_job_failed_error(project, job_id)
    if state == "JOB_STATE_EXPIRED":
        return {
            "code": 4,
            "message": "The job expired: the requested resources did not become available "
            "before the job's maximum wait time.",
        }
    if state == "JOB_STATE_CANCELLED":
        return dict(CANCELLED_ERROR)
    return None


def _prepare_custom_job(message: Message, project: str, location: str) -> Prepared:
    body = tidy_numbers(json_format.MessageToDict(message))
    valid = validate_custom_job(body, CUSTOM_JOBS)  # the semantic rules: pools, replicas, env, labels, name
    _require_all(message, "custom_job")
    return Prepared(
        message=message,
        display_name=valid.display_name,
        labels=valid.labels,
        scenario=valid.scenario,
        timeout_s=valid.timeout_s,
        timeout_text=re.sub(r"(\.\d*?)0+s$", r"\1s", valid.timeout_text).replace(".s", "s"),  # 1.500s -> 1.5s
        cancel_delay_s=valid.cancel_delay_s,
    )


def _decorate_custom_job(job: Job, out: dict[str, Any], index: int, now: int, ints: bool, detail: bool) -> None:
    spec = out.get("jobSpec") or {}
    if spec.get("enableWebAccess") and job.started_us(index) is not None:
        uris: dict[str, str] = {}
        for pool_index, pool in enumerate(spec.get("workerPoolSpecs", [])):
            if not pool:
                continue
            for replica in range(int(pool.get("replicaCount", 1))):
                node = f"workerpool{pool_index}-{replica}"
                digest = hashlib.sha256(f"{job.id}/{node}".encode()).hexdigest()[:16]
                uris[node] = f"https://{digest}-dot-{job.location}.aiplatform-training.googleusercontent.com"
        out["webAccessUris"] = uris


# -- pipelineJobs -------------------------------------------------------------------------------------------------
PIPELINE_STATES = _enum_states(aiplatform_v1.PipelineState)
PIPELINE_FINAL = frozenset({"PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"})
_TASK_STATE = {
    "PIPELINE_STATE_QUEUED": "PENDING",
    "PIPELINE_STATE_PENDING": "PENDING",
    "PIPELINE_STATE_RUNNING": "RUNNING",
    "PIPELINE_STATE_PAUSED": "RUNNING",
    "PIPELINE_STATE_SUCCEEDED": "SUCCEEDED",
    "PIPELINE_STATE_FAILED": "FAILED",
    "PIPELINE_STATE_CANCELLING": "CANCELLING",
    "PIPELINE_STATE_CANCELLED": "CANCELLED",
}
_TASK_STATES = _enum_states(aiplatform_v1.PipelineTaskDetail.State)
# KFP IR parameter types (pipeline_spec.proto ParameterType.ParameterTypeEnum) and the JSON values they take;
# the legacy `type` (PrimitiveType: INT, DOUBLE, STRING) of KFP v1 IR as well.
_PARAMETER_TYPES: dict[str, Callable[[Any], bool]] = {
    "NUMBER_INTEGER": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer(),
    "INT": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer(),
    "NUMBER_DOUBLE": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "DOUBLE": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "STRING": lambda v: isinstance(v, str),
    "BOOLEAN": lambda v: isinstance(v, bool),
    "LIST": lambda v: isinstance(v, list),
    "STRUCT": lambda v: isinstance(v, dict),
}


def _pipeline_state_error(state: str, project: str, job_id: str) -> dict[str, Any] | None:
    if state == "PIPELINE_STATE_FAILED":
        return {
            "code": 9,
            "message": "The DAG failed because some tasks failed. The failed tasks are: [emulated-task].; "
            f"Job (project_id = {project}, job_id = {job_id}) is failed due to the above error.",
        }
    if state == "PIPELINE_STATE_CANCELLED":
        return dict(CANCELLED_ERROR)
    return None


def _prepare_pipeline_job(message: Message, project: str, location: str) -> Prepared:
    root = "pipeline_job"
    job = message  # google.cloud.aiplatform.v1.PipelineJob
    _check_display_name(job.display_name, root, required=False)  # type: ignore[attr-defined]
    has_spec = job.HasField("pipeline_spec")
    template_uri = job.template_uri  # type: ignore[attr-defined]
    if not has_spec and not template_uri:
        raise required_error([f"{root}.pipeline_spec"])
    if not job.HasField("runtime_config") or not job.runtime_config.gcs_output_directory:  # type: ignore[attr-defined]
        raise required_error([f"{root}.runtime_config.gcs_output_directory"])
    spec = tidy_numbers(json_format.MessageToDict(job.pipeline_spec)) if has_spec else {}  # type: ignore[attr-defined]
    values = tidy_numbers(
        {k: json_format.MessageToDict(v) for k, v in job.runtime_config.parameter_values.items()}  # type: ignore[attr-defined]
    )
    declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    if not isinstance(declared, dict):
        raise violation(f"{root}.pipeline_spec", "pipeline_spec.root.inputDefinitions.parameters must be an object.")
    for name, value in values.items():
        if name in CONTROL_PARAMS:
            continue
        where = f"{root}.runtime_config.parameter_values[{json.dumps(name)}]"
        if has_spec and name not in declared:
            names = ", ".join(sorted(declared)) or "none"
            raise violation(
                where,
                f"The pipeline parameter {name!r} is not declared in pipeline_spec.root.inputDefinitions.parameters "
                f"(declared: {names}).",
            )
        definition = declared.get(name) if isinstance(declared.get(name), dict) else {}
        type_name = str(definition.get("parameterType") or definition.get("type") or "")
        check = _PARAMETER_TYPES.get(type_name)
        if check is not None and not check(value):
            raise violation(
                where,
                f"The value {json.dumps(value)} of pipeline parameter {name!r} does not match its declared "
                f"parameterType {type_name}.",
            )
    scenario_text = values.get(SCENARIO_ENV, PIPELINES.default_scenario)
    if not isinstance(scenario_text, str):
        raise violation(f"{root}.runtime_config.parameter_values", f"{SCENARIO_ENV} must be a string.")
    outputs_raw = values.get(OUTPUTS_PARAM)
    outputs: dict[str, Any] = {}
    if outputs_raw is not None:
        try:
            outputs = json.loads(outputs_raw) if isinstance(outputs_raw, str) else outputs_raw
        except ValueError:
            outputs = None  # type: ignore[assignment]
        if not isinstance(outputs, dict):
            raise violation(
                f"{root}.runtime_config.parameter_values",
                f"{OUTPUTS_PARAM} must be a JSON object (as a string), e.g. '{{\"accuracy\": 0.9}}'.",
            )
    labels = validate_labels(dict(job.labels), root)  # type: ignore[attr-defined]
    billing = str(random.randrange(10**17, 10**18))
    job.labels[BILLING_LABEL] = billing  # type: ignore[attr-defined]
    labels[BILLING_LABEL] = billing
    _require_all(job, root)
    pipeline_name = str((spec.get("pipelineInfo") or {}).get("name") or "")
    return Prepared(
        message=job,
        display_name=job.display_name,  # type: ignore[attr-defined]
        labels=labels,
        scenario=PIPELINES.scenario(scenario_text, "runtime_config.parameter_values"),
        filter_values={"pipeline_name": pipeline_name, "template_uri": template_uri},
        extra={
            "outputs": tidy_numbers(outputs),
            "tasks": list(((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}),
        },
    )


def _decorate_pipeline_job(job: Job, out: dict[str, Any], index: int, now: int, ints: bool, detail: bool) -> None:
    state = job.segments[index].state
    outputs = job.extra.get("outputs") or {}
    if state == "PIPELINE_STATE_SUCCEEDED" and outputs:
        runtime = dict(out.get("runtimeConfig") or {})
        runtime["parameterValues"] = {**(runtime.get("parameterValues") or {}), **outputs}
        out["runtimeConfig"] = runtime
    if not detail:
        return  # jobDetail is in GET only, not in list
    contexts = f"projects/{job.project}/locations/{job.location}/metadataStores/default/contexts"
    pipeline_name = re.sub(r"[^a-z0-9-]+", "-", str(job.filter_values.get("pipeline_name") or job.id).lower())
    task_state = _TASK_STATE.get(state, "PENDING")
    started = job.started_us(index)
    tasks = []
    for position, task_name in enumerate(job.extra.get("tasks") or []):
        task: dict[str, Any] = {
            "taskId": str(int(hashlib.sha256(f"{job.id}/{task_name}".encode()).hexdigest()[:15], 16)),
            "taskName": task_name,
            "createTime": format_timestamp(job.create_us + position),
            "state": _TASK_STATES[task_state] if ints else task_state,
        }
        if started is not None:
            task["startTime"] = format_timestamp(started)
        if state in PIPELINE_FINAL:
            task["endTime"] = format_timestamp(job.segments[index].start_us)
        tasks.append(task)
    stamp = format_timestamp(job.create_us)
    jd: dict[str, Any] = {
        "pipelineContext": {"name": f"{contexts}/{pipeline_name}", "createTime": stamp, "updateTime": stamp},
        "pipelineRunContext": {"name": f"{contexts}/{job.id}", "createTime": stamp, "updateTime": stamp},
    }
    if tasks:
        jd["taskDetails"] = tasks
    out["jobDetail"] = jd


# -- batchPredictionJobs ------------------------------------------------------------------------------------------
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
        return _job_state_error(state, project, job_id)
    return None


def _count(params: dict[str, Any], key: str, default: int, where: str) -> int:
    value = params.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or not float(value).is_integer():
        raise violation(where, f"{key} must be a whole number >= 0, got {json.dumps(value)}.")
    return int(value)


def _prepare_batch_job(message: Message, project: str, location: str) -> Prepared:
    root = "batch_prediction_job"
    job = message  # google.cloud.aiplatform.v1.BatchPredictionJob
    _check_display_name(job.display_name, root, required=True)  # type: ignore[attr-defined]
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
    _require_all(job, root)  # display_name, input_config(.instances_format), output_config(.predictions_format), ...
    source = job.input_config  # type: ignore[attr-defined]
    where = f"{root}.input_config"
    if source.instances_format not in _INSTANCES_FORMATS:
        raise violation(
            f"{where}.instances_format",
            f"Unsupported {where}.instances_format {source.instances_format!r}; "
            f"supported: {', '.join(sorted(_INSTANCES_FORMATS))}.",
        )
    kind = source.WhichOneof("source")
    if kind is None:
        raise required_error([f"{where}.gcs_source", f"{where}.bigquery_source"])
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
    if sink.predictions_format not in _PREDICTIONS_FORMATS:
        raise violation(
            f"{where}.predictions_format",
            f"Unsupported {where}.predictions_format {sink.predictions_format!r}; "
            f"supported: {', '.join(sorted(_PREDICTIONS_FORMATS))}.",
        )
    kind = sink.WhichOneof("destination")
    if kind is None:
        raise required_error([f"{where}.gcs_destination", f"{where}.bigquery_destination"])
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
        extra={"count": count, "failed": failed, "version": version if version.isdigit() else "1"},
    )


def _iso_millis(us: int) -> str:
    """``YYYY-MM-DDThh:mm:ss.sssZ``, the job-create-time in Vertex AI's output names."""
    text = format_timestamp(us - us % 1000)
    return text if "." in text else text[:-1] + ".000Z"


def _decorate_batch_job(job: Job, out: dict[str, Any], index: int, now: int, ints: bool, detail: bool) -> None:
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


def _time_fields(*extra: str) -> dict[str, str]:
    fields = {"display_name": "text", "state": "state", "create_time": "time", "update_time": "time"}
    for name in extra:
        fields[name] = {"end_time": "time", "template_uri": "text"}.get(name, "exact")
    return fields


CUSTOM_JOBS = Resource(
    collection="customJobs",
    kind="CustomJob",
    root="custom_job",
    message_class=aiplatform_v1.CustomJob.pb(),  # type: ignore[arg-type]
    state_prefix="JOB_STATE_",
    states=JOB_STATES,
    final_states=JOB_FINAL,
    default_scenario="PENDING:1,QUEUED:1,RUNNING:3,SUCCEEDED",
    numeric_ids=True,
    filter_fields=_time_fields(),
    filter_example='state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*"',
    prepare=_prepare_custom_job,
    decorate=_decorate_custom_job,
    state_error=_job_state_error,
)
PIPELINES = Resource(
    collection="pipelineJobs",
    kind="PipelineJob",
    root="pipeline_job",
    message_class=aiplatform_v1.PipelineJob.pb(),  # type: ignore[arg-type]
    state_prefix="PIPELINE_STATE_",
    states=PIPELINE_STATES,
    final_states=PIPELINE_FINAL,
    default_scenario="PENDING:1,RUNNING:3,SUCCEEDED",
    numeric_ids=False,
    filter_fields=_time_fields("pipeline_name", "end_time", "template_uri"),
    filter_example='state="PIPELINE_STATE_SUCCEEDED" AND update_time>="2026-01-01T00:00:00Z"',
    prepare=_prepare_pipeline_job,
    decorate=_decorate_pipeline_job,
    state_error=_pipeline_state_error,
    order_fields=("create_time", "update_time", "end_time", "start_time"),
    newest_first=True,  # v1 reference: "if order_by is not specified, it will order by ... create time in descending"
)
BATCH_PREDICTION_JOBS = Resource(
    collection="batchPredictionJobs",
    kind="BatchPredictionJob",
    root="batch_prediction_job",
    message_class=aiplatform_v1.BatchPredictionJob.pb(),  # type: ignore[arg-type]
    state_prefix="JOB_STATE_",
    states=JOB_STATES,
    final_states=JOB_FINAL,
    default_scenario="PENDING:1,QUEUED:1,RUNNING:3,SUCCEEDED",
    numeric_ids=True,
    filter_fields=_time_fields("model_display_name"),
    filter_example='state="JOB_STATE_SUCCEEDED" AND model_display_name="my-model"',
    prepare=_prepare_batch_job,
    decorate=_decorate_batch_job,
    state_error=_batch_state_error,
)
RESOURCES: dict[str, Resource] = {r.collection: r for r in (CUSTOM_JOBS, PIPELINES, BATCH_PREDICTION_JOBS)}
CANCEL_DELAY_PARAM = CANCEL_DELAY_ENV


def api_methods() -> tuple[str, ...]:
    return tuple(m for r in RESOURCES.values() for m in r.methods) + ("GetOperation",)
