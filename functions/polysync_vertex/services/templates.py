"""templates: Vertex AI jobs of every kind offered to Polysync as job templates (import, discovery, search).

`GET ?externalId=projects/P/locations/L/<collection>/ID` -> one template.
`GET ?project=P&location=L[&jobType=T][&filter=F][&pageSize=N][&pageToken=T][&includeRuns=true][&all=true]` ->
`{"templates": [...], "nextPageToken": "<token or '' at the end>"}`, plus `"truncated": bool` with `all=true`.

- The list covers every job kind (Custom, Pipeline, Batch Prediction Jobs), paged across them in that order:
  the page token names the kind it continues in and that kind's own token. `jobType` narrows it to one kind.
- `filter` is Vertex AI's list filter, passed through. Unless `includeRuns=true`, the connector's own runs (label
  managed-by=polysync-vertex) are excluded in the filter sent to Vertex AI (`(F) AND NOT labels.managed-by=...`),
  and again from the results: whatever a filter says, it can only narrow what the connector would list. A filter
  whose parentheses do not pair up is refused (400) before that wrapping. A page token is valid only with the same
  project, location, jobType, filter and includeRuns. `get` by externalId answers any job of a known kind, the
  connector's runs included (the caller named it).
- `pageSize` 1-100 (larger values are lowered to 100, Vertex AI's maximum); default 100.
- Lists read what `to_template` needs (each kind's `template_read_mask`), never whole jobs; a kind with
  `template_by_get` (Pipeline Jobs: specs of megabytes) is listed by name and label, at most `GETS_PER_PAGE` a call,
  and each template is read by one GET, one at a time.
- `all=true` walks the pages server-side from `pageToken` (or the start), at most `page_budget` pages and within the
  request's time budget; when it stops early it answers `"truncated": true` and the token to continue with.
- The project and location must be on the connector's allow-list (PSV_ALLOWED_PROJECTS / PSV_ALLOWED_LOCATIONS),
  as for `submit`. Unknown query parameters are ignored.
"""

from __future__ import annotations

import time
from typing import Any

from ..config import Settings
from ..core import kinds
from ..core.errors import ApiError, UpstreamError, invalid
from ..core.kinds import JobKind
from ..core.names import check_location, check_project, parent_name
from ..ports import VertexPort
from .common import check_allowed, fetch_template
from .template_query import (
    MAX_FILTER_CHARS,
    MAX_PAGE_SIZE,
    MAX_TOKEN_CHARS,
    TemplateQuery,
    check_parentheses,
    check_text,
    decode_token,
    encode_token,
    is_run,
    scope_of,
    vertex_filter,
)
from .upstream import api_error

PAGE_BUDGET = 20
# A kind whose templates are read one GET each (JobKind.template_by_get) lists at most this many per page.
GETS_PER_PAGE = 20
# Time kept in hand when walking pages with all=true: the next page must fit before the request budget ends.
PAGE_MARGIN_SECONDS = 5.0


class TemplateService:
    def __init__(self, settings: Settings, vertex: VertexPort) -> None:
        self.settings = settings
        self.vertex = vertex
        self.page_budget = PAGE_BUDGET

    def answer(self, query: TemplateQuery) -> tuple[int, dict[str, Any]]:
        """One template (externalId), or a page of the list (project, location)."""
        if query.external_id is not None:
            if query.project is not None or query.location is not None:
                raise invalid("send either externalId or project and location, not both", "externalId")
            return 200, self.get(query.external_id)
        if query.project is None or query.location is None:
            missing = "project" if query.project is None else "location"
            shapes = ", ".join(f"projects/P/locations/L/{k.collection}/ID" for k in kinds.KINDS)
            raise invalid(
                f"send externalId={shapes} for one template, or project=P&location=L to list templates "
                f"({missing} is missing)",
                missing,
            )
        check_project(query.project, "project")
        check_location(query.location, "location")
        only = kinds.by_type(query.job_type) if query.job_type is not None else None
        return 200, self.list_templates(
            query.project,
            query.location,
            user_filter=check_text("filter", query.filter, MAX_FILTER_CHARS),
            page_size=query.page_size,
            page_token=check_text("pageToken", query.page_token, MAX_TOKEN_CHARS),
            walk_all=query.walk_all,
            include_runs=query.include_runs,
            only=only,
        )

    def get(self, external_id: str) -> dict[str, Any]:
        kind, name = kinds.parse_run_name(external_id, "externalId")
        check_allowed(self.settings, name.project, name.location, ("externalId", "externalId"))
        deadline = time.monotonic() + self.settings.request_budget_seconds
        return kind.to_template(fetch_template(self.vertex, name, deadline))

    def list_templates(
        self,
        project: str,
        location: str,
        *,
        user_filter: str = "",
        page_size: int = MAX_PAGE_SIZE,
        page_token: str = "",
        walk_all: bool = False,
        include_runs: bool = False,
        only: JobKind | None = None,
    ) -> dict[str, Any]:
        check_allowed(self.settings, project, location, ("project", "location"))
        deadline = time.monotonic() + self.settings.request_budget_seconds
        parent = parent_name(project, location)
        check_parentheses(user_filter)
        query = vertex_filter(user_filter, include_runs)
        order = [only] if only is not None else list(kinds.KINDS)
        scope = scope_of(project, location, only, user_filter, include_runs)
        position, token = decode_token(page_token, scope, order)
        templates: list[dict[str, Any]] = []
        pages = 0
        seen_tokens: set[tuple[int, str]] = {(position, token)} if page_token else set()
        while True:
            kind = order[position]
            want = page_size if walk_all else page_size - len(templates)
            jobs, token = self._page(
                kind, parent, query, want, token, deadline, bool(user_filter), project, include_runs
            )
            pages += 1
            templates.extend(kind.to_template(job) for job in jobs if include_runs or not is_run(job))
            if not token and position + 1 < len(order):
                position, token = position + 1, ""  # this kind is done: the list goes on with the next
                more = True
            else:
                more = bool(token)
            next_token = encode_token(scope, order[position], token) if more else ""
            if not more:
                break
            if not walk_all:
                # One page: filled up to pageSize from the kinds in turn, at most one call per kind and a spare.
                if len(templates) >= page_size or pages > len(order):
                    break
                continue
            if (position, token) in seen_tokens:  # pragma: no cover - a repeated token would loop forever
                raise ApiError("UNAVAILABLE", "Vertex AI returned a page token twice; retry later", retry_after=10)
            seen_tokens.add((position, token))
            if pages >= self.page_budget or deadline - time.monotonic() < PAGE_MARGIN_SECONDS:
                return {"templates": templates, "nextPageToken": next_token, "truncated": True}
        body: dict[str, Any] = {"templates": templates, "nextPageToken": next_token}
        if walk_all:
            body["truncated"] = False
        return body

    def _page(
        self,
        kind: JobKind,
        parent: str,
        query: str,
        page_size: int,
        token: str,
        deadline: float,
        has_filter: bool,
        project: str,
        include_runs: bool,
    ) -> tuple[list[dict[str, Any]], str]:
        if kind.template_by_get:
            page_size = min(page_size, GETS_PER_PAGE)
        try:
            jobs, next_token = self.vertex.list_page(
                parent,
                deadline,
                kind=kind,
                filter=query,
                page_size=page_size,
                page_token=token,
                read_mask=kind.template_read_mask,
            )
        except UpstreamError as err:
            if err.code == "INVALID_ARGUMENT":
                lowered = err.message.lower()
                if token and ("page_token" in lowered or "page token" in lowered or "pagetoken" in lowered):
                    raise invalid(
                        f"Vertex AI rejected the page token: {err.message[:500]}. A token is valid only with the "
                        "project, location, jobType, filter and includeRuns it came with; start again without "
                        "pageToken.",
                        "pageToken",
                    ) from None
                if has_filter:
                    raise invalid(
                        f"Vertex AI rejected the filter for {kind.job_type}s: {err.message[:500]}. Use Vertex AI's "
                        'list filter syntax, e.g. display_name:"train-*" AND labels.team="ml" (fields differ by job '
                        "type: narrow with jobType)",
                        "filter",
                    ) from None
            raise api_error(err, project=project) from None
        if kind.template_by_get:
            try:
                jobs = [full for job in jobs if (full := self._whole(job, deadline, include_runs)) is not None]
            except UpstreamError as err:
                raise api_error(err, project=project) from None
        return jobs, next_token

    def _whole(self, job: dict[str, Any], deadline: float, include_runs: bool) -> dict[str, Any] | None:
        """The whole job of a listed name (None: one of the connector's runs left out, or gone since the list)."""
        if not include_runs and is_run(job):
            return None
        try:
            return self.vertex.get(str(job.get("name")), deadline)
        except UpstreamError as err:
            if err.code == "NOT_FOUND":
                return None
            raise
