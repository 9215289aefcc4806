"""`status?runId=...&logs=N[&pageToken=...]`: the request's parameters and the page token. Pure.

A page is the run's last N lines (newest first from Cloud Logging, answered in time order); `nextPageToken` leads to
the N lines before them. The token wraps Cloud Logging's own with a digest of the filter it belongs to, so a token
of another run, or of a run whose filter changed since (a pipeline that failed names its tasks' jobs), is refused
as a 400 instead of being sent to Logging.
"""

from __future__ import annotations

import base64
import hashlib
import json

from .errors import invalid

MAX_LINES = 200


def parse_count(value: str | None) -> int:
    """`logs`: a whole number of lines, 1 to MAX_LINES."""
    text = (value or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LINES:
        raise invalid(f"logs must be a whole number of lines from 1 to {MAX_LINES}", "logs")
    return int(text)


def _digest(filter_: str) -> str:
    return hashlib.sha256(filter_.encode()).hexdigest()[:16]


def encode_token(upstream: str, filter_: str) -> str:
    raw = json.dumps({"t": upstream, "f": _digest(filter_)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None, filter_: str) -> str:
    """Cloud Logging's page token inside `token` ("" for the first page); 400 when it is not one of ours for this
    run's logs as they are now."""
    if not token:
        return ""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        upstream, digest = data["t"], data["f"]
    except (ValueError, KeyError, TypeError):
        raise invalid("pageToken is not a token this connector issued", "pageToken") from None
    if not isinstance(upstream, str) or digest != _digest(filter_):
        raise invalid(
            "pageToken belongs to another run or to this run's logs before they changed; ask again without it",
            "pageToken",
        )
    return upstream
