"""List queries of a job collection: filter, read mask, ``orderBy``, page size and page tokens, and one page.

A query is parsed (and rejected with INVALID_ARGUMENT as Vertex AI does) before the store takes its lock; the page
is then read from the parent's :class:`~.index.ParentIndex`, using its label index when the filter allows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .collection import Resource
from .errors import invalid_argument
from .filters import Node, label_candidates, parse_filter
from .index import ParentIndex
from .schema import field_paths

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
_ORDER_ITEM = re.compile(r"^\s*([A-Za-z_]+)(?:\s+(asc|desc))?\s*$")


@dataclass(frozen=True)
class ListQuery:
    resource: Resource
    node: Node
    paths: list[list[str]]  # read mask, as JSON names
    order: list[tuple[str, bool]]  # (field, descending)
    size: int
    scope: str  # what a page token is valid for
    after: list[int] | None  # the page token's position
    detail: bool = False  # the read mask asks for a GET-only field (the list view still omits resource.list_never)


def parse_query(
    resource: Resource,
    parent: str,
    filter_text: str,
    page_size: int,
    page_token: str,
    read_mask: str,
    order_by: str,
    token_key: str,
) -> ListQuery:
    node = parse_filter(filter_text, resource.filter_fields, resource.state_names, resource.filter_example)
    paths = read_mask_paths(read_mask, resource)
    order = parse_order_by(order_by, resource)
    if page_size < 0:
        raise invalid_argument("page_size must not be negative.")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    scope_text = f"{token_key}\n{parent}\n{resource.collection}\n{filter_text.strip()}\n{order_by.strip()}"
    scope = hashlib.sha256(scope_text.encode()).hexdigest()[:16]
    after = decode_token(page_token, scope) if page_token else None
    detail = any(path[0] in resource.detail_fields for path in paths)
    return ListQuery(resource, node, paths, order, size, scope, after, detail)


def list_page(index: ParentIndex, query: ListQuery, now: int, int_enums: bool) -> dict[str, Any]:
    """One page of the list response (``{<collection>: [...], nextPageToken}``), as of ``now``."""
    resource = query.resource
    jobs: list[dict[str, Any]] = []
    more = False
    last_key: list[int] = []
    seqs = index.candidates(label_candidates(query.node))
    for job, key in index.ordered(query.order, resource.newest_first, query.after, now, seqs):
        if not query.node.matches(job, now):
            continue
        if len(jobs) == query.size:
            more = True
            break
        resource_json = job.to_json(now, int_enums, detail=query.detail)
        if query.paths:
            resource_json = masked(resource_json, query.paths)
        jobs.append(_without(resource_json, resource.list_never) if query.detail else resource_json)
        last_key = key
    out: dict[str, Any] = {}
    if jobs:
        out[resource.list_field] = jobs
    if more:
        out["nextPageToken"] = encode_token(query.scope, last_key)
    return out


def _without(resource: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """``resource`` without ``paths`` (and without a parent they leave empty)."""
    for path in paths:
        parent = resource
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent.get(part), dict) else {}
        parent.pop(path[-1], None)
        if len(path) > 1 and resource.get(path[0]) == {}:
            del resource[path[0]]
    return resource


def read_mask_paths(mask: str, resource: Resource) -> list[list[str]]:
    """Read-mask paths as JSON names, each checked at every depth against the resource's message type."""
    paths: list[list[str]] = []
    for raw in mask.split(","):
        raw = raw.strip()
        if not raw:
            continue
        try:
            names = field_paths(resource.message_class.DESCRIPTOR, raw)
        except ValueError:
            raise invalid_argument(
                f"Invalid read_mask path {raw!r}: not a field of {resource.kind} (a path may not reach into a "
                "repeated or map field)."
            ) from None
        paths.append(names)
    return paths


def masked(resource: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        source: Any = resource
        for part in path:
            if not isinstance(source, dict) or part not in source:
                source = None
                break
            source = source[part]
        if source is None:
            continue
        target = out
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = source
    return out


def parse_order_by(text: str, resource: Resource) -> list[tuple[str, bool]]:
    """``"create_time desc, end_time"`` -> [(field, descending), ...]."""
    if not text.strip():
        return []
    if not resource.order_fields:
        raise invalid_argument(f"order_by is not supported for {resource.collection}.")
    aliases = {f: f for f in resource.order_fields}
    aliases.update({"".join(p[:1].upper() + p[1:] if i else p for i, p in enumerate(f.split("_"))): f for f in aliases})
    out: list[tuple[str, bool]] = []
    for item in text.split(","):
        match = _ORDER_ITEM.match(item)
        name = aliases.get(match.group(1)) if match else None
        if match is None or name is None:
            raise invalid_argument(
                f"Invalid order_by {text!r}: supported fields are {', '.join(resource.order_fields)}, "
                'each optionally followed by " desc".'
            )
        out.append((name, match.group(2) == "desc"))
    return out


def encode_token(scope: str, key: list[int]) -> str:
    raw = json.dumps({"s": scope, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, scope: str) -> list[int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = data["k"]
        token_scope = data["s"]
    except (ValueError, KeyError, TypeError):
        raise invalid_argument(f"Invalid page_token {token!r}.") from None
    if not isinstance(key, list) or not all(isinstance(k, int) for k in key) or not key:
        raise invalid_argument(f"Invalid page_token {token!r}.")
    if token_scope != scope:
        raise invalid_argument(
            "Invalid page_token: it was issued for a different parent, filter or order; "
            "repeat the request with the same parent and filter, or start without a page_token."
        )
    return key
