"""Run records (`runs/{doc id}`, `core.run_record.RunRecord`): read, and changed with an optimistic precondition.

A write carries the precondition "unchanged since read" (`versions.py`); a refused write re-reads and re-applies
the change. A run that ends gets `expireAt` (now + retention) for the Firestore TTL policy, and so does its request
record, in the same batch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

from ... import log
from ...core import record_budget
from . import stored
from .client import FirestoreStore, guarded

T = TypeVar("T")


def _refused() -> tuple[type[Exception], ...]:
    """A write refused because the document changed since it was read."""
    from google.api_core import exceptions as gexc

    return (gexc.FailedPrecondition, gexc.Aborted, gexc.Conflict)


def _invalid() -> tuple[type[Exception], ...]:
    """A write Firestore refuses for what it holds (a value it cannot store, a document or request too large):
    retrying it unchanged can never succeed."""
    from google.api_core import exceptions as gexc

    return (gexc.InvalidArgument, gexc.BadRequest, gexc.RequestRangeNotSatisfiable)


class FirestoreRunRecords(FirestoreStore):
    """Implements the `RunRecords` port (status, cancel), and the run reads and writes of the poller."""

    # Writes per batch commit: Firestore takes up to 500; an ending run writes 2 (its record and its request's
    # expireAt).
    BATCH_WRITES = 400
    # Bytes per batch commit: Firestore takes at most 10 MiB per request (https://cloud.google.com/firestore/quotas,
    # "Maximum API request size"), its emulator's gRPC messages at most 4 MiB; a commit is split well below both.
    BATCH_BYTES = 3 * 1024 * 1024
    # What one run record may take (stored.RECORD_LIMIT); tests raise it to make Firestore itself refuse a write.
    record_limit = stored.RECORD_LIMIT

    @guarded
    def get_run(self, doc_id: str) -> dict[str, Any] | None:
        snap = self.db.runs.document(doc_id).get(**self.db.rpc)
        self.db.count("reads")
        if not snap.exists:
            return None
        data = stored.decode(snap.to_dict() or {})
        self.versions.remember(doc_id, data, snap.update_time)
        return copy.deepcopy(data)

    @guarded
    def get_runs(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Several runs in one call: {doc_id: run} for those that exist."""
        found = self._read_runs(doc_ids)
        for doc_id, (data, version) in found.items():
            self.versions.remember(doc_id, data, version)
        return {doc_id: copy.deepcopy(data) for doc_id, (data, _) in found.items()}

    def _read_runs(self, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], Any]]:
        """{doc_id: (run, update time)} of those that exist, in one call."""
        if not doc_ids:
            return {}
        found: dict[str, tuple[dict[str, Any], Any]] = {}
        for snap in self.db.client.get_all([self.db.runs.document(d) for d in doc_ids], **self.db.rpc):
            self.db.count("reads")
            if snap.exists:
                found[snap.id] = (stored.decode(snap.to_dict() or {}), snap.update_time)
        return found

    def _stage_run(self, batch: Any, doc_id: str, data: dict[str, Any], version: Any) -> int:
        """Add the run's write, conditioned on `version`, to `batch`; a run that ends gets `expireAt`, and so does
        its request record, in the same batch. Returns the number of writes added."""
        ended = not data.get("active") and "expireAt" not in data and data.get("requestKey")
        if ended:
            data["expireAt"] = self._expiry()
        # The write is encoded here (stored.py): `data` is complete before this line.
        document, _ = stored.fit(data, self.record_limit)
        batch.update(self.db.runs.document(doc_id), document, option=self.db.precondition(version))
        if not ended:
            return 1
        batch.set(self.db.requests.document(data["requestKey"]), {"expireAt": data["expireAt"]}, merge=True)
        return 2

    @guarded
    def update_run(
        self, doc_id: str, mutate: Callable[[dict[str, Any]], T | None], attempts: int = 10
    ) -> tuple[T | None, dict[str, Any] | None]:
        """Apply `mutate` (changes the dict in place, returns a result; None = nothing to write) and store it with
        an optimistic precondition. A conflicting write elsewhere makes it re-read and run `mutate` again.
        Returns (mutate's result, the run as last read or written; None if the run does not exist)."""
        cached = self.versions.take(doc_id)
        for _ in range(attempts):
            if cached is None:
                snap = self.db.runs.document(doc_id).get(**self.db.rpc)
                self.db.count("reads")
                if not snap.exists:
                    return None, None
                data, version = stored.decode(snap.to_dict() or {}), snap.update_time
            else:
                (data, version), cached = cached, None
            result = mutate(data)
            if result is None:
                self.versions.remember(doc_id, data, version)
                return None, copy.deepcopy(data)
            try:
                update_time = self._commit_one(doc_id, data, version)
            except _refused():
                continue  # changed since we read it: read again and re-apply
            if update_time is None:
                return None, None  # Firestore refuses even the storable form: logged, the caller goes on
            self.versions.remember(doc_id, data, update_time)
            return result, copy.deepcopy(data)
        raise RuntimeError(f"run {doc_id} kept changing under {attempts} attempts to update it")

    def _commit_one(self, doc_id: str, data: dict[str, Any], version: Any) -> Any:
        """Write one run alone. A write Firestore refuses for what it holds is isolated to this run: the record is
        made storable (what the job produced left out, the run marked: core.runs.make_storable), logged at ERROR,
        and written again; None when even that is refused (logged; the tick goes on for every other run)."""
        for attempt in range(2):
            batch = self.db.client.batch()
            self.db.count("writes", self._stage_run(batch, doc_id, data, version))
            try:
                return batch.commit(**self.db.rpc)[0].update_time
            except _invalid() as exc:
                if attempt:
                    log.error(
                        "Firestore refused a run's storable record; not written",
                        runId=data.get("runId"),
                        error=repr(exc)[:500],
                    )
                    return None
                note = record_budget.make_storable(data, f"the run store refused the record ({type(exc).__name__})")
                log.error(
                    "Firestore refused a run's record; what the job produced was left out",
                    runId=data.get("runId"),
                    error=repr(exc)[:500],
                    note=note,
                )
        return None

    @guarded
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
        for i, (doc_id, _) in enumerate(items):
            cached = self.versions.take(doc_id)
            if cached is not None:
                current[i] = cached
        missing = [i for i in range(len(items)) if i not in current]
        read = self._read_runs([items[i][0] for i in missing])
        current.update({i: read[items[i][0]] for i in missing if items[i][0] in read})
        chunk: list[tuple[int, dict[str, Any], Any]] = []
        writes = size = 0
        for i, (doc_id, mutate) in enumerate(items):
            if i not in current:
                continue  # the run does not exist: (None, None)
            data, version = current[i]
            result = mutate(data)
            if result is None:
                self.versions.remember(doc_id, data, version)
                results[i] = (None, copy.deepcopy(data))
                continue
            results[i] = (result, None)
            _, run_bytes = stored.fit(data, self.record_limit)
            if chunk and (writes + 2 > self.BATCH_WRITES or size + run_bytes > self.BATCH_BYTES):
                self._commit_runs(items, chunk, results)
                chunk, writes, size = [], 0, 0
            chunk.append((i, data, version))
            writes, size = writes + 2, size + run_bytes
        if chunk:
            self._commit_runs(items, chunk, results)
        return results

    def _commit_runs(
        self,
        items: list[tuple[str, Callable[[dict[str, Any]], Any]]],
        chunk: list[tuple[int, dict[str, Any], Any]],
        results: list[tuple[Any, dict[str, Any] | None]],
    ) -> None:
        batch = self.db.client.batch()
        first: list[int] = []  # the position in the commit's writes of each run's write
        writes = 0
        for i, data, version in chunk:
            first.append(writes)
            writes += self._stage_run(batch, items[i][0], data, version)
        self.db.count("writes", writes)
        try:
            written = batch.commit(**self.db.rpc)
        except (*_refused(), *_invalid()) as exc:
            # One of them changed since it was read, or Firestore refused what one of them holds: write each on its
            # own (re-read, re-applied; a refused one isolated to its run: `_commit_one`).
            if isinstance(exc, _invalid()):
                log.warning(
                    "Firestore refused a commit of several runs; writing each alone",
                    runs=len(chunk),
                    error=repr(exc)[:300],
                )
            for i, _, _ in chunk:
                doc_id, mutate = items[i]
                results[i] = self.update_run(doc_id, mutate)
            return
        for (i, data, _), position in zip(chunk, first, strict=True):
            self.versions.remember(items[i][0], data, written[position].update_time)
            results[i] = (results[i][0], copy.deepcopy(data))

    @guarded
    def last_polled(self, project: str, location: str) -> str | None:
        snap = self.db.polls.document(f"{project}~{location}").get(**self.db.rpc)
        self.db.count("reads")
        return (snap.to_dict() or {}).get("lastPolled") if snap.exists else None
