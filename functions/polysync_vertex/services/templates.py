"""templates: Vertex AI CustomJobs offered to Polysync as job templates (import, discovery, search).

`GET ?externalId=projects/P/locations/L/customJobs/ID` -> one template.
`GET ?project=P&location=L[&filter=F][&pageSize=N][&pageToken=T][&includeRuns=true][&all=true]` ->
`{"templates": [...], "nextPageToken": "<token or '' at the end>"}`, plus `"truncated": bool` with `all=true`.

- `filter` is Vertex AI's list filter, passed through. Unless `includeRuns=true`, the connector's own runs (label
  managed-by=polysync-vertex) are excluded in the filter sent to Vertex AI (`(F) AND NOT labels.managed-by=...`),
  so pages stay full. A filter whose parentheses do not pair up is refused (400) before that wrapping. A page token
  is valid only with the same project, location, filter and includeRuns. `get` by externalId answers any CustomJob,
  the connector's runs included (the caller named it).
- `pageSize` 1-100 (larger values are lowered to 100, Vertex AI's maximum); default 100.
- `all=true` walks the pages server-side from `pageToken` (or the start), at most `page_budget` pages and within the
  request's time budget; when it stops early it answers `"truncated": true` and the token to continue with.
- The project and location must be on the connector's allow-list (PSV_ALLOWED_PROJECTS / PSV_ALLOWED_LOCATIONS),
  as for `submit`. Unknown query parameters are ignored.
"""

from __future__ import annotations

import time
from typing import Any

from ..core.errors import ApiError, UpstreamError, invalid
from ..core.jobs import LABEL_MANAGED_BY, MANAGED_BY
from ..core.names import check_location, check_project, parent_name, parse_job_name
from ..core.templates import to_template
from ..web import single_arg
from .upstream import api_error

MAX_PAGE_SIZE = 100
PAGE_BUDGET = 20
MAX_FILTER_CHARS = 4096
MAX_TOKEN_CHARS = 4096
# Time kept in hand when walking pages with all=true: the next page must fit before the request budget ends.
PAGE_MARGIN_SECONDS = 5.0
EXCLUDE_RUNS = f'NOT labels.{LABEL_MANAGED_BY}="{MANAGED_BY}"'


def _flag(args: Any, name: str) -> bool:
    value = single_arg(args, name, required=False)
    if value is None:
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise invalid(f"{name} must be true or false", name)
    return lowered == "true"


def _text(args: Any, name: str, limit: int) -> str:
    value = single_arg(args, name, required=False) or ""
    if len(value) > limit:
        raise invalid(f"{name} is longer than {limit} characters", name)
    if any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in value):
        raise invalid(f"{name} contains control characters", name)
    return value


def _page_size(args: Any) -> int:
    value = single_arg(args, "pageSize", required=False)
    if value is None:
        return MAX_PAGE_SIZE
    if not value.isdigit() or int(value) < 1:
        raise invalid(f"pageSize must be a whole number from 1 to {MAX_PAGE_SIZE}", "pageSize")
    return min(int(value), MAX_PAGE_SIZE)


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


class TemplateService:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.settings = app.settings
        self.page_budget = PAGE_BUDGET

    def handle(self, args: Any) -> tuple[int, dict[str, Any]]:
        external_id = single_arg(args, "externalId", required=False)
        project = single_arg(args, "project", required=False)
        location = single_arg(args, "location", required=False)
        if external_id is not None:
            if project is not None or location is not None:
                raise invalid("send either externalId or project and location, not both", "externalId")
            return 200, self.get(external_id)
        if project is None or location is None:
            missing = "project" if project is None else "location"
            raise invalid(
                "send externalId=projects/P/locations/L/customJobs/ID for one template, or project=P&location=L "
                f"to list templates ({missing} is missing)",
                missing,
            )
        check_project(project, "project")
        check_location(location, "location")
        return 200, self.list(
            project,
            location,
            user_filter=_text(args, "filter", MAX_FILTER_CHARS),
            page_size=_page_size(args),
            page_token=_text(args, "pageToken", MAX_TOKEN_CHARS),
            walk_all=_flag(args, "all"),
            include_runs=_flag(args, "includeRuns"),
        )

    def _check_allowed(self, project: str, location: str, fields: tuple[str, str]) -> None:
        s = self.settings
        if project not in s.allowed_projects:
            raise ApiError(
                "PERMISSION_DENIED",
                f"project {project} is not on the connector's allow-list (setting PSV_ALLOWED_PROJECTS)",
                fields[0],
            )
        if location not in s.allowed_locations:
            raise ApiError(
                "PERMISSION_DENIED",
                f"location {location} is not on the connector's allow-list (setting PSV_ALLOWED_LOCATIONS)",
                fields[1],
            )

    def get(self, external_id: str) -> dict[str, Any]:
        name = parse_job_name(external_id, "externalId")
        self._check_allowed(name.project, name.location, ("externalId", "externalId"))
        deadline = time.monotonic() + self.settings.request_budget_seconds
        try:
            job = self.app.vertex.get(name.name, deadline)
        except UpstreamError as err:
            if err.code == "NOT_FOUND":
                raise ApiError("NOT_FOUND", f"template {name.name} not found in Vertex AI", "externalId") from None
            raise api_error(err, project=name.project, field="externalId", what="template") from None
        return to_template(job)

    def list(
        self,
        project: str,
        location: str,
        *,
        user_filter: str = "",
        page_size: int = MAX_PAGE_SIZE,
        page_token: str = "",
        walk_all: bool = False,
        include_runs: bool = False,
    ) -> dict[str, Any]:
        self._check_allowed(project, location, ("project", "location"))
        deadline = time.monotonic() + self.settings.request_budget_seconds
        parent = parent_name(project, location)
        check_parentheses(user_filter)
        query = vertex_filter(user_filter, include_runs)
        templates: list[dict[str, Any]] = []
        token = page_token
        pages = 0
        seen_tokens = {token} if token else set()
        while True:
            jobs, token = self._page(parent, query, page_size, token, deadline, bool(user_filter), project)
            pages += 1
            templates.extend(to_template(job) for job in jobs)
            if not walk_all or not token:
                break
            if token in seen_tokens:  # pragma: no cover - a server that repeats a token would loop forever
                raise ApiError("UNAVAILABLE", "Vertex AI returned a page token twice; retry later", retry_after=10)
            seen_tokens.add(token)
            if pages >= self.page_budget or deadline - time.monotonic() < PAGE_MARGIN_SECONDS:
                return {"templates": templates, "nextPageToken": token, "truncated": True}
        body: dict[str, Any] = {"templates": templates, "nextPageToken": token}
        if walk_all:
            body["truncated"] = False
        return body

    def _page(
        self,
        parent: str,
        query: str,
        page_size: int,
        token: str,
        deadline: float,
        has_filter: bool,
        project: str,
    ) -> tuple[list[dict[str, Any]], str]:
        try:
            jobs, next_token = self.app.vertex.list_page(
                parent, deadline, filter=query, page_size=page_size, page_token=token
            )
        except UpstreamError as err:
            if err.code == "INVALID_ARGUMENT":
                lowered = err.message.lower()
                if token and ("page_token" in lowered or "page token" in lowered or "pagetoken" in lowered):
                    raise invalid(
                        f"Vertex AI rejected the page token: {err.message[:500]}. A token is valid only with the "
                        "project, location, filter and includeRuns it came with; start again without pageToken.",
                        "pageToken",
                    ) from None
                if has_filter:
                    raise invalid(
                        f"Vertex AI rejected the filter: {err.message[:500]}. Use Vertex AI's list filter syntax, "
                        'e.g. display_name:"train-*" AND labels.team="ml"',
                        "filter",
                    ) from None
            raise api_error(err, project=project) from None
        return jobs, next_token
