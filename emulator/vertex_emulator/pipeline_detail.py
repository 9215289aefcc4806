"""A PipelineJob's ``jobDetail`` as Vertex AI reports it on GET: the run's contexts and its task details.

Shapes from the v1 proto types (``google.cloud.aiplatform_v1`` ``PipelineJobDetail``, ``PipelineTaskDetail``,
``PipelineTaskExecutorDetail``, ``Execution``); the detail is built as those messages (so every field is checked
against them) and rendered with Google's JSON mapping like the rest of the emulator. What Google's own code relies on:

- The run's **root task** is the task whose ``execution.schemaTitle`` is ``system.Run`` and whose ``taskName`` is the
  job id; it has no ``parentTaskId``. Its ``execution.metadata`` holds the run's parameters as ``input:<name>`` and,
  once it succeeded, its output parameters as ``output:<name>`` (a Struct: numbers are doubles). python-aiplatform
  reads a tuned model's name from ``execution.metadata["output:model_resource_name"]`` of the ``system.Run`` task
  (``vertexai/language_models/_language_models.py``) and finds the root task by ``task_name ==`` the job id
  (``google/cloud/aiplatform/model_evaluation/model_evaluation_job.py``); its unit tests mock that shape
  (``tests/unit/aiplatform/test_language_models.py``, ``test_model_evaluation.py``).
- One task per ``pipelineSpec.root.dag.tasks`` entry, child of the root task: a component task's execution is a
  ``system.ContainerExecution`` and ``executorDetail.containerDetail.mainJob`` names the CustomJob that ran it; a
  sub-DAG's is a ``system.DagExecution``.
- ``PipelineJob.job_detail``: "Output only. The details of pipeline run. Not available in the list view."
  (``google/cloud/aiplatform_v1/types/pipeline_job.py``).

How the tasks' states move with the job's (the emulator's model): tasks without ``dependentTasks`` run while the
job runs, the others wait (PENDING); all succeed with the job; a cancelled job's unfinished tasks are CANCELLING,
then CANCELLED. When the job fails, its failing task (``VERTEX_EMULATOR_FAIL_TASK``, default the first task) is
FAILED with an ``error``; the tasks it depends on (directly or not) SUCCEEDED, the tasks depending on it
NOT_TRIGGERED, the others CANCELLED. Tasks are listed (and "first") in a dependency order, ties by name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format

from .collection import JobView
from .custom_jobs import failed_error
from .ids import CUSTOM_JOBS
from .scenario import CANCELLED_ERROR
from .schema import tidy_numbers
from .timeutil import format_timestamp

RUN_SCHEMA = "system.Run"
CONTAINER_SCHEMA = "system.ContainerExecution"
DAG_SCHEMA = "system.DagExecution"
_JOB_TO_TASK = {
    "PIPELINE_STATE_QUEUED": "PENDING",
    "PIPELINE_STATE_PENDING": "PENDING",
    "PIPELINE_STATE_RUNNING": "RUNNING",
    "PIPELINE_STATE_PAUSED": "RUNNING",
    "PIPELINE_STATE_SUCCEEDED": "SUCCEEDED",
    "PIPELINE_STATE_FAILED": "FAILED",
    "PIPELINE_STATE_CANCELLING": "CANCELLING",
    "PIPELINE_STATE_CANCELLED": "CANCELLED",
}
_EXECUTION_STATE = {  # PipelineTaskDetail.State -> Execution.State
    "PENDING": "NEW",
    "RUNNING": "RUNNING",
    "CANCELLING": "RUNNING",
    "SUCCEEDED": "COMPLETE",
    "FAILED": "FAILED",
    "CANCELLED": "CANCELLED",
}
_FINAL_TASK = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "NOT_TRIGGERED"})
DAG_FAILED_MESSAGE = "The DAG failed because some tasks failed."


@dataclass(frozen=True)
class Task:
    name: str
    dag: bool  # a sub-DAG (its component has a `dag`), else a container component
    depends_on: tuple[str, ...]


def tasks_of(spec: dict[str, Any]) -> list[Task]:
    """The root DAG's tasks (KFP IR: root.dag.tasks, components[componentRef.name]) in a dependency order, ties by
    name (the spec is a Struct: its maps keep no order)."""
    components = spec.get("components") if isinstance(spec.get("components"), dict) else {}
    tasks = ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    found: dict[str, Task] = {}
    for name, task in tasks.items() if isinstance(tasks, dict) else ():
        task = task if isinstance(task, dict) else {}
        ref = str((task.get("componentRef") or {}).get("name") or "")
        component = components.get(ref) if isinstance(components.get(ref), dict) else {}
        depends = tuple(str(d) for d in task.get("dependentTasks") or [] if isinstance(d, str))
        found[str(name)] = Task(str(name), "dag" in component, depends)
    ordered: list[Task] = []
    left = dict(sorted(found.items()))
    while left:
        done = {t.name for t in ordered}
        ready = [t for t in left.values() if all(d in done or d not in found for d in t.depends_on)]
        for task in ready or list(left.values()):  # a cycle (not a valid pipeline): keep the rest by name
            ordered.append(left.pop(task.name))
    return ordered


def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(edges.get(start, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges.get(name, ()))
    return seen


def task_states(job_state: str, tasks: list[Task], fail: str | None) -> dict[str, str]:
    """{task name: PipelineTaskDetail.State name} for a job in ``job_state`` (see the module doc)."""
    root = _JOB_TO_TASK.get(job_state, "PENDING")
    if root == "FAILED":
        failing = fail or (tasks[0].name if tasks else "")
        upstream = _closure(failing, {t.name: set(t.depends_on) for t in tasks})
        dependents: dict[str, set[str]] = {}
        for t in tasks:
            for d in t.depends_on:
                dependents.setdefault(d, set()).add(t.name)
        downstream = _closure(failing, dependents)
        out: dict[str, str] = {}
        for t in tasks:
            if t.name == failing:
                out[t.name] = "FAILED"
            elif t.name in upstream:
                out[t.name] = "SUCCEEDED"
            elif t.name in downstream:
                out[t.name] = "NOT_TRIGGERED"
            else:
                out[t.name] = "CANCELLED"  # ran or waited beside the failing task: stopped with the run
        return out
    if root in ("RUNNING", "CANCELLING"):
        return {t.name: root if not t.depends_on else "PENDING" for t in tasks}
    return {t.name: root for t in tasks}


def _id(*parts: str) -> int:
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:15], 16)


def custom_job_of(job: JobView, task: str) -> str:
    """The CustomJob resource name that runs a container task of the job (a stable made-up id)."""
    return f"projects/{job.project}/locations/{job.location}/{CUSTOM_JOBS}/{_id(job.id, task, 'customJob')}"


def failing_task(job: JobView) -> str | None:
    tasks: list[Task] = job.extra.get("tasks") or []
    return job.extra.get("fail_task") or (tasks[0].name if tasks else None)


def job_detail(job: JobView, index: int, int_enums: bool) -> dict[str, Any]:
    """``jobDetail`` of the job as of its segment ``index`` (rendered from aiplatform_v1.PipelineJobDetail)."""
    segment = job.segments[index]
    final = segment.state in ("PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED")
    started = job.started_us(index)
    prefix = f"projects/{job.project}/locations/{job.location}/metadataStores/default"
    created = format_timestamp(job.create_us)
    pipeline_name = re.sub(r"[^a-z0-9-]+", "-", str(job.filter_values.get("pipeline_name") or job.id).lower())
    root_state = _JOB_TO_TASK.get(segment.state, "PENDING")
    root_id = _id(job.id)

    def task(name: str, position: int, state: str, schema: str, parent: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "taskId": _id(job.id, name) if parent is not None else root_id,
            "taskName": name,
            "createTime": format_timestamp(job.create_us + position),
            "state": state,
        }
        if parent is not None:
            out["parentTaskId"] = parent
        ran = state not in ("PENDING", "NOT_TRIGGERED")
        if started is not None and ran:
            out["startTime"] = format_timestamp(started)
        if final and state in _FINAL_TASK:
            out["endTime"] = format_timestamp(segment.start_us)
        if ran or parent is None:
            out["execution"] = {
                "name": f"{prefix}/executions/{_id(job.id, name, 'execution')}",
                "displayName": name,
                "state": _EXECUTION_STATE.get(state, "NEW"),
                "schemaTitle": schema,
                "schemaVersion": "0.0.1",
                "createTime": out["createTime"],
                "updateTime": format_timestamp(max(segment.start_us, job.create_us)),
            }
        return out

    root = task(job.id, 0, root_state, RUN_SCHEMA, None)
    metadata = {f"input:{k}": v for k, v in (job.extra.get("inputs") or {}).items()}
    if root_state == "SUCCEEDED":
        metadata.update({f"output:{k}": v for k, v in (job.extra.get("outputs") or {}).items()})
    root["execution"]["metadata"] = metadata
    if root_state == "FAILED" and segment.error is not None:
        root["error"] = dict(segment.error)
    details = [root]
    tasks: list[Task] = job.extra.get("tasks") or []
    states = task_states(segment.state, tasks, job.extra.get("fail_task"))
    for position, t in enumerate(tasks, start=1):
        state = states[t.name]
        item = task(t.name, position, state, DAG_SCHEMA if t.dag else CONTAINER_SCHEMA, root_id)
        if not t.dag and "execution" in item:
            item["executorDetail"] = {"containerDetail": {"mainJob": custom_job_of(job, t.name)}}
        if state == "FAILED":
            item["error"] = (
                {"code": 9, "message": DAG_FAILED_MESSAGE}
                if t.dag
                else failed_error(job.project, custom_job_of(job, t.name).rsplit("/", 1)[-1])
            )
        elif state == "CANCELLED":
            item["error"] = dict(CANCELLED_ERROR)
        details.append(item)
    detail = {
        "pipelineContext": {"name": f"{prefix}/contexts/{pipeline_name}", "createTime": created, "updateTime": created},
        "pipelineRunContext": {"name": f"{prefix}/contexts/{job.id}", "createTime": created, "updateTime": created},
        "taskDetails": details,
    }
    message = json_format.ParseDict(detail, aiplatform_v1.PipelineJobDetail.pb()())
    rendered: dict[str, Any] = tidy_numbers(json_format.MessageToDict(message, use_integers_for_enums=int_enums))
    return rendered
