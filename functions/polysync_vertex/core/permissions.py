"""The Vertex AI permissions each function calls, per job kind: the one table the `health` check tests and the
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
}


def permissions(function: str) -> list[str]:
    """Every `aiplatform.*` permission `function` needs, over all job kinds, sorted."""
    return sorted(f"aiplatform.{k.collection}.{verb}" for k in kinds.KINDS for verb in VERBS.get(function, ()))
