"""The Firestore adapter's own parts, without a database: the version cache and the stalled-store translation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.api_core import exceptions as gexc

from polysync_vertex.adapters.firestore.client import guarded
from polysync_vertex.adapters.firestore.versions import VersionCache
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
    from polysync_vertex.core import storable

    cache = VersionCache(max_bytes=800_000)
    big = {"runId": "r", "outputs": {"x": "y" * 90_000}}
    for i in range(20):
        cache.remember(f"run-{i}", big, i)
    assert cache.bytes <= 800_000 and len(cache) == 800_000 // storable.value_bytes(big)
    assert cache.take("run-0") is None and cache.take("run-19") == (big, 19)
    cache.remember("huge", {"outputs": "z" * 200_000}, 1)
    assert cache.take("huge") is None
    assert cache.bytes == sum(storable.value_bytes(big) for _ in range(len(cache)))
