"""``pipelineJobs``: the PipelineJob collection (proto ``google.cloud.aiplatform.v1.PipelineJob``)."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format
from google.protobuf.message import Message

from .collection import JobView, Prepared, Resource, time_fields
from .ids import PIPELINE_JOBS as COLLECTION
from .scenario import CANCELLED_ERROR, SCENARIO_ENV
from .schema import require_all, tidy_numbers
from .schema_check import required_error, violation
from .service_log import LOGS_PARAM, scripted_param
from .states import PIPELINE_FINAL, PIPELINE_STATES, TASK_STATES
from .timeutil import format_timestamp
from .validation import check_display_name, validate_labels

OUTPUTS_PARAM = "VERTEX_EMULATOR_OUTPUTS"
CONTROL_PARAMS = frozenset({SCENARIO_ENV, OUTPUTS_PARAM, LOGS_PARAM})
BILLING_LABEL = "vertex-ai-pipelines-run-billing-id"
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
    check_display_name(job.display_name, root, required=False)  # type: ignore[attr-defined]
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
    require_all(job, root)
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
            "scripted_logs": scripted_param(values, f"{root}.runtime_config.parameter_values"),
        },
    )


def _decorate_pipeline_job(job: JobView, out: dict[str, Any], index: int, now: int, ints: bool, detail: bool) -> None:
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
            "state": TASK_STATES[task_state] if ints else task_state,
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


PIPELINES = Resource(
    collection=COLLECTION,
    kind="PipelineJob",
    root="pipeline_job",
    message_class=aiplatform_v1.PipelineJob.pb(),  # type: ignore[arg-type]
    state_prefix="PIPELINE_STATE_",
    states=PIPELINE_STATES,
    final_states=PIPELINE_FINAL,
    default_scenario="PENDING:1,RUNNING:3,SUCCEEDED",
    numeric_ids=False,
    filter_fields=time_fields("pipeline_name", "end_time", "template_uri"),
    filter_example='state="PIPELINE_STATE_SUCCEEDED" AND update_time>="2026-01-01T00:00:00Z"',
    prepare=_prepare_pipeline_job,
    decorate=_decorate_pipeline_job,
    state_error=_pipeline_state_error,
    order_fields=("create_time", "update_time", "end_time", "start_time"),
    newest_first=True,  # v1 reference: "if order_by is not specified, it will order by ... create time in descending"
)
