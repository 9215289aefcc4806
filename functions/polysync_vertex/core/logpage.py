"""`status?runId=...&logs=N[&pageToken=...]`: the request's parameters and the page token. Pure.

A page is the run's last N lines (newest first from Cloud Logging, answered in time order); `nextPageToken` leads to
the N lines before them. The token wraps Cloud Logging's own with a digest of the filter it belongs to and the ids of
the other jobs that filter names (a Pipeline Job's tasks' CustomJobs). Cloud Logging's token is only valid with the
filter it came from ("The values of other method parameters should be identical to those in the previous call",
ListLogEntriesRequest.page_token, https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list), so a
later page re-uses the token's job ids, not the run's jobs as they are now: a task that started between two pages
changes nothing, and it has no lines before the first page anyway. The ids are checked against the run's jobs (the
caller's `known`) and the digest against the filter they rebuild, so a token of another run, or one naming a job that
is not the run's (forged), is refused as a 400 instead of being sent to Logging.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence

from .errors import invalid

MAX_LINES = 200
# At most this many other jobs (the newest) in a filter: about 46 characters each, well inside Cloud Logging's
# 20,000-character filter limit (entries.list `filter`), and the page token stays a few KiB.
MAX_JOBS = 100


def parse_count(value: str | None) -> int:
    """`logs`: a whole number of lines, 1 to MAX_LINES."""
    text = (value or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LINES:
        raise invalid(f"logs must be a whole number of lines from 1 to {MAX_LINES}", "logs")
    return int(text)


def _digest(filter_: str) -> str:
    return hashlib.sha256(filter_.encode()).hexdigest()[:16]


def encode_token(upstream: str, filter_: str, jobs: Sequence[str] = ()) -> str:
    data: dict[str, object] = {"t": upstream, "f": _digest(filter_)}
    if jobs:
        data["j"] = list(jobs)
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(
    token: str | None, filter_of: Callable[[Sequence[str]], str], known: Sequence[str]
) -> tuple[str, tuple[str, ...]]:
    """(Cloud Logging's page token inside `token`, the other jobs whose lines the page reads): ("", the newest
    MAX_JOBS of `known`) for the first page; 400 when `token` is not one of ours for this run, or names a job not in
    `known` (the ids of the run's other jobs as the caller sees them now)."""
    if not token:
        return "", tuple(known)[-MAX_JOBS:]
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        upstream, digest, jobs = data["t"], data["f"], data.get("j", [])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise invalid("pageToken is not a token this connector issued", "pageToken") from None
    ours = isinstance(upstream, str) and isinstance(jobs, list) and len(jobs) <= MAX_JOBS
    ours = ours and all(isinstance(j, str) for j in jobs) and set(jobs) <= set(known)
    if not ours or digest != _digest(filter_of(jobs)):
        raise invalid(
            "pageToken belongs to another run or to this run's logs before they changed; ask again without it",
            "pageToken",
        )
    return upstream, tuple(jobs)
