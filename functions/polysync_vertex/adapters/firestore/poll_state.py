"""What only the poller reads and writes: scans of active runs, its index documents (`pollindex/`, see
`services/poll/index.py`), when each location was last polled (`polls/{project~location}`), and the poll
cadence's leases (`polls/lease~{lo}~{hi}`, see `services/poll/cadence.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import stored
from .client import guarded
from .records import FirestoreRunRecords


class FirestorePollState(FirestoreRunRecords):
    """The poller's own part of the `PollStore` port."""

    @guarded
    def active_runs(self, shard_range: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]:
        """Runs that need the poller, optionally only those whose shard is in [lo, hi)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.db.runs.where(filter=FieldFilter("active", "==", True))
        if shard_range is not None:
            lo, hi = shard_range
            query = query.where(filter=FieldFilter("shard", ">=", lo)).where(filter=FieldFilter("shard", "<", hi))
        yield from self._scan(query)

    @guarded
    def runs_recorded_since(self, since: str) -> Iterator[dict[str, Any]]:
        """Active runs recorded at or after `since` (RFC 3339): what submit added since the poller last looked."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.db.runs.where(filter=FieldFilter("active", "==", True)).where(
            filter=FieldFilter("recordedAt", ">=", since)
        )
        yield from self._scan(query)

    def _scan(self, query: Any) -> Iterator[dict[str, Any]]:
        for snap in query.stream(**self.db.scan):
            self.db.count("reads")
            data = stored.decode(snap.to_dict() or {})
            self.versions.remember(snap.id, data, snap.update_time)
            yield data

    @guarded
    def get_index_docs(self, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], Any]]:
        """Several `pollindex` documents in one call: {id: (data, update_time)} for those that exist."""
        if not doc_ids:
            return {}
        refs = [self.db.index.document(d) for d in doc_ids]
        found: dict[str, tuple[dict[str, Any], Any]] = {}
        for snap in self.db.client.get_all(refs, **self.db.rpc):
            self.db.count("reads")
            if snap.exists:
                found[snap.id] = (snap.to_dict() or {}, snap.update_time)
        return found

    @guarded
    def put_index_doc(self, doc_id: str, data: dict[str, Any], version: Any) -> bool:
        """Write an index document. `version`: the update time it was read at (written only if unchanged since),
        None (created only if absent) or "any" (overwritten). False when the condition failed."""
        from google.api_core import exceptions as gexc

        ref = self.db.index.document(doc_id)
        self.db.count("writes")
        try:
            if version is None:
                ref.create(data, **self.db.rpc)
            elif version == "any":
                ref.set(data, **self.db.rpc)
            else:
                ref.update(data, option=self.db.precondition(version), **self.db.rpc)
        except (gexc.Conflict, gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
            return False
        return True

    @guarded
    def mark_polled(self, project: str, location: str, when: str) -> None:
        self.db.count("writes")
        self.db.polls.document(f"{project}~{location}").set({"lastPolled": when}, **self.db.rpc)

    @guarded
    def take_lease(self, scope: str, holder: str, until: float, now: float) -> bool:
        """The cadence's lease of a poll scope: created if absent, or taken over when its `until` has passed with
        the update time it was read at as precondition, so of two racing invocations exactly one wins."""
        from google.api_core import exceptions as gexc

        ref = self.db.polls.document(f"lease~{scope}")
        snap = ref.get(**self.db.rpc)
        self.db.count("reads")
        data = {"holder": holder, "until": until}
        if snap.exists and float((snap.to_dict() or {}).get("until") or 0) > now:
            return False
        self.db.count("writes")
        try:
            if snap.exists:
                ref.update(data, option=self.db.precondition(snap.update_time), **self.db.rpc)
            else:
                ref.create(data, **self.db.rpc)
        except (gexc.Conflict, gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
            return False
        return True

    @guarded
    def count_active(self) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.db.runs.where(filter=FieldFilter("active", "==", True)).count()
        self.db.count("reads")
        result: Any = query.get(**self.db.rpc)
        return int(result[0][0].value)
