"""What each service needs from the outside world, as small `Protocol`s. Adapters implement them, and so do the
in-memory fakes in `tests/fakes.py` (`FakeVertex`, `FakeStore`, `FakePublisher`) that the unit tests of the services'
decisions run on (`tests/unit/test_service_decisions.py`). Services are built with exactly the ports they use (see
`bootstrap.py`).

| port           | implemented by                  | used by                          |
|----------------|---------------------------------|----------------------------------|
| `VertexPort`   | `adapters.vertex.VertexJobs`    | submit, cancel, poll, templates, health |
| `ClaimStore`   | `adapters.firestore.FirestoreClaims` | submit                      |
| `RunRecords`   | `adapters.firestore.FirestoreRunRecords` | status, cancel          |
| `PollStore`    | `adapters.firestore.RunStore` (claims + records + `FirestorePollState`) | poll (with its index) |
| `EventPublisher` | `adapters.pubsub.Publisher`   | poll                             |
| `Probes`       | `adapters.probes.CloudProbes`   | health                           |
| `ObjectReader` | `adapters.storage.ObjectStore`  | poll (Custom Jobs' outputs files)  |
| `LogReader`    | `adapters.cloud_logging.CloudLogging` | poll (diagnostics), status (`logs=N`) |
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from .core.events import Message
    from .core.kinds import JobKind

T = TypeVar("T")
ClaimKind = Literal["new", "takeover", "done", "busy", "conflict"]


@dataclass(frozen=True)
class Claim:
    """Outcome of claiming a requestId: new (we create), takeover (a previous attempt died), done, busy, conflict."""

    kind: ClaimKind
    record: dict[str, Any] | None = None


class VertexPort(Protocol):
    """Vertex AI jobs of every kind (REST JSON dicts). Every call raises `UpstreamError` after its retries."""

    calls: Counter[str]

    def create(
        self,
        parent: str,
        job: dict[str, Any],
        deadline: float,
        *,
        kind: JobKind = ...,
        job_id: str | None = None,
        retry: bool = False,
    ) -> dict[str, Any]: ...

    def get(self, name: str, deadline: float) -> dict[str, Any]: ...

    def cancel(self, name: str, deadline: float) -> None: ...

    def list_page(
        self,
        parent: str,
        deadline: float,
        *,
        kind: JobKind = ...,
        filter: str = "",
        page_size: int = 100,
        page_token: str = "",
        read_mask: tuple[str, ...] = (),
        order_by: str = "",
    ) -> tuple[list[dict[str, Any]], str]: ...

    def find_by_label(
        self, parent: str, key: str, value: str, deadline: float, *, kind: JobKind = ...
    ) -> dict[str, Any] | None: ...

    def accelerator_types(self) -> frozenset[str]: ...


class ClaimStore(Protocol):
    """submit's idempotency records and the run it completes."""

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
    ) -> Claim: ...

    def release(self, key: str) -> None: ...

    def complete(self, key: str, run: dict[str, Any], doc_id: str, *, watch_until: float = 0.0) -> dict[str, Any]: ...

    def get_run(self, doc_id: str) -> dict[str, Any] | None: ...


class RunRecords(Protocol):
    """Reading and changing run records (status, cancel)."""

    def get_run(self, doc_id: str) -> dict[str, Any] | None: ...

    def update_run(
        self, doc_id: str, mutate: Callable[[dict[str, Any]], T | None], attempts: int = 10
    ) -> tuple[T | None, dict[str, Any] | None]: ...

    def last_polled(self, project: str, location: str) -> str | None: ...


class PollStore(RunRecords, Protocol):
    """What the poller reads and writes: its index, active and new runs, request records of orphans."""

    counts: Counter[str]

    def get_runs(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    def update_runs(
        self, items: list[tuple[str, Callable[[dict[str, Any]], T | None]]]
    ) -> list[tuple[T | None, dict[str, Any] | None]]: ...

    def get_index_docs(self, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], Any]]: ...

    def put_index_doc(self, doc_id: str, data: dict[str, Any], version: Any) -> bool: ...

    def active_runs(self, shard_range: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]: ...

    def runs_recorded_since(self, since: str) -> Iterator[dict[str, Any]]: ...

    def mark_polled(self, project: str, location: str, when: str) -> None: ...

    def count_active(self) -> int: ...

    def take_lease(self, scope: str, holder: str, until: float, now: float) -> bool:
        """Hold the poll cadence's lease of `scope` until `until` (epoch seconds): True when it was free (absent,
        or its `until` <= `now`) and this conditional write won it; False when another holder has it or won."""
        ...

    def get_request(self, key: str) -> dict[str, Any] | None: ...

    def adopt(self, key: str, run: dict[str, Any], doc_id: str) -> dict[str, Any] | None: ...

    def stranded_requests(self, now: float, max_age: float, limit: int) -> list[tuple[str, dict[str, Any]]]: ...


class EventPublisher(Protocol):
    def publish(self, topic: str, messages: list[Message]) -> set[str]: ...

    def publish_plain(self, topic: str, data: bytes, **attributes: str) -> None: ...


class LogReader(Protocol):
    """Cloud Logging `entries:list` (v2 REST JSON LogEntry dicts). Raises `UpstreamError`; never retries (a read
    is quota: 60 a minute per project)."""

    calls: Counter[str]

    def list_entries(
        self,
        projects: list[str],
        filter: str,
        deadline: float,
        *,
        page_size: int = 1000,
        page_token: str = "",
        newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], str]: ...


class Probes(Protocol):
    """Permission and reachability checks for `health`. Each returns (ok, detail); ok None = cannot be checked here.
    `timeout`: seconds the whole probe may take, retries included."""

    def firestore(self, *, timeout: float = 10.0) -> tuple[bool | None, str]: ...

    def topic_permissions(
        self, topic: str, permissions: list[str], function: str = "poll", *, timeout: float = 10.0
    ) -> tuple[bool | None, str]: ...

    def project_permissions(
        self, project: str, permissions: list[str], function: str, *, timeout: float = 10.0
    ) -> tuple[bool | None, str]: ...

    def hint_sink(self, project: str, sink: str, topic: str, *, timeout: float = 10.0) -> tuple[bool | None, str]:
        """The hints log sink `sink` exists in `project`, is enabled, routes to `topic`, and its writer identity may
        publish there."""


class ObjectReader(Protocol):
    """One Cloud Storage object (`gs://bucket/name`): its first `max_bytes + 1` bytes, so a caller sees that it is
    larger than `max_bytes`; None when it does not exist. Raises `UpstreamError` when it cannot be read."""

    calls: Counter[str]

    def read(self, uri: str, max_bytes: int, deadline: float) -> bytes | None: ...


__all__ = [
    "Claim",
    "ClaimKind",
    "ClaimStore",
    "EventPublisher",
    "LogReader",
    "ObjectReader",
    "PollStore",
    "Probes",
    "RunRecords",
    "VertexPort",
]
