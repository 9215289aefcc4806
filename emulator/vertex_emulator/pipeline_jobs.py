"""``pipelineJobs``: the PipelineJob collection (proto ``google.cloud.aiplatform.v1.PipelineJob``)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format
from google.protobuf.message import Message

from .collection import JobView, Prepared, Resource, time_fields
from .ids import PIPELINE_JOBS as COLLECTION
from .pipeline_detail import DAG_FAILED_MESSAGE, failing_task, job_detail, tasks_of
from .scenario import CANCELLED_ERROR, SCENARIO_ENV
from .schema import require_all, tidy_numbers
from .schema_check import required_error, violation
from .service_log import LOGS_PARAM, scripted_param
from .states import PIPELINE_FINAL, PIPELINE_STATES
from .validation import check_display_name, validate_labels

OUTPUTS_PARAM = "VERTEX_EMULATOR_OUTPUTS"  # the root task's output:<name> values on success
FAIL_TASK_PARAM = "VERTEX_EMULATOR_FAIL_TASK"  # the task that fails when the job fails (default: the first)
CONTROL_PARAMS = frozenset({SCENARIO_ENV, OUTPUTS_PARAM, FAIL_TASK_PARAM, LOGS_PARAM})
BILLING_LABEL = "vertex-ai-pipelines-run-billing-id"
_FAILED_TASKS = "[emulated-task]"  # in the scripted FAILED error, replaced by the job's failing task
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
            "message": f"{DAG_FAILED_MESSAGE} The failed tasks are: {_FAILED_TASKS}.; "
            f"Job (project_id = {project}, job_id = {job_id}) is failed due to the above error.",
        }
    if state == "PIPELINE_STATE_CANCELLED":
        return dict(CANCELLED_ERROR)
    return None


def _legacy_inputs(parameters: dict[str, Any]) -> dict[str, Any]:
    """``runtimeConfig.parameters`` (typed Values of KFP's older IR; intValue is an int64 string) as plain values."""
    out: dict[str, Any] = {}
    for name, value in parameters.items():
        if "intValue" in value:
            out[name] = int(value["intValue"])
        elif "doubleValue" in value:
            out[name] = value["doubleValue"]
        elif "stringValue" in value:
            out[name] = value["stringValue"]
    return out


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
    tasks = tasks_of(spec)
    fail_task = values.get(FAIL_TASK_PARAM)
    if fail_task is not None and (not isinstance(fail_task, str) or fail_task not in {t.name for t in tasks}):
        names = ", ".join(t.name for t in tasks) or "none"
        raise violation(
            f"{root}.runtime_config.parameter_values",
            f"{FAIL_TASK_PARAM} must name a task of pipeline_spec.root.dag.tasks ({names}), "
            f"got {json.dumps(fail_task)}.",
        )
    labels = validate_labels(dict(job.labels), root)  # type: ignore[attr-defined]
    billing = str(random.randrange(10**17, 10**18))
    job.labels[BILLING_LABEL] = billing  # type: ignore[attr-defined]
    labels[BILLING_LABEL] = billing
    require_all(job, root)
    pipeline_name = str((spec.get("pipelineInfo") or {}).get("name") or "")
    parameters = json_format.MessageToDict(job.runtime_config).get("parameters") or {}  # type: ignore[attr-defined]
    inputs = _legacy_inputs(tidy_numbers(parameters))
    inputs.update({k: v for k, v in values.items() if k not in CONTROL_PARAMS})
    return Prepared(
        message=job,
        display_name=job.display_name,  # type: ignore[attr-defined]
        labels=labels,
        scenario=PIPELINES.scenario(scenario_text, "runtime_config.parameter_values"),
        filter_values={"pipeline_name": pipeline_name, "template_uri": template_uri},
        extra={
            "outputs": tidy_numbers(outputs),
            "inputs": inputs,
            "tasks": tasks,
            "fail_task": fail_task,
            "scripted_logs": scripted_param(values, f"{root}.runtime_config.parameter_values"),
        },
    )


def _decorate_pipeline_job(job: JobView, out: dict[str, Any], index: int, now: int, ints: bool, detail: bool) -> None:
    """runtimeConfig stays as created (it is input: python-aiplatform's PipelineJob.clone() reads a fetched job's
    runtimeConfig back as the new run's inputs); outputs are on the root task of jobDetail (pipeline_detail.py),
    which only GET carries (unless a list's readMask asks for jobDetail's contexts)."""
    error = out.get("error")
    failing = failing_task(job)
    if isinstance(error, dict) and failing and _FAILED_TASKS in str(error.get("message", "")):
        out["error"] = {**error, "message": str(error["message"]).replace(_FAILED_TASKS, f"[{failing}]")}
    if detail:
        out["jobDetail"] = job_detail(job, index, ints)


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
    detail_fields=frozenset({"jobDetail"}),
    list_never=(("jobDetail", "taskDetails"),),  # "Not available in the list view" (PipelineJob.job_detail)
)
