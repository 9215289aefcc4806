"""A Pipeline Job's declared parameters, executor images, and a finished run's Output values typed as declared.

Outputs are on the run's root task (`jobDetail.taskDetails[]`, `execution.schemaTitle` `system.Run`, its `taskName`
the job id) as `execution.metadata["output:<name>"]`: python-aiplatform reads them there
(vertexai/language_models/_language_models.py: the tuned model's name from the `system.Run` task's
`output:model_resource_name`; model_evaluation/model_evaluation_job.py: the root task by `task_name == job id`).
`jobDetail` is "Not available in the list view" (v1 REST reference, PipelineJob.jobDetail): the poller GETs the job
(core/kinds/pipeline.py `needs_full_job`). The metadata is a protobuf Struct, so every number comes back as a double:
each value is typed by the pipeline's declared `parameterType` (`pipelineSpec.root.outputDefinitions`, or
`inputDefinitions` for an InputOutput parameter), which the GET's full job carries. `runtimeConfig` is input only
(python-aiplatform's PipelineJob.clone() reads it back as inputs): read only for a job without task details.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ..shape import as_dict, as_str, tidy_numbers
from . import pipeline_tasks

LEGACY_TYPES = {"INT": "NUMBER_INTEGER", "DOUBLE": "NUMBER_DOUBLE", "STRING": "STRING"}


def declared(spec: Any, side: str = "inputDefinitions") -> dict[str, str]:
    """{name: KFP parameterType} of the pipeline's root inputs (or outputs, side="outputDefinitions")."""
    params = as_dict(as_dict(as_dict(as_dict(spec).get("root")).get(side)).get("parameters"))
    out: dict[str, str] = {}
    for name, definition in params.items():
        d = as_dict(definition)
        ptype = as_str(d.get("parameterType")) or LEGACY_TYPES.get(as_str(d.get("type")), "")
        out[str(name)] = ptype or "STRING"
    return out


def unwrap_legacy(values: Any) -> dict[str, Any]:
    """`runtimeConfig.parameters` ({name: {intValue|doubleValue|stringValue}}) as plain values."""
    out: dict[str, Any] = {}
    for name, wrapped in as_dict(values).items():
        w = as_dict(wrapped)
        if "intValue" in w:
            try:
                out[name] = int(w["intValue"])
            except (TypeError, ValueError):
                continue
        elif "doubleValue" in w:
            out[name] = w["doubleValue"]
        elif "stringValue" in w:
            out[name] = w["stringValue"]
    return out


def typed(value: Any, ptype: str) -> Any:
    """A value as its declared KFP parameterType gives it: NUMBER_INTEGER an integer (the Struct's 3.0 -> 3),
    NUMBER_DOUBLE a float (0.5, and 2.0 stays 2.0), BOOLEAN a boolean, STRING a string, STRUCT / LIST JSON (its whole
    numbers as integers). A value that is not of its type (or an unknown type) is kept as read, numbers tidied."""
    if value is None:
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if ptype == "NUMBER_INTEGER" and is_number and float(value).is_integer():
        return int(value)
    if ptype == "NUMBER_DOUBLE" and is_number:
        return float(value)
    if ptype in ("STRUCT", "LIST") and isinstance(value, str):
        try:  # KFP may serialize a STRUCT/LIST output as its JSON text
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, dict if ptype == "STRUCT" else list):
            return tidy_numbers(parsed)
        return value
    return tidy_numbers(copy.deepcopy(value))


def outputs(job: dict[str, Any], output_names: tuple[str, ...]) -> dict[str, Any]:
    """{"outputs": {name: value, ..., "_error"?}} of a (finished) job: the root task's `output:<name>` (an
    InputOutput not written keeps its `input:<name>`), typed by the declared parameterType; `runtimeConfig` only
    for a job without task details (a list entry, or a run that never started its DAG)."""
    root = pipeline_tasks.root_task(job)
    if root is not None:
        final = pipeline_tasks.root_values(root, output_names)
    else:
        runtime = as_dict(job.get("runtimeConfig"))
        final = {**unwrap_legacy(runtime.get("parameters")), **as_dict(runtime.get("parameterValues"))}
    spec = job.get("pipelineSpec")
    types = {**declared(spec), **declared(spec, "outputDefinitions")} if spec else {}
    result: dict[str, Any] = {name: typed(final.get(name), types.get(name, "")) for name in output_names}
    message = as_dict(job.get("error")).get("message")
    if message:
        result["_error"] = str(message)
    return {"outputs": result}


def executor_images(spec: Any) -> set[str]:
    """Every `deploymentSpec.executors.<name>.container.image` of a KFP IR pipelineSpec (the images its container
    tasks run), verbatim: the template's `gcp-artifact-registry-docker-image` links (core/links.py)."""
    executors = as_dict(as_dict(as_dict(spec).get("deploymentSpec")).get("executors"))
    images = (as_str(as_dict(as_dict(e).get("container")).get("image")) for e in executors.values())
    return {image for image in images if image}
