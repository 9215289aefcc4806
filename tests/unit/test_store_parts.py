"""The Firestore adapter's own parts, without a database: the version cache and the stalled-store translation."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from polysync_vertex.adapters.firestore import stored
from polysync_vertex.adapters.firestore.client import guarded
from polysync_vertex.adapters.firestore.versions import VersionCache, object_bytes
from polysync_vertex.core import storable
from polysync_vertex.core.errors import ApiError, StoreUnavailable


def test_version_cache_hands_a_version_out_once_and_keeps_a_copy() -> None:
    cache = VersionCache()
    data = {"sequence": 1}
    cache.remember("a", data, "t1")
    data["sequence"] = 2  # the caller changes its dict afterwards: the cache kept what was read
    assert cache.take("a") == ({"sequence": 1}, "t1")
    assert cache.take("a") is None


def test_version_cache_drops_the_least_recently_remembered_beyond_its_limit() -> None:
    cache = VersionCache(limit=2)
    cache.remember("a", {}, 1)
    cache.remember("b", {}, 2)
    cache.remember("a", {}, 3)  # a is now the most recent
    cache.remember("c", {}, 4)
    assert len(cache) == 2 and cache.take("b") is None and cache.take("a") == ({}, 3)


@pytest.mark.parametrize(
    "error", [gexc.DeadlineExceeded("x"), gexc.ServiceUnavailable("x"), gexc.RetryError("x", None)]
)
def test_a_stalled_call_or_scan_raises_store_unavailable_answered_as_503(error: Exception) -> None:
    @guarded
    def call() -> None:
        raise error

    @guarded
    def scan() -> Iterator[int]:
        yield 1
        raise error

    with pytest.raises(StoreUnavailable) as info:
        call()
    assert isinstance(info.value, ApiError) and info.value.method == "call"
    assert (info.value.http, info.value.status, info.value.retry_after) == (503, "UNAVAILABLE", 5)
    items = scan()
    assert next(items) == 1
    with pytest.raises(StoreUnavailable):
        next(items)


def test_other_errors_pass_unchanged() -> None:
    @guarded
    def call() -> None:
        raise gexc.Conflict("exists")

    with pytest.raises(gexc.Conflict):
        call()


def test_the_version_cache_is_bounded_by_bytes() -> None:
    """Issue 30 finding 3: big runs no longer pile up (35 MiB after 30 big runs): the least recently used go first,
    and a run over an eighth of the bound is not kept at all."""
    cache = VersionCache(max_bytes=800_000)
    big = {"runId": "r", "outputs": {"x": "y" * 90_000}}
    for i in range(20):
        cache.remember(f"run-{i}", big, i)
    assert cache.bytes <= 800_000 and len(cache) == 800_000 // object_bytes(big)
    assert cache.take("run-0") is None and cache.take("run-19") == (big, 19)
    cache.remember("huge", {"outputs": "z" * 200_000}, 1)
    assert cache.take("huge") is None
    assert cache.bytes == sum(object_bytes(big) for _ in range(len(cache)))


def _decoded_run_of_small_values() -> dict[str, Any]:
    """A finished run as the store reads it (JSON text decoded, adapters/firestore/stored.py): many small values."""
    run = {
        "runId": "projects/p/locations/l/pipelineJobs/1",
        "status": "Success",
        "outputs": {f"p{i}": i * 1000 + 0.5 for i in range(5000)},
        "diagnostics": {"logTail": [{"severity": "ERROR", "text": f"line {i}"} for i in range(200)]},
    }
    return stored.decode(stored.encode(run))


def test_the_version_cache_counts_the_memory_its_copies_take() -> None:
    """Issue 30's open item: the bound counts the Python objects the cache keeps (measured here with tracemalloc),
    not the run's Firestore size, which for many small values is about 7 times less (so the 32 MiB bound held far
    more)."""
    cache = VersionCache()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        data = _decoded_run_of_small_values()
        cache.remember("a", data, 1)
        del data
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.9 * kept <= cache.bytes <= 1.2 * kept, (cache.bytes, kept)
    assert storable.value_bytes(_decoded_run_of_small_values()) < kept / 4  # what the bound counted before


def test_object_bytes_counts_a_shared_object_once_and_any_depth() -> None:
    leaf = "x" * 1000
    assert object_bytes([leaf, leaf]) == sys.getsizeof([leaf, leaf]) + sys.getsizeof(leaf)
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    assert object_bytes(deep) == 5000 * sys.getsizeof([0]) + sys.getsizeof([])
