"""core/storable.py: Firestore's limits as the connector counts them (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from polysync_vertex.core import storable


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def test_sizes_count_as_firestore_counts() -> None:
    # https://cloud.google.com/firestore/docs/storage-size: strings are UTF-8 bytes + 1, numbers 8, booleans and
    # null 1; a map its keys (as strings) and values; an array its values.
    assert storable.value_bytes("Roger") == 6
    assert storable.value_bytes("é") == 3
    assert storable.value_bytes(3) == storable.value_bytes(0.5) == 8
    assert storable.value_bytes(True) == storable.value_bytes(None) == 1
    assert storable.value_bytes({"type": "Personal", "done": False}) == 5 + 9 + 5 + 1
    assert storable.value_bytes([0] * 110_000) == 880_000  # the finding's InputOutput: over 1 MiB with its event
    assert storable.value_bytes(_nested(5000)) == 5000 * 2 + 8  # iterative: any depth


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ([[50, 2], [3, 45]], "array directly inside an array"),
        ({"m": [1, [2]]}, "array directly inside an array"),
        (_nested(21), "deeper than Firestore's 20"),
        ({"__a__": 1}, "reserves"),
        ({"ok": {"__name__": 1}}, "reserves"),
    ],
)
def test_what_firestore_refuses_is_named(value: Any, why: str) -> None:
    reason = storable.refusal(value)
    assert reason is not None and why in reason


@pytest.mark.parametrize("value", [[{"a": [1, 2]}, {"b": []}], _nested(20), {"_a_": 1, "a__": 2}, "[[1]]", 1])
def test_what_firestore_stores_passes(value: Any) -> None:
    assert storable.refusal(value) is None


def test_depth_is_counted_below_where_the_value_sits() -> None:
    assert storable.refusal(_nested(18), level=2) is None
    assert storable.refusal(_nested(19), level=2) is not None
    assert storable.depth(1) == 0 and storable.depth([1]) == 1 and storable.depth({"a": [1]}) == 2
