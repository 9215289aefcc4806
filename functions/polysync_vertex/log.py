"""Structured JSON logs for Cloud Logging: one object per line with `severity`, `message` and context fields.

`context(requestId=..., runId=...)` adds fields to every line logged inside it. Never pass secrets or signatures.
"""

from __future__ import annotations

import contextvars
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LEVELS = {"DEBUG": 10, "INFO": 20, "NOTICE": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("psv_log_context", default=None)
_min_level = 20


def set_level(name: str) -> None:
    global _min_level
    _min_level = _LEVELS.get(name.upper(), 20)


@contextmanager
def context(**fields: Any) -> Iterator[None]:
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Add fields to the current context (for values learnt mid-request, like the runId)."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


def log(severity: str, message: str, **fields: Any) -> None:
    if _LEVELS.get(severity, 20) < _min_level:
        return
    entry = {"severity": severity, "message": message, "time": time.time(), **(_context.get() or {}), **fields}
    sys.stdout.write(json.dumps(entry, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def debug(message: str, **fields: Any) -> None:
    log("DEBUG", message, **fields)


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
