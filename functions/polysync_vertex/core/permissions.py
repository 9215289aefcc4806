"""The permissions each function calls in a Vertex AI project: the one table the `health` check tests and the
Terraform custom roles mirror (tests/infra checks the roles against it)."""

from __future__ import annotations

from . import kinds

# function -> the verbs it calls on every job kind's collection (aiplatform.<collection>.<verb>).
VERBS: dict[str, tuple[str, ...]] = {
    "submit": ("create", "get", "list"),
    "poll": ("get", "list", "cancel"),
    "cancel": ("get", "cancel"),
    "templates": ("get", "list"),
    "health": ("list",),
    "hint": ("get", "list"),
}
# function -> the other permissions it needs in the job's project: Cloud Logging entries:list for a failed run's
# log tail (poll, and hint when it records the end) and `status?logs=N` (status)
# (https://cloud.google.com/logging/docs/access-control).
OTHER: dict[str, tuple[str, ...]] = {
    "poll": ("logging.logEntries.list",),
    "hint": ("logging.logEntries.list",),
    "status": ("logging.logEntries.list",),
}


def permissions(function: str) -> list[str]:
    """Every permission `function` needs in a Vertex AI project, over all job kinds, sorted."""
    vertex = [f"aiplatform.{k.collection}.{verb}" for k in kinds.KINDS for verb in VERBS.get(function, ())]
    return sorted({*vertex, *OTHER.get(function, ())})
