"""Runs and idempotency records in Firestore (Native mode), one class per port on a shared client.

| module          | class                 | port                                   |
|-----------------|-----------------------|----------------------------------------|
| `client.py`     | `StoreClient`         | (the client, collections, call profiles, counters, `guarded`) |
| `versions.py`   | `VersionCache`        | (the last version of each run, for optimistic writes) |
| `records.py`    | `FirestoreRunRecords` | `RunRecords` (status, cancel)          |
| `claims.py`     | `FirestoreClaims`     | `ClaimStore` (submit)                  |
| `poll_state.py` | `FirestorePollState`  | the poller's scans, index, poll marks  |
| here            | `RunStore`            | all of them on one database (`PollStore` spans them) |

Collections (names prefixed with PSV_COLLECTION_PREFIX): `requests/{requestKey}` (claims.py), `runs/{doc id}`
(`core.run_record.RunRecord`, the id `core.kinds.run_doc_id`), `polls/{project~location}` and `pollindex/`
(poll_state.py). Ended runs and done requests get `expireAt` (now + PSV_RETENTION_DAYS) for the Firestore TTL
policy. Reads and writes are counted, so tests and benchmarks can assert what a path costs. A stalled database
raises `core.errors.StoreUnavailable` (503 with Retry-After to an HTTP caller).
"""

from __future__ import annotations

from .claims import FirestoreClaims
from .client import StoreClient
from .poll_state import FirestorePollState
from .records import FirestoreRunRecords
from .versions import VersionCache

__all__ = ["FirestoreClaims", "FirestorePollState", "FirestoreRunRecords", "RunStore", "StoreClient", "VersionCache"]


class RunStore(FirestoreClaims, FirestorePollState):
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
        # Deadline of one Firestore call on a request's path: a stalled database answers 503 within the budget.
        db = StoreClient(project, database, prefix, call_timeout=call_timeout)
        super().__init__(db, retention_days=retention_days)
