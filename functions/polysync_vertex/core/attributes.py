"""Validators for submit attributes; each kind's attribute set and parser live in its module (`core/kinds`).

Pure: no I/O. Every attribute a kind accepts is validated here or in its kind module before anything is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from .errors import invalid

DURATION_RE = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,9})?s\Z")
ACCELERATOR_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}\Z")
MACHINE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}\Z")
IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,1023}\Z")
SERVICE_ACCOUNT_RE = re.compile(r"^[a-z0-9-]{1,63}@[a-z0-9.-]{1,200}\Z")
NETWORK_RE = re.compile(r"^projects/[a-z0-9-]{1,64}/global/networks/[a-z0-9-]{1,63}\Z")
GCS_URI_RE = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[^\x00-\x1f\x7f]*)?\Z")


def whole(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid("must be a whole number", path)
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise invalid("must be a whole number", path)
    if not low <= int(value) <= high:
        raise invalid(f"must be between {low} and {high}", path)
    return int(value)


def matching(value: Any, path: str, name: str, pattern: re.Pattern[str] | None) -> str:
    if not isinstance(value, str):
        raise invalid("must be a string", path)
    if pattern is not None and not pattern.match(value):
        raise invalid(f"'{value[:100]}' is not a valid {name}", path)
    return value


def check_known(raw: Mapping[str, Any], known: Collection[str]) -> None:
    for key in raw:
        if key not in known:
            raise invalid(
                f"unknown attribute '{str(key)[:64]}'; supported: {', '.join(sorted(known))}", f"attributes.{key}"
            )


def as_object(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid("attributes must be an object", "attributes")
    return raw


def given(raw: Any, known: Collection[str]) -> list[tuple[str, Any, str]]:
    """The attributes a request sets, each one the kind knows (else a 400 naming it): (name, value, JSON path),
    in the request's order; an attribute given as null is left out (as if absent)."""
    raw = as_object(raw)
    check_known(raw, known)
    return [(key, value, f"attributes.{key}") for key, value in raw.items() if value is not None]
