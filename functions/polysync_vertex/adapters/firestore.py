"""Runs and idempotency records in Firestore (Native mode).

Collections (names prefixed with PSV_COLLECTION_PREFIX):
- `requests/{requestKey}`: the idempotency record of one submit: requestId, fingerprint, phase ("creating" while a
  function holds the lease, "done" once the run is recorded), leaseUntil, runId.
- `runs/{doc id}`: the run record (`core.runs.RunRecord`; the id is `core.runs.doc_id`).
- `polls/{project~location}`: when each location was last polled; `pollindex/`: the poller's index
  (`services/poll_index.py`).
Ended runs and done requests get `expireAt` (now + PSV_RETENTION_DAYS) for the Firestore TTL policy.
Reads and writes are counted, so tests and benchmarks can assert what a path costs.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from .. import log
from ..core.errors import ApiError
from ..ports import Claim

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def unavailable_as_503(fn: F) -> F:
    """A Firestore call that timed out or found the service unavailable becomes 503 UNAVAILABLE with Retry-After
    (never a 500): the caller's retry is safe, every write here is create-if-absent or conditional."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from google.api_core import exceptions as gexc

        try:
            return fn(*args, **kwargs)
        except (gexc.DeadlineExceeded, gexc.ServiceUnavailable, gexc.RetryError, gexc.InternalServerError) as exc:
            log.warning("Firestore unavailable", method=fn.__name__, error=type(exc).__name__)
            raise ApiError(
                "UNAVAILABLE", "the run store (Firestore) did not answer in time; retry the same request", retry_after=5
            ) from None

    return wrapper  # type: ignore[return-value]


class RunStore:
    """Implements the ClaimStore, RunRecords and PollStore ports on one Firestore database."""

    def __init__(
        self,
        project: str,
        database: str = "(default)",
        prefix: str = "",
        *,
        retention_days: float = 90.0,
        call_timeout: float = 10.0,
    ) -> None:
        from google.cloud import firestore

        self.retention = timedelta(days=retention_days)
        # Deadline of one Firestore call on a request's path: a stalled database answers 503 within the budget.
        from google.api_core.retry import Retry, if_transient_error

        self._rpc: dict[str, Any] = {
            "timeout": call_timeout,
            "retry": Retry(predicate=if_transient_error, initial=0.1, maximum=1.0, timeout=call_timeout),
        }
        self.client = firestore.Client(project=project, database=database)
        self.requests = self.client.collection(f"{prefix}requests")
        self.runs = self.client.collection(f"{prefix}runs")
        self.polls = self.client.collection(f"{prefix}polls")
        self.index = self.client.collection(f"{prefix}pollindex")
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[dict[str, Any], Any]] = {}

    def _count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind] += n

    # -- idempotency records -------------------------------------------------------------------------------
    @unavailable_as_503
    def claim(
        self,
        key: str,
        request_id: str,
        fingerprint: str,
        lease_until: float,
        now: float,
        *,
        parent: str = "",
        collection: str = "",
        output_names: tuple[str, ...] = (),
    ) -> Claim:
        """Create the request record if absent (create-if-absent, no transaction needed); else report its state.

        An expired lease is taken over with an update conditioned on the record's update time, so of several
        retries racing for a dead attempt exactly one wins.
        """
        from google.api_core import exceptions as gexc

        ref = self.requests.document(key)
        record = {
            "requestId": request_id,
            "fingerprint": fingerprint,
            "phase": "creating",
            "leaseUntil": lease_until,
            "runId": None,
            "attempt": 1,
            # Where the job is created: the poller looks for the job of a claim left without a run (see
            # `stranded_requests`).
            "parent": parent,
            "collection": collection,
            "outputNames": list(output_names),
        }
        try:
            self._count("writes")
            ref.create(record, **self._rpc)
            return Claim("new", record)
        except gexc.Conflict:
            pass
        snap = ref.get(**self._rpc)
        self._count("reads")
        if not snap.exists:  # released between our create and get: try once more
            return self.claim(
                key,
                request_id,
                fingerprint,
                lease_until,
                now,
                parent=parent,
                collection=collection,
                output_names=output_names,
            )
        existing = snap.to_dict() or {}
        if existing.get("adopted") and existing.get("fingerprint") is None and existing.get("phase") == "done":
            # Created by the poller when it adopted a late job whose request record was gone: the first body to
            # come back for it is taken as the request's own.
            self._count("writes")
            ref.update({"fingerprint": fingerprint, "requestId": request_id}, **self._rpc)
            return Claim("done", {**existing, "fingerprint": fingerprint})
        if existing.get("fingerprint") != fingerprint:
            return Claim("conflict", existing)
        if existing.get("phase") == "done":
            return Claim("done", existing)
        if float(existing.get("leaseUntil", 0)) > now:
            return Claim("busy", existing)
        try:
            self._count("writes")
            ref.update(
                {"leaseUntil": lease_until, "attempt": int(existing.get("attempt", 1)) + 1},
                option=self.client.write_option(last_update_time=snap.update_time),
                **self._rpc,
            )
        except (gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
            return Claim("busy", existing)
        return Claim("takeover", existing)

    @unavailable_as_503
    def get_request(self, key: str) -> dict[str, Any] | None:
        snap = self.requests.document(key).get(**self._rpc)
        self._count("reads")
        return snap.to_dict() if snap.exists else None

    @unavailable_as_503
    @unavailable_as_503
    def stranded_requests(self, now: float, max_age: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Requests whose earlier create may still land: claims whose attempt ended without a run (lease expired,
        still "creating") within the last `max_age` seconds, and done requests under watch (`watchUntil` in the
        future: recorded by an attempt that took over from one whose create was in flight). [(key, record)], at
        most `limit` of each."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        found: list[tuple[str, dict[str, Any]]] = []
        for snap in self.requests.where(filter=FieldFilter("phase", "==", "creating")).stream(**self._rpc):
            self._count("reads")
            data = snap.to_dict() or {}
            lease = float(data.get("leaseUntil") or 0)
            if now - max_age <= lease < now and data.get("parent"):
                found.append((snap.id, data))
            if len(found) >= limit:
                break
        watched = self.requests.where(filter=FieldFilter("watchUntil", ">", now)).limit(limit)
        for snap in watched.stream(**self._rpc):
            self._count("reads")
            data = snap.to_dict() or {}
            if data.get("parent"):
                found.append((snap.id, data))
        return found

    def release(self, key: str) -> None:
        """Drop a claim whose attempt created no job, so a retry starts afresh."""
        self._count("writes")
        self.requests.document(key).delete(**self._rpc)

    @unavailable_as_503
    def complete(self, key: str, run: dict[str, Any], doc_id: str, *, watch_until: float = 0.0) -> dict[str, Any]:
        """Record the run and mark the request done, atomically. Returns the stored run (an existing one wins).
        `watch_until`: the poller keeps looking for other jobs of this request until then (a takeover)."""
        from google.api_core import exceptions as gexc

        run_ref = self.runs.document(doc_id)
        batch = self.client.batch()
        done: dict[str, Any] = {"phase": "done", "runId": run["runId"]}
        if watch_until:
            done["watchUntil"] = watch_until
        if not run.get("active"):
            run = {**run, "expireAt": self._expiry()}
            done["expireAt"] = run["expireAt"]
        batch.create(run_ref, run)
        batch.update(self.requests.document(key), done)
        try:
            self._count("writes", 2)
            batch.commit(**self._rpc)
            return run
        except gexc.Conflict:
            self._count("writes")
            self.requests.document(key).update({"phase": "done", "runId": run["runId"]})
            existing = self.get_run(doc_id)
            return existing if existing is not None else run

    @unavailable_as_503
    def adopt(self, key: str, run: dict[str, Any], doc_id: str) -> dict[str, Any] | None:
        """Record an orphan job as its request's run: the run is created if absent, the request marked done with
        it — only if the request has no run yet (its record is absent or still "creating"). Returns the stored run,
        or None when the request already holds another run (the caller cancels the orphan)."""
        from google.api_core import exceptions as gexc

        request_ref = self.requests.document(key)
        snap = request_ref.get(**self._rpc)
        self._count("reads")
        existing = snap.to_dict() if snap.exists else None
        if existing is not None and existing.get("runId") not in (None, run["runId"]):
            return None
        batch = self.client.batch()
        done: dict[str, Any] = {"phase": "done", "runId": run["runId"], "requestId": run["requestId"]}
        if not run.get("active"):
            run = {**run, "expireAt": self._expiry()}
            done["expireAt"] = run["expireAt"]
        batch.create(self.runs.document(doc_id), run)
        if existing is None:
            batch.create(request_ref, {**done, "fingerprint": None, "leaseUntil": 0, "attempt": 0, "adopted": True})
        else:
            batch.update(request_ref, done, option=self.client.write_option(last_update_time=snap.update_time))
        try:
            self._count("writes", 2)
            batch.commit(**self._rpc)
        except (gexc.Conflict, gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
            return self.get_run(doc_id)  # a racing submit (or poller) recorded it first: theirs stands
        return run

    def _expiry(self) -> datetime:
        return datetime.now(UTC) + self.retention

    # -- runs ----------------------------------------------------------------------------------------------
    # Runs are updated optimistically: a write carries the precondition "unchanged since I read it" (the document's
    # update time), and a refused write re-reads and re-applies the change. No locks are held, so overlapping
    # pollers and a racing cancel never wait on each other, and the poll path needs no second read of a run it
    # has just listed. `_seen` keeps the last version read or written per run for that purpose.
    def _remember(self, doc_id: str, data: dict[str, Any], version: Any) -> None:
        with self._lock:
            if len(self._seen) > 50_000:
                self._seen.clear()
            self._seen[doc_id] = (copy.deepcopy(data), version)

    @unavailable_as_503
    def get_run(self, doc_id: str) -> dict[str, Any] | None:
        snap = self.runs.document(doc_id).get(**self._rpc)
        self._count("reads")
        if not snap.exists:
            return None
        data = snap.to_dict() or {}
        self._remember(doc_id, data, snap.update_time)
        return copy.deepcopy(data)

    @unavailable_as_503
    def get_runs(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Several runs in one call: {doc_id: run} for those that exist."""
        found = self._read_runs(doc_ids)
        for doc_id, (data, version) in found.items():
            self._remember(doc_id, data, version)
        return {doc_id: copy.deepcopy(data) for doc_id, (data, _) in found.items()}

    def _read_runs(self, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], Any]]:
        """{doc_id: (run, update time)} of those that exist, in one call."""
        if not doc_ids:
            return {}
        found: dict[str, tuple[dict[str, Any], Any]] = {}
        for snap in self.client.get_all([self.runs.document(d) for d in doc_ids], **self._rpc):
            self._count("reads")
            if snap.exists:
                found[snap.id] = (snap.to_dict() or {}, snap.update_time)
        return found

    def _stage_run(self, batch: Any, doc_id: str, data: dict[str, Any], version: Any) -> int:
        """Add the run's write, conditioned on `version`, to `batch`; a run that ends gets `expireAt`, and so does
        its request record, in the same batch. Returns the number of writes added."""
        ended = not data.get("active") and "expireAt" not in data and data.get("requestKey")
        if ended:
            data["expireAt"] = self._expiry()
        # The write is encoded here: `data` is complete before this line.
        batch.update(self.runs.document(doc_id), data, option=self.client.write_option(last_update_time=version))
        if not ended:
            return 1
        batch.set(self.requests.document(data["requestKey"]), {"expireAt": data["expireAt"]}, merge=True)
        return 2

    @unavailable_as_503
    def update_run(
        self, doc_id: str, mutate: Callable[[dict[str, Any]], T | None], attempts: int = 10
    ) -> tuple[T | None, dict[str, Any] | None]:
        """Apply `mutate` (changes the dict in place, returns a result; None = nothing to write) and store it with
        an optimistic precondition. A conflicting write elsewhere makes it re-read and run `mutate` again.
        Returns (mutate's result, the run as last read or written; None if the run does not exist). A run that
        ends gets `expireAt`, and so does its request record, in the same batch."""
        from google.api_core import exceptions as gexc

        with self._lock:
            cached = self._seen.pop(doc_id, None)
        for _ in range(attempts):
            if cached is None:
                snap = self.runs.document(doc_id).get(**self._rpc)
                self._count("reads")
                if not snap.exists:
                    return None, None
                data, version = snap.to_dict() or {}, snap.update_time
            else:
                (data, version), cached = cached, None
            result = mutate(data)
            if result is None:
                self._remember(doc_id, data, version)
                return None, copy.deepcopy(data)
            batch = self.client.batch()
            self._count("writes", self._stage_run(batch, doc_id, data, version))
            try:
                update_time = batch.commit(**self._rpc)[0].update_time
            except (gexc.FailedPrecondition, gexc.Aborted, gexc.Conflict):
                continue  # changed since we read it: read again and re-apply
            self._remember(doc_id, data, update_time)
            return result, copy.deepcopy(data)
        raise RuntimeError(f"run {doc_id} kept changing under {attempts} attempts to update it")

    # Writes per batch commit: Firestore takes up to 500; an ending run writes 2 (its record and its request's
    # expireAt).
    BATCH_WRITES = 400

    @unavailable_as_503
    def update_runs(
        self, items: list[tuple[str, Callable[[dict[str, Any]], T | None]]]
    ) -> list[tuple[T | None, dict[str, Any] | None]]:
        """`update_run` for several runs in as few commits as possible (a tick records its changes, then drops
        its published events, in one commit each instead of one per run). Each run keeps its own precondition;
        the runs not in this process's cache are read in one call. A commit is atomic: when any precondition fails
        (an overlapping poller or a cancel wrote one of them), none of that commit is written and each of its runs
        goes through `update_run` (re-read, `mutate` re-applied). Results in the order of `items`."""
        results: list[tuple[T | None, dict[str, Any] | None]] = [(None, None)] * len(items)
        current: dict[int, tuple[dict[str, Any], Any]] = {}
        with self._lock:
            for i, (doc_id, _) in enumerate(items):
                cached = self._seen.pop(doc_id, None)
                if cached is not None:
                    current[i] = cached
        missing = [i for i in range(len(items)) if i not in current]
        read = self._read_runs([items[i][0] for i in missing])
        current.update({i: read[items[i][0]] for i in missing if items[i][0] in read})
        chunk: list[tuple[int, dict[str, Any], Any]] = []
        writes = 0
        for i, (doc_id, mutate) in enumerate(items):
            if i not in current:
                continue  # the run does not exist: (None, None)
            data, version = current[i]
            result = mutate(data)
            if result is None:
                self._remember(doc_id, data, version)
                results[i] = (None, copy.deepcopy(data))
                continue
            results[i] = (result, None)
            chunk.append((i, data, version))
            writes += 2
            if writes >= self.BATCH_WRITES:
                self._commit_runs(items, chunk, results)
                chunk, writes = [], 0
        if chunk:
            self._commit_runs(items, chunk, results)
        return results

    def _commit_runs(
        self,
        items: list[tuple[str, Callable[[dict[str, Any]], Any]]],
        chunk: list[tuple[int, dict[str, Any], Any]],
        results: list[tuple[Any, dict[str, Any] | None]],
    ) -> None:
        from google.api_core import exceptions as gexc

        batch = self.client.batch()
        first: list[int] = []  # the position in the commit's writes of each run's write
        writes = 0
        for i, data, version in chunk:
            first.append(writes)
            writes += self._stage_run(batch, items[i][0], data, version)
        self._count("writes", writes)
        try:
            written = batch.commit(**self._rpc)
        except (gexc.FailedPrecondition, gexc.Aborted, gexc.Conflict):
            # One of them changed since it was read: write each on its own (re-read, re-applied).
            for i, _, _ in chunk:
                doc_id, mutate = items[i]
                results[i] = self.update_run(doc_id, mutate)
            return
        for (i, data, _), position in zip(chunk, first, strict=True):
            self._remember(items[i][0], data, written[position].update_time)
            results[i] = (results[i][0], copy.deepcopy(data))

    def active_runs(self, shard_range: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]:
        """Runs that need the poller, optionally only those whose shard is in [lo, hi)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.runs.where(filter=FieldFilter("active", "==", True))
        if shard_range is not None:
            lo, hi = shard_range
            query = query.where(filter=FieldFilter("shard", ">=", lo)).where(filter=FieldFilter("shard", "<", hi))
        with self._lock:
            self._seen.clear()
        for snap in query.stream():
            self._count("reads")
            data = snap.to_dict() or {}
            self._remember(snap.id, data, snap.update_time)
            yield data

    def runs_recorded_since(self, since: str) -> Iterator[dict[str, Any]]:
        """Active runs recorded at or after `since` (RFC 3339): what submit added since the poller last looked."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.runs.where(filter=FieldFilter("active", "==", True)).where(
            filter=FieldFilter("recordedAt", ">=", since)
        )
        for snap in query.stream():
            self._count("reads")
            data = snap.to_dict() or {}
            self._remember(snap.id, data, snap.update_time)
            yield data

    # -- the poller's index of active runs (see services/poll_index.py) -------------------------------------
    def get_index_docs(self, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], Any]]:
        """Several `pollindex` documents in one call: {id: (data, update_time)} for those that exist."""
        if not doc_ids:
            return {}
        refs = [self.index.document(d) for d in doc_ids]
        found: dict[str, tuple[dict[str, Any], Any]] = {}
        for snap in self.client.get_all(refs):
            self._count("reads")
            if snap.exists:
                found[snap.id] = (snap.to_dict() or {}, snap.update_time)
        return found

    def put_index_doc(self, doc_id: str, data: dict[str, Any], version: Any) -> bool:
        """Write an index document. `version`: the update time it was read at (written only if unchanged since),
        None (created only if absent) or "any" (overwritten). False when the condition failed."""
        from google.api_core import exceptions as gexc

        ref = self.index.document(doc_id)
        self._count("writes")
        try:
            if version is None:
                ref.create(data)
            elif version == "any":
                ref.set(data)
            else:
                ref.update(data, option=self.client.write_option(last_update_time=version))
        except (gexc.Conflict, gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
            return False
        return True

    def mark_polled(self, project: str, location: str, when: str) -> None:
        self._count("writes")
        self.polls.document(f"{project}~{location}").set({"lastPolled": when})

    @unavailable_as_503
    def last_polled(self, project: str, location: str) -> str | None:
        snap = self.polls.document(f"{project}~{location}").get()
        self._count("reads")
        return (snap.to_dict() or {}).get("lastPolled") if snap.exists else None

    def count_active(self) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.runs.where(filter=FieldFilter("active", "==", True)).count()
        self._count("reads")
        result: Any = query.get()  # type: ignore[call-arg]
        return int(result[0][0].value)
