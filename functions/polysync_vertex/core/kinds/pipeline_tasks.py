"""A Pipeline Job's tasks as diagnostics see them: which failed, and which CustomJobs ran them.

From `jobDetail.taskDetails` (v1 `PipelineTaskDetail`: taskName, state, error, parentTaskId, executorDetail with
`containerDetail.mainJob` / `failedMainJobs` or `customJobDetail.job` / `failedJobs`, each a CustomJob's resource
name; google.cloud.aiplatform_v1.types.pipeline_job). A task's CustomJob writes its logs like any CustomJob (resource
`ml_job`, its job id); the pipeline's own events are `aiplatform.googleapis.com/PipelineJob` entries labelled
`pipeline_job_id` in the log `aiplatform.googleapis.com%2Fpipeline_job_events`
(https://cloud.google.com/vertex-ai/docs/pipelines/logging). jobDetail is not in the list view: the caller GETs the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..shape import as_dict
from .base import ml_job_filter

MAX_FAILED_TASKS = 20  # bounded, like the log tail: the record holds them, and its terminal event again
ERROR_CHARS = 1000
EVENTS_FILTER = 'resource.type="aiplatform.googleapis.com/PipelineJob" AND resource.labels.pipeline_job_id="{id}"'


def tasks(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in as_dict(job.get("jobDetail")).get("taskDetails") or [] if isinstance(t, dict)]


def root_task(job: dict[str, Any]) -> dict[str, Any] | None:
    """The run's root task: `execution.schemaTitle` `system.Run`, `taskName` the job id (python-aiplatform finds it
    that way: vertexai/language_models/_language_models.py by schema_title, model_evaluation/model_evaluation_job.py
    by task_name). None when the job carries no task details (a list entry: jobDetail is "Not available in the list
    view", google.cloud.aiplatform_v1 PipelineJob.job_detail; or a run that has not started its DAG)."""
    job_id = str(job.get("name") or "").rsplit("/", 1)[-1]
    roots = [t for t in tasks(job) if as_dict(t.get("execution")).get("schemaTitle") == "system.Run"]
    return next((t for t in roots if t.get("taskName") == job_id), roots[0] if roots else None)


def root_values(root: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """{name: value} of the root task's `execution.metadata["output:<name>"]` (a Struct: numbers are doubles); an
    InputOutput parameter the run did not write keeps its `input:<name>` value; None when neither is there."""
    metadata = as_dict(as_dict(root.get("execution")).get("metadata"))
    return {name: metadata.get(f"output:{name}", metadata.get(f"input:{name}")) for name in names}


def task_jobs(task: dict[str, Any]) -> list[str]:
    """The CustomJob resource names that ran the task (its main job last, earlier failed attempts first)."""
    detail = as_dict(task.get("executorDetail"))
    container, custom = as_dict(detail.get("containerDetail")), as_dict(detail.get("customJobDetail"))
    names = [*(container.get("failedMainJobs") or []), container.get("mainJob")]
    names += [*(custom.get("failedJobs") or []), custom.get("job")]
    return [n for n in names if isinstance(n, str) and n]


def failed(job: dict[str, Any]) -> list[dict[str, Any]]:
    """`failedTasks`: the failed tasks that ran something (or, if none did, every failed task but the root)."""
    chosen = [t for t in tasks(job) if t.get("state") == "FAILED"]
    leaves = [t for t in chosen if task_jobs(t)]
    if leaves:
        chosen = leaves
    elif len(chosen) > 1:
        chosen = [t for t in chosen if t.get("parentTaskId") not in (None, "", "0", 0)] or chosen
    out = []
    for task in chosen[:MAX_FAILED_TASKS]:
        jobs = task_jobs(task)
        out.append(
            {
                "name": str(task.get("taskName") or task.get("taskId") or ""),
                "state": str(task.get("state") or ""),
                "error": str(as_dict(task.get("error")).get("message") or "")[:ERROR_CHARS] or None,
                "customJob": jobs[-1] if jobs else None,
            }
        )
    return out


def job_ids(job: dict[str, Any], *, all_tasks: bool) -> list[str]:
    """Ids of the tasks' CustomJobs: of the failed tasks, or of every task."""
    chosen = tasks(job) if all_tasks else [t for t in tasks(job) if t.get("state") == "FAILED"]
    ids = [name.rsplit("/", 1)[-1] for t in chosen for name in task_jobs(t)]
    return list(dict.fromkeys(ids))


def sources(job: dict[str, Any]) -> dict[str, str]:
    """{CustomJob id: task name}: a task's log lines are shown as coming from that task."""
    return {
        name.rsplit("/", 1)[-1]: str(t.get("taskName") or t.get("taskId") or "")
        for t in tasks(job)
        for name in task_jobs(t)
    }


def log_filter(pipeline_job_id: str, job: dict[str, Any], *, all_tasks: bool) -> str:
    """The pipeline's events, or its (failed) tasks' CustomJobs."""
    return filter_of(pipeline_job_id, job_ids(job, all_tasks=all_tasks))


def filter_of(pipeline_job_id: str, ids: Sequence[str]) -> str:
    """The pipeline's events, or the CustomJobs `ids` (its tasks')."""
    events = "(" + EVENTS_FILTER.format(id=pipeline_job_id) + ")"
    return f"{events} OR ({ml_job_filter(list(ids))})" if ids else events


def job_of_run(run: dict[str, Any]) -> dict[str, Any]:
    """The tasks a run record knows (its diagnostics' failedTasks), as `jobDetail` for `log_filter`/`sources`."""
    failed = as_dict(run.get("diagnostics")).get("failedTasks") or []
    details = [
        {
            "taskName": t.get("name"),
            "state": "FAILED",
            "executorDetail": {"containerDetail": {"mainJob": t["customJob"]}},
        }
        for t in failed
        if isinstance(t, dict) and isinstance(t.get("customJob"), str)
    ]
    return {"jobDetail": {"taskDetails": details}}
