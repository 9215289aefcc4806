"""What a templates list request says, as text: its parsed form, the caller's filter (checked, then wrapped so
it can only narrow what the connector lists) and the page token that carries a list across job kinds (bound to
the request's scope). Pure: no calls; `templates.py` makes the calls."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..core.errors import invalid
from ..core.kinds import JobKind
from ..core.labels import LABEL_MANAGED_BY, MANAGED_BY

MAX_PAGE_SIZE = 100
MAX_FILTER_CHARS = 4096
MAX_TOKEN_CHARS = 4096
EXCLUDE_RUNS = f'NOT labels.{LABEL_MANAGED_BY}="{MANAGED_BY}"'


@dataclass(frozen=True)
class TemplateQuery:
    """The templates request, parsed from the query string (`web.templates_query`): one template, or a list."""

    external_id: str | None = None
    project: str | None = None
    location: str | None = None
    job_type: str | None = None
    filter: str = ""
    page_size: int = 100
    page_token: str = ""
    walk_all: bool = False
    include_runs: bool = False


def check_text(name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise invalid(f"{name} is longer than {limit} characters", name)
    if any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in value):
        raise invalid(f"{name} contains control characters", name)
    return value


def check_parentheses(text: str) -> None:
    """Reject a filter whose parentheses (outside quoted strings) do not pair up.

    The caller's filter is wrapped in parentheses before the exclusion of runs is ANDed to it; an unbalanced one
    like `a="1") OR (b="2"` would otherwise escape the wrapping and bring the connector's runs back.
    """
    depth = 0
    quote = ""
    escaped = False
    for position, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise invalid(f"filter has an unmatched ')' at position {position}", "filter")
    if quote:
        raise invalid("filter has an unterminated quoted string", "filter")
    if depth:
        raise invalid("filter has an unmatched '('", "filter")


def vertex_filter(user_filter: str, include_runs: bool) -> str:
    """The filter sent to Vertex AI: the caller's, ANDed with the exclusion of the connector's own runs."""
    user_filter = user_filter.strip()
    if include_runs:
        return user_filter
    return f"({user_filter}) AND {EXCLUDE_RUNS}" if user_filter else EXCLUDE_RUNS


def is_run(job: dict[str, Any]) -> bool:
    return (job.get("labels") or {}).get(LABEL_MANAGED_BY) == MANAGED_BY


def scope_of(project: str, location: str, only: JobKind | None, user_filter: str, include_runs: bool) -> str:
    text = json.dumps([project, location, only.job_type if only else None, user_filter, include_runs])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(scope: str, kind: JobKind, token: str) -> str:
    raw = json.dumps({"s": scope, "k": kind.collection, "t": token}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(page_token: str, scope: str, order: list[JobKind]) -> tuple[int, str]:
    """(position in `order`, the kind's own token) of a page token; (0, "") for none."""
    if not page_token:
        return 0, ""
    try:
        raw = base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4))
        data = json.loads(raw)
        position = [k.collection for k in order].index(data["k"])
        token = data["t"]
        if data["s"] != scope or not isinstance(token, str):
            raise ValueError("other scope")
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: a crafted token of nested `[`
        raise invalid(
            "pageToken is not valid for this list: a token is valid only with the project, location, jobType, "
            "filter and includeRuns it came with; start again without pageToken",
            "pageToken",
        ) from None
    return position, token
