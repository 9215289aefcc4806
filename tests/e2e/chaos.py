"""Chaos run: the whole local stack under faults, with the contract's guarantees checked at the end.

    python -m tests.e2e.chaos --runs 200 --clients 16      # the full size, by hand (a few minutes)

`tests/e2e/test_chaos.py` runs a reduced size in CI. Runs are submitted by concurrent clients, every request is sent
1-3 times (some copies concurrently), each run's job follows a short `VERTEX_EMULATOR_SCENARIO` ending SUCCEEDED or
FAILED, and some runs are cancelled through the cancel function while RUNNING. Meanwhile, all at once:

- Vertex AI: the emulator fails ~20% of calls (503 UNAVAILABLE and 429 RESOURCE_EXHAUSTED, about half each), slows
  down others (0.3 s, 2.5 s), and holds a few CreateCustomJob calls longer than the connector's request budget:
  the connector's client times out while the emulator still creates the job (the ambiguous create).
- Pub/Sub: both pollers reach the Pub/Sub emulator through a TCP proxy (the network between the functions and
  Pub/Sub). It cuts every open connection every few seconds, so publishes in flight fail and are retried by the
  client library (which can duplicate messages), and for one window longer than the connector's publish timeout
  (30 s) it refuses every connection, so publishes fail for good and the events wait in the run's outbox.
  Deleting the topic was rejected: it detaches the subscription and loses the events, which no connector can
  prevent; an unreachable Pub/Sub is what functions really meet.
- Two pollers overlap: the stack's poll (ticked by its scheduler through the Eventarc stand-in) and a second
  functions-framework poll instance ticked by this module, each its own process.
- submit is SIGKILLed (its whole process group) while requests are in flight and restarted on the same port;
  clients retry connection errors, 429 and 5xx, as Polysync does.

The stack runs in this process (`LocalStack`, not `polysync-vertex dev`) so that its submit and poll processes can
be killed and restarted on their own ports with their own environment. Invariants checked at the end (and printed
as one summary line): exactly one Vertex AI job per requestId; every run recorded with its job's true final state;
every state change published in order per run (first arrivals, duplicates dropped, sequences 2..final); one
`ce-id` per change (copies carry the same data); no job without a record; exactly one terminal `ce-id` per run; and
no published state that goes back in a job's lifecycle.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from polysync_local import processes
from polysync_local.client import Connector, EventReader, Response
from polysync_local.processes import ManagedProcess
from polysync_local.stack import LocalStack, StackConfig
from polysync_vertex.core.jobs import LABEL_MANAGED_BY, LABEL_REQUEST, MANAGED_BY, request_key
from polysync_vertex.core.states import polysync_status
from vertex_emulator.admin import AdminClient

PROJECT, LOCATION = "local-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
STATUS_CHANGED = "com.polysync.vertex.run.status_changed"
IMAGE = "us-docker.pkg.dev/local-project/chaos/trainer:1"
FINAL_STATUSES = frozenset({"Success", "Failed", "Cancelled", "Unknown"})
RETRYABLE = frozenset({0, 429, 500, 502, 503, 504})
EXPECTED_STATE = {"SUCCEEDED": "JOB_STATE_SUCCEEDED", "FAILED": "JOB_STATE_FAILED", "CANCEL": "JOB_STATE_CANCELLED"}
# A job's lifecycle order; a published state may never go back in it.
STATE_RANK = {
    "JOB_STATE_PENDING": 1,
    "JOB_STATE_QUEUED": 2,
    "JOB_STATE_RUNNING": 3,
    "JOB_STATE_CANCELLING": 4,
}
PUBLISH_TIMEOUT = 30.0  # functions/polysync_vertex/adapters/pubsub.py: a Pub/Sub outage must outlast it to be seen
SAVED_ENV = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")


@dataclass
class ChaosConfig:
    runs: int = 40
    clients: int = 8
    seed: int = 20261122
    time_factor: float = 0.05
    tick_seconds: float = 1.0
    request_budget: float = 10.0  # PSV_REQUEST_BUDGET_SECONDS: leases of killed attempts expire after it + 15 s
    submit_window: float = 20.0  # runs start spread over this many seconds
    vertex_error_ratio: float = 0.2
    create_timeouts: int = 3  # CreateCustomJob calls held longer than the request budget
    kills: int = 2
    outage_seconds: float = 33.0  # Pub/Sub refused for this long (0: no outage), starting a few s into the phase
    deadline: float = 240.0  # every run final and every event drained within this many s after the last submit
    work_dir: Path | None = None
    verbose: bool = False


@dataclass
class Plan:
    index: int
    request_id: str
    outcome: str  # SUCCEEDED | FAILED | CANCEL
    sends: int
    concurrent: bool
    start_at: float  # seconds after the chaos phase starts
    body: dict[str, Any]


@dataclass
class Outcome:
    plan: Plan
    responses: list[Response] = field(default_factory=list)
    cancels: list[Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    run_id: str = ""
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    counts: dict[str, Any]
    violations: list[str]
    seconds: float
    log_dir: Path | None = None

    def summary(self) -> str:
        parts = " ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"chaos: {parts} violations={len(self.violations)} time={self.seconds:.0f}s"


def log(config: ChaosConfig, message: str) -> None:
    if config.verbose:
        print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- plans ---------------------------------------------------------------------------------------------------
def make_plans(config: ChaosConfig, rng: random.Random) -> list[Plan]:
    session = uuid.uuid4().hex[:8]
    plans = []
    for i in range(config.runs):
        roll = rng.random()
        outcome = "SUCCEEDED" if roll < 0.5 else "FAILED" if roll < 0.8 else "CANCEL"
        # Durations are scaled by the time factor (0.05: 20 -> 1 s).
        pending, queued = rng.choice([0, 5, 10, 20]), rng.choice([2, 10, 30])
        if outcome == "CANCEL":
            scenario = f"PENDING:{pending},QUEUED:{queued},RUNNING:6000,SUCCEEDED"
        else:
            scenario = f"PENDING:{pending},QUEUED:{queued},RUNNING:{rng.choice([10, 40, 80, 160])},{outcome}"
        parameters: list[dict[str, Any]] = [
            {"name": "VERTEX_EMULATOR_SCENARIO", "direction": "Input", "type": "String", "value": scenario},
            {"name": "EPOCHS", "direction": "Input", "type": "Number", "value": i},
        ]
        if outcome == "CANCEL" and rng.random() < 0.5:  # CANCELLING lasts 2 s instead of 0.05 s
            parameters.append(
                {"name": "VERTEX_EMULATOR_CANCEL_DELAY", "direction": "Input", "type": "Number", "value": 40}
            )
        request_id = f"chaos-{session}-{i:04d}"
        body = {
            "requestId": request_id,
            "jobName": f"chaos-{outcome.lower()}-{i}",
            "attributes": {"machineType": "n1-standard-4", "containerImageUri": IMAGE},
            "parameters": parameters,
        }
        sends = rng.choice([1, 2, 2, 3])
        start_at = config.submit_window * i / max(1, config.runs) + rng.uniform(0, 0.3)
        plans.append(Plan(i, request_id, outcome, sends, sends > 1 and rng.random() < 0.5, start_at, body))
    return plans


# -- faults: Pub/Sub through a flaky TCP proxy ---------------------------------------------------------------
class FlakyProxy:
    """127.0.0.1 TCP proxy to `upstream` that can cut every open connection and refuse new ones for a while."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.5)
        self.port = int(self.listener.getsockname()[1])
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._down_until = 0.0
        self._threads: list[threading.Thread] = []
        self.accepted = 0
        self.refused = 0
        self.cuts = 0

    def start(self) -> FlakyProxy:
        t = threading.Thread(target=self._accept, name="pubsub-proxy", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if time.monotonic() < self._down_until:
                self.refused += 1
                conn.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            conn.settimeout(None)
            self.accepted += 1
            with self._lock:
                self._conns |= {conn, upstream}
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()

    def cut(self) -> int:
        """Close every open connection (requests in flight are lost, whether or not upstream saw them)."""
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            self._close(s)
        if conns:
            self.cuts += 1
        return len(conns) // 2

    def outage(self, seconds: float) -> None:
        self._down_until = time.monotonic() + seconds
        self.cut()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self.cut()
        for t in self._threads:
            t.join(timeout=2)


# -- the stack's processes -----------------------------------------------------------------------------------
def function_url(stack: LocalStack, name: str) -> str:
    assert stack.ports is not None
    return f"http://127.0.0.1:{stack.ports.functions[name]}/"


def kill_group(proc: ManagedProcess) -> None:
    """SIGKILL the process group at once: requests in flight die with it, as when an instance is lost."""
    if proc.proc is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.proc.wait(timeout=10)
    proc.stop(grace=1)  # anything left in the group


def start_function(
    stack: LocalStack, name: str, cmd: list[str], env: dict[str, str], url: str, log_name: str
) -> ManagedProcess:
    """Start (or restart) a function process under `name` in the stack, so that `stack.stop()` stops it too."""
    proc = ManagedProcess(name, cmd, env=env, log_path=stack.log_dir / log_name)
    stack.processes[name] = proc
    proc.start()
    processes.wait_http(url, proc, timeout=90)
    return proc


def with_port(cmd: list[str], port: int) -> list[str]:
    out = list(cmd)
    out[out.index("--port") + 1] = str(port)
    return out


def post_tick(url: str, subscription: str, timeout: float = 120.0) -> int:
    """One scheduler tick as Eventarc delivers it (binary-mode CloudEvent of a Pub/Sub message)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message_id = uuid.uuid4().hex
    body = {
        "message": {
            "data": base64.b64encode(b"{}").decode(),
            "attributes": {},
            "messageId": message_id,
            "publishTime": now,
        },
        "subscription": subscription,
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": message_id,
            "ce-source": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/chaos-ticks",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-time": now,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


# -- events --------------------------------------------------------------------------------------------------
class EventCollector(threading.Thread):
    """Pulls (and acks) the status subscription as Polysync would, keeping every copy in arrival order."""

    def __init__(self, subscription: str, host: str) -> None:
        super().__init__(name="events", daemon=True)
        self.reader = EventReader(subscription, host)
        self.events: list[dict[str, Any]] = []
        self.last_arrival = time.monotonic()
        self.stop_event = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                batch = self.reader.pull(timeout=1.0, max_messages=500)
            except Exception:  # noqa: BLE001 - unacked messages come again; duplicates are dropped by ce-id
                time.sleep(0.5)
                continue
            if batch:
                with self._lock:
                    self.events.extend(batch)
                    self.last_arrival = time.monotonic()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        with contextlib.suppress(Exception):
            self.reader.close()


# -- the clients ---------------------------------------------------------------------------------------------
class Clients:
    """Polysync's side: signed requests, retried on connection errors, 429 and 5xx, within a deadline."""

    def __init__(self, endpoints: dict[str, Any], config: ChaosConfig) -> None:
        self.connector = Connector.from_endpoints(endpoints, timeout=config.request_budget + 20)
        self.config = config
        self.statuses: Counter[int] = Counter()
        self.in_flight = 0
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], Response], deadline: float, *, submit: bool = False) -> Response:
        attempt = 0
        while True:
            if submit:
                with self._lock:
                    self.in_flight += 1
            try:
                response = fn()
            finally:
                if submit:
                    with self._lock:
                        self.in_flight -= 1
            with self._lock:
                self.statuses[response.status] += 1
            if response.status not in RETRYABLE or time.monotonic() > deadline:
                return response
            delay = min(3.0, random.uniform(0.1, 0.3 * 2**attempt))  # Retry-After capped: impatient clients
            attempt += 1
            time.sleep(delay)

    def submit(self, plan: Plan, deadline: float) -> Response:
        return self.call(lambda: self.connector.submit(plan.body), deadline, submit=True)

    def status(self, run_id: str, deadline: float) -> Response:
        return self.call(lambda: self.connector.status(run_id), deadline)

    def cancel(self, run_id: str, deadline: float) -> Response:
        return self.call(lambda: self.connector.cancel(run_id), deadline)


def run_plan(plan: Plan, clients: Clients, t0: float, rng: random.Random, deadline: float) -> Outcome:
    outcome = Outcome(plan)
    time.sleep(max(0.0, t0 + plan.start_at - time.monotonic()))
    if plan.concurrent:
        results: list[Response] = []
        lock = threading.Lock()

        def send() -> None:
            r = clients.submit(plan, deadline)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=send, daemon=True) for _ in range(plan.sends)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic() + 5))
        outcome.responses = results
    else:
        for n in range(plan.sends):
            if n:
                time.sleep(rng.uniform(0, 1.0))
            outcome.responses.append(clients.submit(plan, deadline))
    ok = [r for r in outcome.responses if r.status in (200, 201)]
    if len(ok) != plan.sends:
        outcome.errors.append(
            f"{plan.request_id}: submit answered {[r.status for r in outcome.responses]} "
            f"{[r.describe_error() for r in outcome.responses if r.status not in (200, 201)]}"
        )
    run_ids = {r.body.get("runId") for r in ok}
    if len(run_ids) > 1:
        outcome.errors.append(f"{plan.request_id}: copies answered different runs {sorted(run_ids)}")
    if not ok:
        return outcome
    outcome.run_id = str(ok[0].body["runId"])
    if plan.outcome == "CANCEL":
        cancel_plan(outcome, clients, rng, deadline)
    return outcome


def cancel_plan(outcome: Outcome, clients: Clients, rng: random.Random, deadline: float) -> None:
    """Wait until the record shows the job RUNNING, then cancel it (once or twice, sometimes concurrently)."""
    run_id = outcome.run_id
    while True:
        status = clients.status(run_id, deadline)
        if status.ok and status.body.get("vertexState") == "JOB_STATE_RUNNING":
            break
        if time.monotonic() > deadline:
            outcome.errors.append(f"{run_id}: never recorded RUNNING before the deadline ({status.body})")
            return
        time.sleep(0.3)
    times = rng.choice([1, 2])
    threads = [
        threading.Thread(target=lambda: outcome.cancels.append(clients.cancel(run_id, deadline)), daemon=True)
        for _ in range(times)
    ]
    for t in threads:
        t.start()
        time.sleep(rng.uniform(0, 0.2))
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + 5))
    bad = [c for c in outcome.cancels if c.status not in (200, 202)]
    if bad or len(outcome.cancels) != times:
        outcome.errors.append(f"{run_id}: cancel answered {[c.status for c in outcome.cancels]}")


# -- the chaos monkey ----------------------------------------------------------------------------------------
class Monkey(threading.Thread):
    """Kills and restarts submit while requests are in flight; cuts Pub/Sub connections; one Pub/Sub outage."""

    def __init__(
        self, stack: LocalStack, clients: Clients, proxy: FlakyProxy, config: ChaosConfig, rng: random.Random
    ) -> None:
        super().__init__(name="monkey", daemon=True)
        self.stack, self.clients, self.proxy, self.config, self.rng = stack, clients, proxy, config, rng
        self.stop_event = threading.Event()
        self.in_flight_at_kill: list[int] = []
        self.errors: list[str] = []
        self.t0 = time.monotonic()

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - reported as a violation
            self.errors.append(f"monkey: {exc!r}")

    def _run(self) -> None:
        cfg = self.config
        kill_at = sorted(cfg.submit_window * (0.2 + 0.6 * k / max(1, cfg.kills)) for k in range(cfg.kills))
        outage_at = min(4.0, cfg.submit_window * 0.2) if cfg.outage_seconds > 0 else None
        next_cut = self.t0 + self.rng.uniform(2, 6)
        while not self.stop_event.wait(0.05):
            now = time.monotonic()
            if outage_at is not None and now - self.t0 >= outage_at:
                outage_at = None
                self.proxy.outage(cfg.outage_seconds)
            if now >= next_cut:
                self.proxy.cut()
                next_cut = now + self.rng.uniform(3, 8)
            if kill_at and now - self.t0 >= kill_at[0]:
                # Wait (briefly) for requests in flight, so the kill lands mid-request.
                waited = time.monotonic() + 5
                while self.clients.in_flight < 2 and time.monotonic() < waited:
                    time.sleep(0.01)
                kill_at.pop(0)
                self._kill_submit()

    def _kill_submit(self) -> None:
        old = self.stack.processes["submit"]
        self.in_flight_at_kill.append(self.clients.in_flight)
        kill_group(old)
        time.sleep(self.rng.uniform(0.5, 1.5))
        assert old.env is not None
        start_function(self.stack, "submit", old.cmd, old.env, function_url(self.stack, "submit"), "submit.log")


# -- invariants ----------------------------------------------------------------------------------------------
def job_client(url: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import JobServiceClient

    return JobServiceClient(transport="rest", client_options={"api_endpoint": url}, credentials=AnonymousCredentials())


def to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(type(message).pb(message))


def check(
    outcomes: list[Outcome],
    events: list[dict[str, Any]],
    vertex_url: str,
    clients: Clients,
    deadline: float,
) -> tuple[dict[str, Any], list[str]]:
    violations: list[str] = []
    client = job_client(vertex_url)
    jobs = [
        to_dict(j)
        for j in client.list_custom_jobs(
            request={"parent": PARENT, "filter": f'labels.{LABEL_MANAGED_BY}="{MANAGED_BY}"', "page_size": 100}
        )
    ]
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        by_key[(job.get("labels") or {}).get(LABEL_REQUEST, "")].append(job)

    # Exactly one job per requestId.
    one_job = 0
    keys = {request_key(o.plan.request_id): o for o in outcomes}
    for key, o in keys.items():
        found = by_key.get(key, [])
        if len(found) == 1:
            one_job += 1
        else:
            violations.append(f"{o.plan.request_id}: {len(found)} jobs {[j['name'] for j in found]}")
    foreign = sorted(set(by_key) - set(keys))
    violations += [f"job(s) of an unknown requestId key {k}: {[j['name'] for j in by_key[k]]}" for k in foreign]

    # No orphan: every managed job has a run record whose runId is that job.
    orphans = 0
    for job in jobs:
        r = clients.status(job["name"], deadline)
        if not (r.status == 200 and r.body.get("runId") == job["name"]):
            orphans += 1
            violations.append(f"orphan job {job['name']}: status answered {r.status} {r.body}")

    # Every run recorded with its job's true final state (and the one the scenario or the cancel asked for).
    true_final = expected = 0
    for o in outcomes:
        if not o.run_id:
            continue
        true_state = to_dict(client.get_custom_job(name=o.run_id)).get("state")
        rec = o.record
        if rec.get("vertexState") == true_state and rec.get("status") == polysync_status(str(true_state)):
            true_final += 1
        else:
            violations.append(
                f"{o.run_id}: recorded {rec.get('status')}/{rec.get('vertexState')}, Vertex AI says {true_state}"
            )
        found = by_key.get(request_key(o.plan.request_id), [])
        if found and found[0]["name"] != o.run_id:
            violations.append(f"{o.plan.request_id}: answered run {o.run_id} but its job is {found[0]['name']}")
        if true_state == EXPECTED_STATE[o.plan.outcome]:
            expected += 1
        else:
            violations.append(f"{o.run_id}: ended {true_state}, the plan was {o.plan.outcome}")

    # Events: per run, in first-arrival order with duplicate ce-ids dropped.
    status_events = [e for e in events if e["attributes"].get("ce-type") == STATUS_CHANGED]
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in status_events:
        by_run[e["attributes"].get("ce-subject", "")].append(e)
    in_order = terminal_once = id_conflicts = regressions = duplicates = 0
    for o in outcomes:
        if not o.run_id:
            continue
        run_id, final_seq = o.run_id, int(o.record.get("sequence") or 0)
        first: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        conflict = False
        for e in by_run.get(run_id, []):
            ce_id = e["attributes"]["ce-id"]
            if ce_id in first:
                duplicates += 1
                if first[ce_id]["data"] != e["data"] or first[ce_id]["attributes"] != e["attributes"]:
                    conflict = True
                continue
            first[ce_id] = e
            order.append(ce_id)
        seqs = [first[c]["data"].get("sequence") for c in order]
        ids_ok = all(c == f"{run_id}/{first[c]['data'].get('sequence')}" for c in order)
        by_seq = Counter(seqs)
        if any(n > 1 for n in by_seq.values()):
            conflict = True  # two different ce-ids for one sequence
        if conflict:
            id_conflicts += 1
            violations.append(f"{run_id}: copies of one change differ or one sequence has two ce-ids")
        chain = all(
            first[b]["data"].get("previousVertexState") == first[a]["data"].get("vertexState")
            for a, b in zip(order, order[1:], strict=False)
        )
        # Sequence 1 is the state recorded at submit: published only when the job had already ended by then.
        expected_seqs = [1] if final_seq == 1 else list(range(2, final_seq + 1))
        if seqs == expected_seqs and ids_ok and chain:
            in_order += 1
        else:
            violations.append(f"{run_id}: sequences in arrival order {seqs}, record at {final_seq}, chain {chain}")
        terminals = [c for c in order if first[c]["data"].get("status") in FINAL_STATUSES]
        if len(terminals) == 1 and terminals[0] == order[-1]:
            terminal_once += 1
        else:
            violations.append(f"{run_id}: terminal ce-ids {terminals} (last {order[-1:] if order else None})")
        states = [first[c]["data"].get("vertexState") for c in order]
        ranks = [STATE_RANK.get(str(s), 9) for s in states]
        if any(b < a for a, b in zip(ranks, ranks[1:], strict=False)):
            regressions += 1
            violations.append(f"{run_id}: published states go back in the lifecycle: {states}")

    counts = {
        "jobs": len(jobs),
        "one_job_per_request": f"{one_job}/{len(outcomes)}",
        "foreign_jobs": sum(len(by_key[k]) for k in foreign),
        "orphans": orphans,
        "true_final": f"{true_final}/{len(outcomes)}",
        "expected_final": f"{expected}/{len(outcomes)}",
        "events": len(status_events),
        "duplicates": duplicates,
        "in_order": f"{in_order}/{len(outcomes)}",
        "ce_id_conflicts": id_conflicts,
        "terminal_once": f"{terminal_once}/{len(outcomes)}",
        "regressions": regressions,
    }
    return counts, violations


# -- the run -------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def saved_environ() -> Iterator[None]:
    """LocalStack and EventReader set PUBSUB_EMULATOR_HOST in this process; put the caller's back afterwards."""
    saved = {k: os.environ.get(k) for k in SAVED_ENV}
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def add_vertex_faults(admin: AdminClient, config: ChaosConfig, seed: int) -> None:
    """~`vertex_error_ratio` of calls fail (503 and 429 half each), some are slow, a few creates time out.

    The emulator applies the first registered fault that fires, so the later ratios are of what is left."""
    if config.create_timeouts:
        # Longer than the whole request budget: the connector's call times out, the emulator then creates the job.
        admin.add_fault(
            method="CreateCustomJob",
            latency_ms=(config.request_budget + 3) * 1000,
            ratio=0.1,
            count=config.create_timeouts,
            seed=seed,
        )
    half = config.vertex_error_ratio / 2
    admin.add_fault(method="*", http_status=503, status="UNAVAILABLE", ratio=half, seed=seed + 1)
    admin.add_fault(method="*", http_status=429, status="RESOURCE_EXHAUSTED", ratio=half / (1 - half), seed=seed + 2)
    admin.add_fault(method="*", latency_ms=2500, ratio=0.03, seed=seed + 3)
    admin.add_fault(method="*", latency_ms=300, ratio=0.15, seed=seed + 4)


def fault_kind(fault: dict[str, Any]) -> str:
    if fault.get("httpStatus"):
        return str(fault["httpStatus"])
    return "timeout" if fault.get("method") == "CreateCustomJob" else "slow"


def takeovers(stack: LocalStack) -> int:
    path = stack.log_dir / "submit.log"
    return path.read_text(errors="replace").count("taking over an unfinished attempt") if path.exists() else 0


def publish_timeouts(stack: LocalStack) -> int:
    """Poll ticks that waited out the publish timeout (Pub/Sub unreachable: their events stayed in the outbox)."""
    total = 0
    for name in ("poll.log", "poll-2.log"):
        path = stack.log_dir / name
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if '"poll tick"' not in line:
                continue
            with contextlib.suppress(ValueError, TypeError):
                if float(json.loads(line).get("seconds", 0)) >= PUBLISH_TIMEOUT:
                    total += 1
    return total


def run(config: ChaosConfig) -> Result:
    started = time.monotonic()
    rng = random.Random(config.seed)
    work = Path(config.work_dir or tempfile.mkdtemp(prefix="polysync-vertex-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PSV_REQUEST_BUDGET_SECONDS": f"{config.request_budget:g}"}
    stack_config = StackConfig(
        endpoints_file=work / "endpoints.json",
        time_factor=config.time_factor,
        tick_seconds=config.tick_seconds,
        log_dir=work / "logs",
        env=env,
    )
    with saved_environ():
        stack = LocalStack(stack_config)
        stop_ticks = threading.Event()
        try:
            endpoints = stack.start()
            log(config, f"stack up after {time.monotonic() - started:.1f}s; logs in {stack.log_dir}")
            return _chaos(config, rng, stack, endpoints, started, stop_ticks)
        finally:
            stop_ticks.set()
            stack.stop()


def _chaos(
    config: ChaosConfig,
    rng: random.Random,
    stack: LocalStack,
    endpoints: dict[str, Any],
    started: float,
    stop_ticks: threading.Event,
) -> Result:
    assert stack.ports is not None
    violations: list[str] = []
    pubsub_port = int(endpoints["pubsubHost"].rsplit(":", 1)[1])
    proxy = FlakyProxy(pubsub_port).start()
    collector = EventCollector(endpoints["statusSubscription"], endpoints["pubsubHost"])
    collector.start()
    try:
        # Both pollers publish through the proxy: restart the stack's poll with it, and start a second one.
        poll = stack.processes["poll"]
        assert poll.env is not None
        poll_env = {**poll.env, "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{proxy.port}"}
        poll.stop(grace=5)
        start_function(stack, "poll", poll.cmd, poll_env, function_url(stack, "poll"), "poll.log")
        second_url = f"http://127.0.0.1:{processes.free_port()}/"
        second_port = int(second_url.rstrip("/").rsplit(":", 1)[1])
        start_function(stack, "poll-2", with_port(poll.cmd, second_port), poll_env, second_url, "poll-2.log")
        ticks = Counter[int]()

        def ticker() -> None:
            subscription = f"projects/{PROJECT}/subscriptions/chaos-second-poller"
            trng = random.Random(config.seed + 3)
            while not stop_ticks.wait(config.tick_seconds * trng.uniform(0.5, 1.0)):
                ticks[post_tick(second_url, subscription)] += 1

        threading.Thread(target=ticker, name="ticker", daemon=True).start()

        admin = AdminClient(endpoints["vertexEndpoint"])
        add_vertex_faults(admin, config, config.seed)
        clients = Clients(endpoints, config)
        plans = make_plans(config, rng)
        t0 = time.monotonic()
        deadline = t0 + config.submit_window + config.deadline
        monkey = Monkey(stack, clients, proxy, config, random.Random(config.seed + 7))
        monkey.t0 = t0
        monkey.start()

        outcomes: list[Outcome] = []
        queue = list(plans)
        lock = threading.Lock()

        def worker(seed: int) -> None:
            wrng = random.Random(seed)
            while True:
                with lock:
                    if not queue:
                        return
                    plan = queue.pop(0)
                try:
                    o = run_plan(plan, clients, t0, wrng, deadline)
                except Exception as exc:  # noqa: BLE001 - a client bug is a violation, not a crash
                    o = Outcome(plan, errors=[f"{plan.request_id}: client raised {exc!r}"])
                with lock:
                    outcomes.append(o)

        workers = [
            threading.Thread(target=worker, args=(config.seed + 100 + i,), daemon=True) for i in range(config.clients)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(max(1.0, deadline - time.monotonic() + 30))
        submitted_at = time.monotonic() - t0
        log(config, f"all submitted after {submitted_at:.1f}s: {dict(clients.statuses)}")
        monkey.stop_event.set()
        monkey.join(timeout=120)
        outcomes.sort(key=lambda o: o.plan.index)
        for o in outcomes:
            violations += o.errors
        violations += monkey.errors
        if len(outcomes) != len(plans):
            violations.append(f"only {len(outcomes)} of {len(plans)} runs came back from the clients")

        # Every run final in its record.
        pending = [o for o in outcomes if o.run_id]
        while pending and time.monotonic() < deadline:
            still = []
            for o in pending:
                r = clients.status(o.run_id, deadline)
                if r.ok and r.body.get("status") in FINAL_STATUSES:
                    o.record = r.body
                else:
                    still.append(o)
            pending = still
            if pending:
                time.sleep(1.0)
        final_at = time.monotonic() - t0
        violations += [f"{o.run_id}: not final by the deadline ({o.record or 'no record'})" for o in pending]
        log(config, f"all final after {final_at:.1f}s; draining events")

        # Drain: every run's terminal ce-id arrived, then quiet for a few seconds (late duplicates).
        wanted = {f"{o.run_id}/{o.record.get('sequence')}" for o in outcomes if o.record}
        quiet = 3.0
        while time.monotonic() < deadline:
            seen = {e["attributes"].get("ce-id") for e in collector.snapshot()}
            if wanted <= seen and time.monotonic() - collector.last_arrival > quiet:
                break
            time.sleep(0.5)
        stop_ticks.set()
        faults = admin.faults()
        admin.clear_faults()
        calls = admin.calls()
        counts, found = check(outcomes, collector.snapshot(), endpoints["vertexEndpoint"], clients, deadline + 60)
        violations += found
        counts = {
            "runs": len(plans),
            "clients": config.clients,
            "sends": sum(p.sends for p in plans),
            "cancels": sum(len(o.cancels) for o in outcomes),
            **counts,
            "vertex_calls": sum(calls.values()),
            "vertex_faults": "/".join(
                f"{k}:{sum(f['hits'] for f in faults if fault_kind(f) == k)}" for k in ("503", "429", "slow", "timeout")
            ),
            "submit_kills": len(monkey.in_flight_at_kill),
            "in_flight_at_kills": "/".join(map(str, monkey.in_flight_at_kill)) or "-",
            "takeovers": takeovers(stack),
            "client_retries": "/".join(f"{k}:{v}" for k, v in sorted(clients.statuses.items()) if k in RETRYABLE)
            or "-",
            "pubsub_cuts": proxy.cuts,
            "pubsub_refused": proxy.refused,
            "publish_timeouts": publish_timeouts(stack),
            "second_poller_ticks": "/".join(f"{k}:{v}" for k, v in sorted(ticks.items())) or "-",
            "final_after": f"{final_at:.0f}s",
        }
        return Result(counts, violations, time.monotonic() - started, stack.log_dir)
    finally:
        stop_ticks.set()
        collector.stop()
        proxy.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seed", type=int, default=ChaosConfig.seed)
    parser.add_argument("--submit-window", type=float, default=None, help="seconds over which runs start")
    parser.add_argument("--outage-seconds", type=float, default=ChaosConfig.outage_seconds)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument(
        "--request-budget", type=float, default=ChaosConfig.request_budget, help="PSV_REQUEST_BUDGET_SECONDS"
    )
    parser.add_argument("--create-timeouts", type=int, default=None, help="creates held past the request budget")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    config = ChaosConfig(
        runs=args.runs,
        clients=args.clients,
        seed=args.seed,
        submit_window=args.submit_window if args.submit_window is not None else max(20.0, args.runs / 3),
        outage_seconds=args.outage_seconds,
        kills=args.kills,
        request_budget=args.request_budget,
        create_timeouts=args.create_timeouts if args.create_timeouts is not None else max(3, args.runs // 25),
        deadline=max(240.0, args.runs * 1.5),
        work_dir=args.work_dir,
        verbose=not args.quiet,
    )
    result = run(config)
    for v in result.violations:
        print(f"VIOLATION {v}")
    if result.violations:
        print(f"function and emulator logs: {result.log_dir}")
    print(result.summary())
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
