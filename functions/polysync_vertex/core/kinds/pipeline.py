"""Vertex AI Pipeline Job (`pipelineJobs`): a KFP pipeline run; typed parameters, outputs, a client-chosen id.

The pipeline's parameters are declared in its spec (KFP IR, `pipelineSpec.root.inputDefinitions.parameters` and
`.outputDefinitions.parameters`, each with a `parameterType`: NUMBER_INTEGER, NUMBER_DOUBLE, STRING, BOOLEAN, LIST,
STRUCT; older IR uses `type`: INT, DOUBLE, STRING). Input and InputOutput parameters become typed
`runtimeConfig.parameterValues`; a name the spec does not declare is refused, listing the declared ones.
Exactly once natively: the job is created with `pipelineJobId` derived from the request key, so a repeated create
answers ALREADY_EXISTS and the existing job is used.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import attributes as attrs
from ..errors import invalid
from ..links import LINK_BUCKET, LINK_IMAGE, LINK_KMS_KEY, LINK_NETWORK, LINK_SERVICE_ACCOUNT, as_links, buckets
from ..parameters import Parameter
from ..shape import as_dict, as_str, tidy_numbers
from ..states import PIPELINE_STATES
from . import pipeline_outputs, pipeline_tasks
from .base import JobKind, JobRequest
from .pipeline_outputs import LEGACY_TYPES as _LEGACY_TYPES
from .pipeline_outputs import declared, unwrap_legacy

if TYPE_CHECKING:
    from ..names import JobResourceName

PIPELINE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}\Z")
TEMPLATE_URI_RE = re.compile(
    r"^(https://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{1,2000}|gs://[a-z0-9][a-z0-9._-]{1,220}/\S+)\Z"
)
ATTRIBUTES = frozenset({"gcsOutputDirectory", "serviceAccount", "network", "templateUri"})
CLONED = (
    "pipelineSpec",
    "templateUri",
    "runtimeConfig",
    "serviceAccount",
    "network",
    "reservedIpRanges",
    "encryptionSpec",
    "pscInterfaceConfig",
)
# Labels Vertex AI manages on pipeline runs (e.g. vertex-ai-pipelines-run-billing-id): never cloned.
MANAGED_LABEL_PREFIX = "vertex-ai-pipelines-"
# KFP parameter types -> Polysync parameter types (templates) and the Polysync types a value may be given as.
POLYSYNC_TYPE = {
    "NUMBER_INTEGER": "Number",
    "NUMBER_DOUBLE": "Number",
    "BOOLEAN": "Boolean",
    "STRING": "String",
    "LIST": "JSON",
    "STRUCT": "JSON",
}


def is_legacy(spec: Any) -> bool:
    """KFP v1-era IR (schemaVersion 2.0.0, inputs typed by `type`: INT, DOUBLE, STRING). Its values go to
    `runtimeConfig.parameters` as typed Values; `parameterValues` is for schemaVersion 2.1.0 and later."""
    params = as_dict(as_dict(as_dict(as_dict(spec).get("root")).get("inputDefinitions")).get("parameters"))
    return any("type" in as_dict(d) and "parameterType" not in as_dict(d) for d in params.values())


def legacy_value(value: Any, ptype: str) -> dict[str, Any]:
    """A value as `runtimeConfig.parameters` takes it (intValue is an int64: a string in REST JSON)."""
    if ptype == "NUMBER_INTEGER":
        return {"intValue": str(int(value))}
    if ptype == "NUMBER_DOUBLE":
        return {"doubleValue": float(value)}
    return {"stringValue": value}


def _typed(param: Parameter, ptype: str, path: str) -> Any:
    """The parameter's value as the JSON value its declared KFP type takes; 400 when it cannot be."""
    value = param.typed
    if ptype == "NUMBER_INTEGER":
        if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
            raise invalid(f"parameter {param.name} is an integer in the pipeline; give a whole Number", path)
        return int(value)
    if ptype == "NUMBER_DOUBLE":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(f"parameter {param.name} is a number in the pipeline; give a Number", path)
        return value
    if ptype == "BOOLEAN":
        if not isinstance(value, bool):
            raise invalid(f"parameter {param.name} is a boolean in the pipeline; give a Boolean", path)
        return value
    if ptype == "LIST":
        if not isinstance(value, list):
            raise invalid(f"parameter {param.name} is a list in the pipeline; give a JSON array", path)
        return value
    if ptype == "STRUCT":
        if not isinstance(value, dict):
            raise invalid(f"parameter {param.name} is a struct in the pipeline; give a JSON object", path)
        return value
    if not isinstance(value, str):
        raise invalid(f"parameter {param.name} is a string in the pipeline; give a String, Date or DateTime", path)
    return value


class PipelineJobKind(JobKind):
    job_type = "Vertex AI Pipeline Job"
    collection = "pipelineJobs"
    # Log aiplatform.googleapis.com%2Fpipeline_job_events, jsonPayload.state: documented in Vertex AI "View pipeline
    # job logs" (https://cloud.google.com/vertex-ai/docs/pipelines/logging).
    hint_resource_type = "aiplatform.googleapis.com/PipelineJob"
    hint_job_id_label = "pipeline_job_id"
    resource = "PipelineJob"
    service = "pipeline"
    id_pattern = PIPELINE_ID_RE
    id_text = "lowercase letters, digits and hyphens, at most 128"
    states = PIPELINE_STATES
    console_path = "pipelines/runs"
    attributes = ATTRIBUTES
    required_without_template = ("templateUri", "gcsOutputDirectory")
    outputs_supported = True
    parameter_name = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}\Z")
    parameter_name_rule = "a pipeline parameter name ([A-Za-z_][A-Za-z0-9_.-]*)"
    output_read_mask = ("runtime_config",)
    poll_by_update_time = True
    output_fields = ("outputs", "failedTasks")
    template_read_mask = ("name", "labels")
    template_by_get = True

    def parse_attributes(self, raw: Any, accelerators: Collection[str] | None = None) -> dict[str, Any]:
        patterns = {
            "gcsOutputDirectory": attrs.GCS_URI_RE,
            "serviceAccount": attrs.SERVICE_ACCOUNT_RE,
            "network": attrs.NETWORK_RE,
            "templateUri": TEMPLATE_URI_RE,
        }
        return {k: attrs.matching(v, path, k, patterns[k]) for k, v, path in attrs.given(raw, self.attributes)}

    def job_id(self, key: str) -> str | None:
        """`psv-<request key>` with '_' as '-': stable per requestId, valid under Vertex AI's id rule."""
        return ("psv-" + key.replace("_", "-"))[:128]

    def build(self, request: JobRequest, template: dict[str, Any] | None, key: str, now: datetime) -> dict[str, Any]:
        a = request.attributes
        body = self.clone(template, CLONED)
        if template is not None and "templateUri" in a and a["templateUri"] != template.get("templateUri"):
            raise invalid(
                "templateUri comes from the template (externalId) and cannot be changed", "attributes.templateUri"
            )
        if template is None:
            body["templateUri"] = a["templateUri"]
        if "pipelineSpec" not in body and "templateUri" not in body:
            raise invalid("the template has neither a pipelineSpec nor a templateUri", "externalId")
        runtime = body.setdefault("runtimeConfig", {})
        if "gcsOutputDirectory" in a:
            runtime["gcsOutputDirectory"] = a["gcsOutputDirectory"]
        for field in ("serviceAccount", "network"):
            if field in a:
                body[field] = a[field]
        spec = body.get("pipelineSpec")
        inputs = declared(spec) if spec else None
        values = dict(runtime.get("parameterValues") or {})
        legacy = dict(runtime.get("parameters") or {})
        if inputs is not None:
            # A finished template run's final values include its outputs; they are no inputs of the new run (and
            # Vertex AI refuses a value of a parameter the pipeline does not declare as an input).
            for name in set(declared(spec, "outputDefinitions")) - set(inputs):
                values.pop(name, None)
                legacy.pop(name, None)
        old_ir = inputs is not None and is_legacy(spec)
        for index, param in enumerate(request.parameters):
            if param.direction == "Output":
                continue
            path = f"parameters[{index}]"
            if inputs is not None and param.name not in inputs:
                names = ", ".join(sorted(inputs)) or "none"
                raise invalid(
                    f"the pipeline does not declare an input parameter {param.name}; it declares: {names}",
                    f"{path}.name",
                )
            if inputs is None:
                values[param.name] = param.typed
                continue
            value = _typed(param, inputs[param.name], f"{path}.value")
            if old_ir:
                if inputs[param.name] not in _LEGACY_TYPES.values():
                    raise invalid(
                        f"parameter {param.name} has type {inputs[param.name]}, which this pipeline's IR "
                        "(schemaVersion 2.0.0) cannot take",
                        f"{path}.name",
                    )
                values.pop(param.name, None)
                legacy[param.name] = legacy_value(value, inputs[param.name])
            else:
                legacy.pop(param.name, None)
                values[param.name] = value
        for field, mapping in (("parameterValues", values), ("parameters", legacy)):
            if mapping:
                runtime[field] = mapping
            else:
                runtime.pop(field, None)
        body.update(self.base_body(request, template, key, now, drop=MANAGED_LABEL_PREFIX))
        return body

    def outputs(self, job: dict[str, Any], output_names: tuple[str, ...]) -> dict[str, Any]:
        return pipeline_outputs.outputs(job, output_names)

    def needs_full_job(self, job: dict[str, Any], output_names: tuple[str, ...]) -> bool:
        """Outputs are on the root task, in jobDetail, which a list entry lacks: one GET for runs with outputs."""
        return bool(output_names) and "jobDetail" not in job

    # -- diagnostics: the pipeline's events and its (failed) tasks' CustomJobs (pipeline_tasks.py) ----------
    def log_filter(self, name: JobResourceName, job: dict[str, Any], *, all_tasks: bool = False) -> str:
        return pipeline_tasks.log_filter(name.job_id, job, all_tasks=all_tasks)

    failure_needs_detail = True  # jobDetail.taskDetails: "Not available in the list view"
    # Every task's CustomJob, running or ended, is only in GetPipelineJob's jobDetail.taskDetails (v1
    # PipelineTaskDetail.executor_detail: PipelineTaskExecutorDetail.ContainerDetail.main_job / CustomJobDetail.job,
    # "The name of the CustomJob for the main container execution"; google/cloud/aiplatform_v1/types/pipeline_job.py).
    logs_need_job = True
    failed_tasks_on_run = True  # issue 23: failedTasks on the run, in status and the terminal event

    def log_jobs(self, job: dict[str, Any]) -> list[str]:
        return pipeline_tasks.job_ids(job, all_tasks=True)

    def run_log_filter(self, name: JobResourceName, job_ids: Sequence[str]) -> str:
        return pipeline_tasks.filter_of(name.job_id, job_ids)

    def run_job_view(self, run: dict[str, Any]) -> dict[str, Any]:
        return {**super().run_job_view(run), **pipeline_tasks.job_of_run(run)}

    def log_sources(self, job: dict[str, Any]) -> dict[str, str]:
        return pipeline_tasks.sources(job)

    def failed_tasks(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        return pipeline_tasks.failed(job)

    def to_template(self, job: dict[str, Any]) -> dict[str, Any]:
        spec = job.get("pipelineSpec")
        runtime = as_dict(job.get("runtimeConfig"))
        candidates = {
            "gcsOutputDirectory": as_str(runtime.get("gcsOutputDirectory")),
            "serviceAccount": as_str(job.get("serviceAccount")),
            "network": as_str(job.get("network")),
            "templateUri": as_str(job.get("templateUri")),
        }
        attributes: dict[str, Any] = {}
        for key, value in candidates.items():
            if value:
                try:
                    attributes.update(self.parse_attributes({key: value}))
                except Exception:  # noqa: BLE001 - submit would refuse it; the clone carries it unchanged
                    continue
        values = {**unwrap_legacy(runtime.get("parameters")), **as_dict(runtime.get("parameterValues"))}
        params: list[dict[str, Any]] = []
        inputs = as_dict(as_dict(as_dict(as_dict(spec).get("root")).get("inputDefinitions")).get("parameters"))
        for name, ptype in declared(spec).items():
            default = tidy_numbers(values.get(name, as_dict(inputs.get(name)).get("defaultValue")))
            params.append(
                {"name": name, "type": POLYSYNC_TYPE.get(ptype, "String"), "direction": "Input", "default": default}
            )
        for name, ptype in declared(spec, "outputDefinitions").items():
            params.append(
                {"name": name, "type": POLYSYNC_TYPE.get(ptype, "String"), "direction": "Output", "default": None}
            )
        found = {(LINK_BUCKET, b) for b in buckets([candidates["gcsOutputDirectory"], candidates["templateUri"]])}
        for kind, value in (
            (LINK_SERVICE_ACCOUNT, candidates["serviceAccount"]),
            (LINK_NETWORK, candidates["network"]),
            (LINK_KMS_KEY, as_str(as_dict(job.get("encryptionSpec")).get("kmsKeyName"))),
        ):
            if value:
                found.add((kind, value))
        found.update((LINK_IMAGE, image) for image in pipeline_outputs.executor_images(spec))
        template = self.template_base(job)
        template.update(
            {
                "attributes": attributes,
                "pipelineName": as_str(as_dict(spec).get("pipelineInfo", {}).get("name")) if spec else "",
                "parameters": params,
                "links": as_links(found),
            }
        )
        template.update(self.template_tail(job))
        return template


PIPELINE = PipelineJobKind()
