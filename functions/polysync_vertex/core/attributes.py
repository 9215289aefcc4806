"""Validators for submit attributes, and the Custom Job's attribute set (the other kinds' sets live in their modules).

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

# The attributes `submit` accepts for a Custom Job; exactly those the `templates` function yields.
ATTRIBUTES = {
    "machineType",
    "containerImageUri",
    "replicaCount",
    "acceleratorType",
    "acceleratorCount",
    "timeout",
    "serviceAccount",
    "network",
    "workerPoolCount",
    "poolType",
}


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


def parse_attributes(raw: Any, accelerators: Collection[str] | None = None) -> dict[str, Any]:
    """Validate Custom Job attributes. `accelerators`: the accelerator types Vertex AI knows (from the Vertex AI
    adapter); an unknown one is refused here, before anything is claimed or sent."""
    raw = as_object(raw)
    check_known(raw, ATTRIBUTES)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"attributes.{key}"
        if value is None:
            continue
        if key in ("replicaCount", "workerPoolCount"):
            out[key] = whole(value, path, 1, 10000)
        elif key == "acceleratorCount":
            out[key] = whole(value, path, 0, 64)
        else:
            pattern = {
                "machineType": MACHINE_TYPE_RE,
                "containerImageUri": IMAGE_RE,
                "acceleratorType": ACCELERATOR_RE,
                "timeout": DURATION_RE,
                "serviceAccount": SERVICE_ACCOUNT_RE,
                "network": NETWORK_RE,
            }.get(key)
            matching(value, path, key, pattern)
            if key == "acceleratorType" and accelerators is not None and value not in accelerators:
                raise invalid(f"'{value}' is not a Vertex AI accelerator type: {', '.join(sorted(accelerators))}", path)
            if key == "poolType" and value not in ("container", "pythonPackage"):
                raise invalid("poolType must be 'container' or 'pythonPackage'", path)
            out[key] = value
    return out
