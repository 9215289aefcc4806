"""In-memory fakes of the ports (`functions/polysync_vertex/ports.py`), for fast unit tests of the services'
decisions: takeover, busy, ambiguous create, poll races, orphan adoption. Integration and e2e tests use the real
emulators instead; these only have to honour what the services rely on:

- `FakeVertex` (VertexPort): jobs by resource name, labels, the connector's list filters (label and state
  equalities, ORs of them, `update_time>=` / `create_time>=`), pages, a client-chosen job id's ALREADY_EXISTS,
  cancel of a final job as FAILED_PRECONDITION; faults injected per method (`fail`), including a create that lands
  and still reports a failure (`land_then_fail`). Lists leave out `jobDetail`, as Vertex AI's do ("Not available in
  the list view", v1 `PipelineJob.job_detail`).
- `FakeStore` (ClaimStore, RunRecords, PollStore): documents with versions, every conditional write checked against
  the version it was read at, so a concurrent writer (`before_write`) makes an optimistic write re-read and
  re-apply, exactly as Firestore's preconditions do.
- `FakePublisher` (EventPublisher): what was published; `failing` makes publishes fail (nothing delivered).
- `FakeLogs` (LogReader): the same entries for every read, the filters asked, reads counted.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from polysync_vertex.core import kinds, runs
from polysync_vertex.core.errors import UpstreamError
from polysync_vertex.core.events import Message
from polysync_vertex.core.kinds import JobKind
from polysync_vertex.ports import Claim

T = TypeVar("T")
_TERM = re.compile(r'^(?P<field>[\w.-]+)\s*(?P<op>>=|=)\s*"(?P<value>[^"]*)"$')


def _now() -> str:
    return runs.iso(datetime.now(UTC))


def _field(job: dict[str, Any], name: str) -> str:
    if name.startswith("labels."):
        return str((job.get("labels") or {}).get(name[len("labels.") :], "\0"))
    camel = {"state": "state", "update_time": "updateTime", "create_time": "createTime"}[name]
    return str(job.get(camel) or "")


def matches(job: dict[str, Any], filter_: str) -> bool:
    """The connector's filters: ANDs of (ORs of) `field="value"` / `field>="value"` terms."""
    if not filter_:
        return True
    for conjunct in filter_.split(" AND "):
        terms = [_TERM.match(t.strip()) for t in conjunct.strip().strip("()").split(" OR ")]
        if any(t is None for t in terms):
            raise UpstreamError("INVALID_ARGUMENT", f"unsupported filter {filter_!r}", method="List")
        if not any(
            (_field(job, t["field"]) >= t["value"]) if t["op"] == ">=" else _field(job, t["field"]) == t["value"]
            for t in terms
            if t is not None
        ):
            return False
    return True


class FakeVertex:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.faults: dict[str, list[str]] = {}
        self.landing: list[str] = []
        self._ids = itertools.count(1000)

    # -- test controls -------------------------------------------------------------------------------------
    def fail(self, method: str, *codes: str) -> None:
        """The next calls of `method` (create, get, cancel, list_page, find_by_label) fail with these codes."""
        self.faults.setdefault(method, []).extend(codes)

    def land_then_fail(self, code: str) -> None:
        """The next create makes its job and still answers `code` (an ambiguous create)."""
        self.landing.append(code)

    def add(self, kind: JobKind, parent: str, job: dict[str, Any], job_id: str | None = None) -> dict[str, Any]:
        """A job created outside the service (an orphan: a late create of an earlier attempt)."""
        name = kind.resource_name(parent, job_id or str(next(self._ids)))
        stamp = _now()
        stored = {**copy.deepcopy(job), "name": name, "createTime": stamp, "updateTime": stamp}
        stored.setdefault("state", kind.states.non_final[0])
        self.jobs[name] = stored
        return copy.deepcopy(stored)

    def set_state(self, name: str, state: str) -> None:
        self.jobs[name].update(state=state, updateTime=_now())

    def _call(self, method: str) -> None:
        self.calls[method] += 1
        pending = self.faults.get(method)
        if pending:
            raise UpstreamError(pending.pop(0), "injected", method=method)

    # -- VertexPort ----------------------------------------------------------------------------------------
    def create(
        self,
        parent: str,
        job: dict[str, Any],
        deadline: float,
        *,
        kind: JobKind = kinds.DEFAULT,
        job_id: str | None = None,
        retry: bool = False,
    ) -> dict[str, Any]:
        self._call("create")
        if job_id is not None and kind.resource_name(parent, job_id) in self.jobs:
            raise UpstreamError("ALREADY_EXISTS", "exists", method="create")
        created = self.add(kind, parent, job, job_id)
        if self.landing:
            raise UpstreamError(self.landing.pop(0), "the outcome is unknown", method="create")
        return created

    def get(self, name: str, deadline: float) -> dict[str, Any]:
        self._call("get")
        if name not in self.jobs:
            raise UpstreamError("NOT_FOUND", f"{name} not found", method="get")
        return copy.deepcopy(self.jobs[name])

    def cancel(self, name: str, deadline: float) -> None:
        self._call("cancel")
        job = self.jobs.get(name)
        if job is None:
            raise UpstreamError("NOT_FOUND", f"{name} not found", method="cancel")
        kind = kinds.parse_run_name(name, "name")[0]
        if job["state"] in kind.states.final:
            raise UpstreamError("FAILED_PRECONDITION", "already ended", method="cancel")
        self.set_state(name, kind.states.cancelling)

    def list_page(
        self,
        parent: str,
        deadline: float,
        *,
        kind: JobKind = kinds.DEFAULT,
        filter: str = "",
        page_size: int = 100,
        page_token: str = "",
        read_mask: tuple[str, ...] = (),
        order_by: str = "",
    ) -> tuple[list[dict[str, Any]], str]:
        self._call("list_page")
        prefix = f"{parent}/{kind.collection}/"
        found = [
            {k: copy.deepcopy(v) for k, v in j.items() if k != "jobDetail"}
            for n, j in sorted(self.jobs.items())
            if n.startswith(prefix) and matches(j, filter)
        ]
        start = int(page_token or 0)
        end = start + page_size
        return found[start:end], (str(end) if end < len(found) else "")

    def find_by_label(
        self, parent: str, key: str, value: str, deadline: float, *, kind: JobKind = kinds.DEFAULT
    ) -> dict[str, Any] | None:
        self._call("find_by_label")
        jobs, _ = self.list_page(parent, deadline, kind=kind, filter=f'labels.{key}="{value}"')
        self.calls["list_page"] -= 1
        return jobs[0] if jobs else None

    def accelerator_types(self) -> frozenset[str]:
        return frozenset({"NVIDIA_TESLA_T4"})


Doc = tuple[dict[str, Any], int]  # (data, version)


class FakeStore:
    def __init__(self) -> None:
        self.requests: dict[str, Doc] = {}
        self.runs: dict[str, Doc] = {}
        self.index: dict[str, Doc] = {}
        self.polls: dict[str, str] = {}
        self.leases: dict[str, Doc] = {}
        self.counts: Counter[str] = Counter()
        # Called before each conditional run write, with the document id: a test's concurrent writer.
        self.before_write: Callable[[str], None] = lambda doc_id: None
        self._versions = itertools.count(1)

    def _put(self, table: dict[str, Doc], key: str, data: dict[str, Any]) -> int:
        version = next(self._versions)
        table[key] = (copy.deepcopy(data), version)
        self.counts["writes"] += 1
        return version

    def _read(self, table: dict[str, Doc], key: str) -> Doc | None:
        self.counts["reads"] += 1
        doc = table.get(key)
        return (copy.deepcopy(doc[0]), doc[1]) if doc is not None else None

    # -- ClaimStore ----------------------------------------------------------------------------------------
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
        if key not in self.requests:
            record = {
                "requestId": request_id,
                "fingerprint": fingerprint,
                "phase": "creating",
                "leaseUntil": lease_until,
                "runId": None,
                "attempt": 1,
                "parent": parent,
                "collection": collection,
                "outputNames": list(output_names),
                # A Custom Job's outputs file (core/outputs.py), for a run adopted from a late create.
                "outputsFile": outputs_file,
            }
            self._put(self.requests, key, record)
            return Claim("new", record)
        existing, _ = self._read(self.requests, key) or ({}, 0)
        if existing.get("fingerprint") != fingerprint:
            return Claim("conflict", existing)
        if existing.get("phase") == "done":
            return Claim("done", existing)
        if float(existing.get("leaseUntil", 0)) > now:
            return Claim("busy", existing)
        self._put(self.requests, key, {**existing, "leaseUntil": lease_until, "attempt": existing["attempt"] + 1})
        return Claim("takeover", existing)

    def release(self, key: str) -> None:
        self.counts["writes"] += 1
        self.requests.pop(key, None)

    def complete(self, key: str, run: dict[str, Any], doc_id: str, *, watch_until: float = 0.0) -> dict[str, Any]:
        request = self.requests.get(key, ({}, 0))[0]
        done = {
            **request,
            "phase": "done",
            "runId": run["runId"],
            **({"watchUntil": watch_until} if watch_until else {}),
        }
        self._put(self.requests, key, done)
        if doc_id in self.runs:
            return copy.deepcopy(self.runs[doc_id][0])  # an existing run wins
        self._put(self.runs, doc_id, run)
        return copy.deepcopy(run)

    def get_run(self, doc_id: str) -> dict[str, Any] | None:
        doc = self._read(self.runs, doc_id)
        return doc[0] if doc is not None else None

    # -- RunRecords ----------------------------------------------------------------------------------------
    def update_run(
        self, doc_id: str, mutate: Callable[[dict[str, Any]], T | None], attempts: int = 10
    ) -> tuple[T | None, dict[str, Any] | None]:
        for _ in range(attempts):
            doc = self._read(self.runs, doc_id)
            if doc is None:
                return None, None
            data, version = doc
            result = mutate(data)
            if result is None:
                return None, data
            self.before_write(doc_id)
            if self.runs[doc_id][1] != version:
                self.counts["refused"] += 1
                continue  # the precondition failed: read again and re-apply
            self._put(self.runs, doc_id, data)
            return result, copy.deepcopy(data)
        raise RuntimeError(f"run {doc_id} kept changing")

    def last_polled(self, project: str, location: str) -> str | None:
        return self.polls.get(f"{project}~{location}")

    # -- PollStore -----------------------------------------------------------------------------------------
    def get_runs(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {d: run for d in doc_ids if (run := self.get_run(d)) is not None}

    def update_runs(
        self, items: list[tuple[str, Callable[[dict[str, Any]], T | None]]]
    ) -> list[tuple[T | None, dict[str, Any] | None]]:
        return [self.update_run(doc_id, mutate) for doc_id, mutate in items]

    def get_index_docs(self, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], Any]]:
        return {d: doc for d in doc_ids if (doc := self._read(self.index, d)) is not None}

    def put_index_doc(self, doc_id: str, data: dict[str, Any], version: Any) -> bool:
        current = self.index.get(doc_id)
        if version is None and current is not None:
            return False
        if version not in (None, "any") and (current is None or current[1] != version):
            return False
        self._put(self.index, doc_id, data)
        return True

    def active_runs(self, shard_range: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]:
        lo, hi = shard_range or (0, 10**9)
        for doc_id in list(self.runs):
            run = self.get_run(doc_id)
            if run is not None and run.get("active") and lo <= int(run.get("shard", 0)) < hi:
                yield run

    def runs_recorded_since(self, since: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.active_runs() if r["recordedAt"] >= since)

    def mark_polled(self, project: str, location: str, when: str) -> None:
        self.polls[f"{project}~{location}"] = when

    def count_active(self) -> int:
        return sum(1 for doc, _ in self.runs.values() if doc.get("active"))

    def take_lease(self, scope: str, holder: str, until: float, now: float) -> bool:
        """As the Firestore adapter: create if absent, else update at the version read, only once `until` passed;
        `before_write` runs between the read and the write (a racing invocation)."""
        key = f"lease~{scope}"
        doc = self._read(self.leases, key)
        if doc is not None and float(doc[0].get("until") or 0) > now:
            return False
        self.before_write(key)
        current = self.leases.get(key)
        if (current is None) != (doc is None) or (current is not None and doc is not None and current[1] != doc[1]):
            self.counts["refused"] += 1
            return False
        self._put(self.leases, key, {"holder": holder, "until": until})
        return True

    def get_request(self, key: str) -> dict[str, Any] | None:
        doc = self._read(self.requests, key)
        return doc[0] if doc is not None else None

    def adopt(self, key: str, run: dict[str, Any], doc_id: str) -> dict[str, Any] | None:
        existing = self.get_request(key)
        if existing is not None and existing.get("runId") not in (None, run["runId"]):
            return None
        if doc_id in self.runs:
            return self.get_run(doc_id)
        self._put(self.runs, doc_id, run)
        done = {"phase": "done", "runId": run["runId"], "requestId": run["requestId"]}
        record = {**(existing or {"fingerprint": None, "leaseUntil": 0, "attempt": 0, "adopted": True}), **done}
        self._put(self.requests, key, record)
        return copy.deepcopy(run)

    def stranded_requests(self, now: float, max_age: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for key, (data, _) in self.requests.items():
            creating = data.get("phase") == "creating" and now - max_age <= float(data.get("leaseUntil") or 0) < now
            watched = float(data.get("watchUntil") or 0) > now
            if (creating or watched) and data.get("parent"):
                found.append((key, copy.deepcopy(data)))
        return found[:limit]


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[Message] = []
        self.plain: list[dict[str, str]] = []
        self.failing = False

    def publish(self, topic: str, messages: list[Message]) -> set[str]:
        if self.failing:
            return set()
        self.published.extend(messages)
        return {m.ce_id for m in messages}

    def publish_plain(self, topic: str, data: bytes, **attributes: str) -> None:
        self.plain.append(attributes)

    def ce_ids(self) -> list[str]:
        return [m.ce_id for m in self.published]


class FakeLogs:
    def __init__(self, entries: list[dict[str, Any]] | None = None) -> None:
        self.entries = entries or []
        self.calls: Counter[str] = Counter()
        self.filters: list[str] = []
        self.page_tokens: list[str] = []  # the page_token of each call
        self.next_token = ""  # what each call answers as its next page token

    def list_entries(self, projects: list[str], filter: str, deadline: float, **kw: Any) -> tuple[list[Any], str]:
        self.calls["list_entries"] += 1
        self.filters.append(filter)
        self.page_tokens.append(str(kw.get("page_token") or ""))
        return copy.deepcopy(self.entries), self.next_token


class FakeProbes:
    """`Probes` for unit tests of health's decisions: every permission held, Firestore answering, and hints sinks
    answered from `sinks` (project -> (ok, detail); a project not in it: the sink is missing)."""

    def __init__(self) -> None:
        self.sinks: dict[str, tuple[bool | None, str]] = {}
        self.sink_calls: list[tuple[str, str, str]] = []

    def firestore(self, *, timeout: float = 10.0) -> tuple[bool | None, str]:
        return True, "Firestore answers"

    def topic_permissions(
        self, topic: str, permissions: list[str], function: str = "poll", *, timeout: float = 10.0
    ) -> tuple[bool | None, str]:
        return True, f"{function} may publish to {topic}"

    def project_permissions(
        self, project: str, permissions: list[str], function: str, *, timeout: float = 10.0
    ) -> tuple[bool | None, str]:
        return True, f"{function} holds its permissions in {project}"

    def hint_sink(self, project: str, sink: str, topic: str, *, timeout: float = 10.0) -> tuple[bool | None, str]:
        self.sink_calls.append((project, sink, topic))
        return self.sinks.get(project, (False, f"hints sink projects/{project}/sinks/{sink} does not exist"))
