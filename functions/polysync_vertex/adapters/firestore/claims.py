"""Idempotency records (`requests/{requestKey}`) and the run a submit, or the poller's adoption, completes.

A request record holds requestId, fingerprint, phase ("creating" while a function holds the lease, "done" once the
run is recorded), leaseUntil, runId, and where the job is created (parent, collection) so the poller can look for a
job whose submit gave up. Every write is create-if-absent or conditional on the record's update time.
"""

from __future__ import annotations

from typing import Any

from ...ports import Claim
from . import stored
from .client import guarded
from .records import FirestoreRunRecords


def _gexc() -> Any:
    from google.api_core import exceptions as gexc

    return gexc


class FirestoreClaims(FirestoreRunRecords):
    """Implements the `ClaimStore` port (submit), and the request records the poller reads and adopts into."""

    @guarded
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
        outputs_file: dict[str, Any] | None = None,
    ) -> Claim:
        """Create the request record if absent (create-if-absent, no transaction needed); else report its state.

        An expired lease is taken over with an update conditioned on the record's update time, so of several
        retries racing for a dead attempt exactly one wins.
        """
        gexc = _gexc()
        ref = self.db.requests.document(key)
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
            # A Custom Job's outputs file (core/outputs.py), for a run adopted from a late create.
            "outputsFile": outputs_file,
        }
        try:
            self.db.count("writes")
            ref.create(record, **self.db.rpc)
            return Claim("new", record)
        except gexc.Conflict:
            pass
        snap = ref.get(**self.db.rpc)
        self.db.count("reads")
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
                outputs_file=outputs_file,
            )
        existing = snap.to_dict() or {}
        if existing.get("adopted") and existing.get("fingerprint") is None and existing.get("phase") == "done":
            # Created by the poller when it adopted a late job whose request record was gone: the first body to
            # come back for it is taken as the request's own.
            self.db.count("writes")
            ref.update({"fingerprint": fingerprint, "requestId": request_id}, **self.db.rpc)
            return Claim("done", {**existing, "fingerprint": fingerprint})
        if existing.get("fingerprint") != fingerprint:
            return Claim("conflict", existing)
        if existing.get("phase") == "done":
            return Claim("done", existing)
        if float(existing.get("leaseUntil", 0)) > now:
            return Claim("busy", existing)
        try:
            self.db.count("writes")
            ref.update(
                {"leaseUntil": lease_until, "attempt": int(existing.get("attempt", 1)) + 1},
                option=self.db.precondition(snap.update_time),
                **self.db.rpc,
            )
        except (gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
            return Claim("busy", existing)
        return Claim("takeover", existing)

    @guarded
    def get_request(self, key: str) -> dict[str, Any] | None:
        snap = self.db.requests.document(key).get(**self.db.rpc)
        self.db.count("reads")
        return snap.to_dict() if snap.exists else None

    @guarded
    def stranded_requests(self, now: float, max_age: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Requests whose earlier create may still land: claims whose attempt ended without a run (lease expired,
        still "creating") within the last `max_age` seconds, and done requests under watch (`watchUntil` in the
        future: recorded by an attempt that took over from one whose create was in flight). [(key, record)], at
        most `limit` of each."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        found: list[tuple[str, dict[str, Any]]] = []
        for snap in self.db.requests.where(filter=FieldFilter("phase", "==", "creating")).stream(**self.db.rpc):
            self.db.count("reads")
            data = snap.to_dict() or {}
            lease = float(data.get("leaseUntil") or 0)
            if now - max_age <= lease < now and data.get("parent"):
                found.append((snap.id, data))
            if len(found) >= limit:
                break
        watched = self.db.requests.where(filter=FieldFilter("watchUntil", ">", now)).limit(limit)
        for snap in watched.stream(**self.db.rpc):
            self.db.count("reads")
            data = snap.to_dict() or {}
            if data.get("parent"):
                found.append((snap.id, data))
        return found

    @guarded
    def release(self, key: str) -> None:
        """Drop a claim whose attempt created no job, so a retry starts afresh."""
        self.db.count("writes")
        self.db.requests.document(key).delete(**self.db.rpc)

    @guarded
    def complete(self, key: str, run: dict[str, Any], doc_id: str, *, watch_until: float = 0.0) -> dict[str, Any]:
        """Record the run and mark the request done, atomically. Returns the stored run (an existing one wins).
        `watch_until`: the poller keeps looking for other jobs of this request until then (a takeover)."""
        batch = self.db.client.batch()
        done: dict[str, Any] = {"phase": "done", "runId": run["runId"]}
        if watch_until:
            done["watchUntil"] = watch_until
        if not run.get("active"):
            run = {**run, "expireAt": self._expiry()}
            done["expireAt"] = run["expireAt"]
        batch.create(self.db.runs.document(doc_id), stored.fit(run)[0])
        batch.update(self.db.requests.document(key), done)
        try:
            self.db.count("writes", 2)
            batch.commit(**self.db.rpc)
            return run
        except _gexc().Conflict:
            self.db.count("writes")
            self.db.requests.document(key).update({"phase": "done", "runId": run["runId"]}, **self.db.rpc)
            existing = self.get_run(doc_id)
            return existing if existing is not None else run

    @guarded
    def adopt(self, key: str, run: dict[str, Any], doc_id: str) -> dict[str, Any] | None:
        """Record an orphan job as its request's run: the run is created if absent, the request marked done with
        it — only if the request has no run yet (its record is absent or still "creating"). Returns the stored run,
        or None when the request already holds another run (the caller cancels the orphan)."""
        gexc = _gexc()
        request_ref = self.db.requests.document(key)
        snap = request_ref.get(**self.db.rpc)
        self.db.count("reads")
        existing = snap.to_dict() if snap.exists else None
        if existing is not None and existing.get("runId") not in (None, run["runId"]):
            return None
        batch = self.db.client.batch()
        done: dict[str, Any] = {"phase": "done", "runId": run["runId"], "requestId": run["requestId"]}
        if not run.get("active"):
            run = {**run, "expireAt": self._expiry()}
            done["expireAt"] = run["expireAt"]
        batch.create(self.db.runs.document(doc_id), stored.fit(run)[0])
        if existing is None:
            batch.create(request_ref, {**done, "fingerprint": None, "leaseUntil": 0, "attempt": 0, "adopted": True})
        else:
            batch.update(request_ref, done, option=self.db.precondition(snap.update_time))
        try:
            self.db.count("writes", 2)
            batch.commit(**self.db.rpc)
        except (gexc.Conflict, gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
            return self.get_run(doc_id)  # a racing submit (or poller) recorded it first: theirs stands
        return run
