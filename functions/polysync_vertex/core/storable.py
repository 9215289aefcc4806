"""What Firestore can store, and how much of it a run may hold. Pure: no I/O.

Firestore's limits (https://cloud.google.com/firestore/quotas, "Collections, documents, and fields" and "Writes and
transactions"): a document holds at most 1 MiB (1,048,576 bytes); fields in maps and arrays nest at most 20 levels;
field names matching `__.*__` are reserved; an array cannot directly contain another array (Firestore's data model,
https://cloud.google.com/firestore/docs/concepts/data-types: "you can't directly nest an array inside another
array"); an API request (a batch commit) carries at most 10 MiB. Sizes are counted as Firestore counts them
(https://cloud.google.com/firestore/docs/storage-size): a string is its UTF-8 bytes + 1, a number, timestamp 8, a
boolean or null 1, a map the sum of its keys (as strings) and values, an array the sum of its values, a document the
size of its name plus its fields plus 32; the name is counted generously as `DOC_NAME_BYTES`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

MAX_DEPTH = 20
MAX_DOCUMENT_BYTES = 1_048_576
MAX_REQUEST_BYTES = 10 * 1_048_576
RESERVED_NAME = re.compile(r"__.*__\Z", re.S)
# A run document's name (projects/P/databases/D/documents/<prefix>runs/<id>) counted generously.
DOC_NAME_BYTES = 600
DOC_OVERHEAD_BYTES = 32


def is_reserved(name: str) -> bool:
    """Whether Firestore reserves `name` as a field name (`__.*__`)."""
    return bool(RESERVED_NAME.match(name))


def value_bytes(value: Any) -> int:
    """The storage size of `value` as a Firestore field value (iterative: any nesting depth)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item.encode("utf-8", "surrogatepass")) + 1
        elif isinstance(item, bool) or item is None:
            total += 1
        elif isinstance(item, int | float | datetime | date):
            total += 8
        elif isinstance(item, bytes):
            total += len(item) + 1
        elif isinstance(item, dict):
            for key, child in item.items():
                total += len(str(key).encode("utf-8", "surrogatepass")) + 1
                stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:  # anything else the client library converts (a reference, a geo point): counted as a short string
            total += 16
    return total


def document_bytes(fields: dict[str, Any]) -> int:
    """The storage size of a document holding `fields` (its name counted as `DOC_NAME_BYTES`)."""
    return DOC_NAME_BYTES + value_bytes(fields) + DOC_OVERHEAD_BYTES


def depth(value: Any) -> int:
    """Levels of maps and arrays in `value`: a scalar 0, `[1]` 1, `{"a": [1]}` 2 (iterative)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
            deepest = max(deepest, level + 1)
        elif isinstance(item, list | tuple):
            stack.extend((child, level + 1) for child in item)
            deepest = max(deepest, level + 1)
    return deepest


def refusal(value: Any, *, level: int = 0) -> str | None:
    """Why Firestore would refuse `value` stored as a field `level` levels below the document's top (0: a top-level
    field), or None when it stores it as is. Reports the first of: an array directly inside an array, nesting
    deeper than `MAX_DEPTH`, a reserved map key."""
    stack: list[tuple[Any, int, bool]] = [(value, level, False)]
    while stack:
        item, at, in_array = stack.pop()
        if isinstance(item, dict):
            if at + 1 > MAX_DEPTH:
                return f"it nests deeper than Firestore's {MAX_DEPTH} levels"
            for key, child in item.items():
                if is_reserved(str(key)):
                    return f"it has a key Firestore reserves ({str(key)[:64]!r}: names like __x__)"
                stack.append((child, at + 1, False))
        elif isinstance(item, list | tuple):
            if in_array:
                return "it has an array directly inside an array, which Firestore cannot store"
            if at + 1 > MAX_DEPTH:
                return f"it nests deeper than Firestore's {MAX_DEPTH} levels"
            stack.extend((child, at + 1, True) for child in item)
    return None
