"""What every Firestore store class shares: one client, the collections, the RPC deadline and retry applied to
every call, the read/write counters, and the translation of a stalled database into `StoreUnavailable`.

Two call profiles, each applied to every call of its sort: `rpc` (one document or one small query on a request's
path: a deadline of `call_timeout` seconds and transient retries inside it, so a stalled database is answered
within the request's budget) and `scan` (the poller's streams over every active run, whose length grows with the
runs: bounded by the poll function's own timeout, not by a per-call deadline).
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from ... import log
from ...core.errors import StoreUnavailable
from .versions import VersionCache

F = TypeVar("F", bound=Callable[..., Any])


def _stalled() -> tuple[type[Exception], ...]:
    from google.api_core import exceptions as gexc

    return (gexc.DeadlineExceeded, gexc.ServiceUnavailable, gexc.RetryError, gexc.InternalServerError)


def _unavailable(method: str, exc: Exception) -> StoreUnavailable:
    log.warning("Firestore unavailable", method=method, error=type(exc).__name__)
    return StoreUnavailable(method)


def guarded(fn: F) -> F:
    """A store method whose Firestore call timed out or found the service unavailable raises `StoreUnavailable`
    (never a raw client error): the caller's retry is safe, every write here is create-if-absent or conditional.
    Generator methods (the poller's scans) are guarded while they are iterated."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def scan(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except _stalled() as exc:
                raise _unavailable(fn.__name__, exc) from None

        return scan  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _stalled() as exc:
            raise _unavailable(fn.__name__, exc) from None

    return call  # type: ignore[return-value]


class StoreClient:
    """The Firestore client and collections (names prefixed with `prefix`), call profiles and counters."""

    def __init__(self, project: str, database: str = "(default)", prefix: str = "", *, call_timeout: float = 10.0):
        from google.api_core.retry import Retry, if_transient_error
        from google.cloud import firestore

        self.rpc: dict[str, Any] = {
            "timeout": call_timeout,
            "retry": Retry(predicate=if_transient_error, initial=0.1, maximum=1.0, timeout=call_timeout),
        }
        self.scan: dict[str, Any] = {}
        self.client = firestore.Client(project=project, database=database)
        self.requests = self.client.collection(f"{prefix}requests")
        self.runs = self.client.collection(f"{prefix}runs")
        self.polls = self.client.collection(f"{prefix}polls")
        self.index = self.client.collection(f"{prefix}pollindex")
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind] += n

    def precondition(self, version: Any) -> Any:
        """The write option "unchanged since `version`" (the document's update time when it was read)."""
        return self.client.write_option(last_update_time=version)


class FirestoreStore:
    """The base of the store classes: the shared client, the version cache, retention."""

    def __init__(self, db: StoreClient, *, retention_days: float = 90.0, versions: VersionCache | None = None):
        self.db = db
        self.retention = timedelta(days=retention_days)
        self.versions = versions if versions is not None else VersionCache()
        self.counts: Counter[str] = db.counts  # reads and writes, by kind (shared by every class on `db`)
        # The client and collections, as tests and tools reach them.
        self.client, self.requests, self.runs = db.client, db.requests, db.runs
        self.polls, self.index = db.polls, db.index

    def _expiry(self) -> datetime:
        """When an ended run or done request may be deleted (the Firestore TTL policy's field `expireAt`)."""
        return datetime.now(UTC) + self.retention
