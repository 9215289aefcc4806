"""Reading Vertex AI's REST JSON without trusting its shape: a field of the wrong type reads as empty.

Pure; used by every job kind's template reader and builder (`core/kinds`), so none keeps its own copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: Any) -> int:
    """int32 (number) or int64 (decimal string, as protobuf's JSON writes it); 0 when absent or malformed."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def strings(value: Any) -> Iterator[str]:
    """The strings of a JSON array (anything else in it, or a non-array, is skipped)."""
    for item in as_list(value):
        if isinstance(item, str):
            yield item


# Vertex AI keeps free-form values (pipeline parameters, model parameters) in protobuf Structs, where every number
# is a double: 3 comes back as 3.0. Below 2**53 a double holds every integer exactly.
_MAX_EXACT = 2**53


def tidy_numbers(value: Any) -> Any:
    """Whole-number floats as ints, at any depth (JSON has one number type; Polysync's Number 3 stays 3)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_EXACT:
        return int(value)
    if isinstance(value, dict):
        return {k: tidy_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tidy_numbers(v) for v in value]
    return value
