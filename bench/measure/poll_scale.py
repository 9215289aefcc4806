"""Poll at scale with realistic Vertex AI latency: N active runs in one location, 1% finishing per tick, the poll
fanned out over poll_shard workers in parallel, as deployed.

    python -m bench.poll_scale --runs 10000 [--ticks 5] [--tick 30] [--inline-max 2001] [--workers K]

Set-up (not measured): N Custom Jobs are created in the Vertex AI emulator (labelled, staying PENDING) and their run
records written to Firestore as submit would have left them. Then the emulator's latency injection is switched on
for every call (LATENCY_MS: list 400 ms, get 150 ms, create 1 s, cancel 300 ms) and K `poll_shard` workers are
started, each the real function under `polysync_local.serve` (gunicorn, one process each, as a Cloud Functions
instance with concurrency 1), each fed by its own Eventarc stand-in (`polysync_local.standins.EventarcForwarder`,
as the local stack's) pulling one shard subscription: Pub/Sub hands the K shard messages of a tick to the K
workers, which poll their shard ranges in parallel.

A tick is the real `poll` service code (`PollService.tick`) called in this process with the shard topic set and
`PSV_POLL_INLINE_MAX` = --inline-max, so N=10,000 fans out to 5 shard ranges and N=30,000 to 15. The first tick
(every scope's first, hence a full scan) is a warm-up, reported apart. Then `--ticks` measured ticks follow at an
interval of --tick seconds (default 60, Cloud Scheduler's as deployed; a tick starts late if the previous one has
not finished). Between two ticks, 1% of the active runs finish (admin setState SUCCEEDED) at uniformly random
moments (spread over the interval, or over the previous tick's wall time when ticks run longer, so every measured
tick follows about 1% of changes). A streaming-pull subscriber on the status topic notes when each finished run's
event arrives. One more tick at the end only collects stragglers.

Event latency at a 60 s tick: the wait for the next tick is scaled from the actual interval between tick starts
(--tick, or longer when a tick ran late) to 60 s; the rest (tick start -> event on the subscription: fan-out, the
shard's walk, recording, publish, delivery) is measured as is:
latency_60 = (next tick start - change) / (next tick start - previous tick start) * 60 + (event - next tick start).
A change that the running tick's walk still caught (it landed before the walk reached its page) has no wait:
latency_60 = event - change. At the default --tick 60 nothing is scaled. A shorter --tick is faster to run but
flatters the p99: a walk then covers a larger share of each interval, so more changes are caught by the walk in
progress, and the wait of those that are not shrinks by twice their page's time into the walk instead of once
(N=30,000 at --tick 30 gave a p99 of 54.8 s on 2026-12-01; docs/benchmarks.md has the --tick 60 figures).

Per tick: Vertex AI calls (the workers' own counters, summed over shards; cross-checked with the emulator's),
Firestore reads and writes (the workers' and the tick's store counters), per-shard wall time (the forwarder's POST:
delivery to answer) and the tick's wall time (tick start to the last shard's answer).
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common import (
    PROJECT,
    SUCCEEDED,
    Stack,
    create_topic,
    diff,
    log,
    new_prefix,
    percentile,
    run_records,
    seed_jobs,
    write_records,
)

# Injected per call, every call of the method (ratio 1.0). No published per-method latency figures of the Vertex AI
# API were found; these are the assumptions (see docs/benchmarks.md).
LATENCY_MS = {"List": 400, "Get": 150, "Create": 1000, "Cancel": 300}
KIND_METHODS = ("CustomJob", "PipelineJob", "BatchPredictionJob")
TICK_60 = 60.0  # the deployed tick the latencies are stated at (Cloud Scheduler's minimum)
CHANGE_RATIO = 0.01


def method_latencies() -> dict[str, int]:
    out: dict[str, int] = {}
    for kind in KIND_METHODS:
        for verb, ms in LATENCY_MS.items():
            out[f"{verb}{kind}{'s' if verb == 'List' else ''}"] = ms
    return out


@dataclass
class Delivery:
    worker: int
    lo: int
    hi: int
    start: float  # monotonic
    end: float
    wall_start: float  # time.time(), to match the worker's summary line
    wall_end: float
    status: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Tick:
    index: int  # 0: warm-up (full scan); 1..: measured; last: stragglers only
    start: float
    end: float = 0.0
    changes_made: int = 0  # setState calls in the interval before this tick
    active: int = 0
    shards: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    emulator_calls: dict[str, int] = field(default_factory=dict)
    tick_firestore: dict[str, int] = field(default_factory=dict)
    worker_cpu: float = 0.0  # CPU seconds the shard workers used during this tick (all of them)
    emulator_cpu: float = 0.0  # CPU seconds of the Vertex AI emulator process during this tick

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def calls(self) -> int:
        return sum(sum(s.get("vertexCalls", {}).values()) for s in self.summaries)

    def calls_by_method(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.summaries:
            for k, v in s.get("vertexCalls", {}).items():
                out[k] = out.get(k, 0) + v
        return out

    def firestore(self, kind: str) -> int:
        return sum(s.get("firestore", {}).get(kind, 0) for s in self.summaries) + self.tick_firestore.get(kind, 0)

    @property
    def slowest_shard(self) -> float:
        return max((d.seconds for d in self.deliveries), default=0.0)

    def injected_seconds(self) -> float:
        """The largest sum of injected latencies over one shard's calls (its calls are sequential)."""
        lat = method_latencies()
        return max(
            (sum(lat.get(k, 0) * v for k, v in s.get("vertexCalls", {}).items()) / 1000 for s in self.summaries),
            default=0.0,
        )

    @property
    def recorded(self) -> int:
        return sum(int(s.get("changes", 0)) for s in self.summaries)


@dataclass
class Result:
    runs: int
    tick: float
    inline_max: int
    workers: int
    seed_seconds: float = 0.0
    start_seconds: float = 0.0
    ticks: list[Tick] = field(default_factory=list)
    latencies_60: list[float] = field(default_factory=list)
    latencies_raw: list[float] = field(default_factory=list)
    changes: int = 0
    missing: int = 0
    failed_deliveries: int = 0
    wall_seconds: float = 0.0
    load_start: float = 0.0
    load_end: float = 0.0

    @property
    def measured(self) -> list[Tick]:
        return [t for t in self.ticks[1:-1]]

    @property
    def shards(self) -> int:
        return max((t.shards for t in self.measured), default=0)

    def p(self, values: list[float], q: float) -> float:
        return percentile(values, q) if values else float("nan")

    def calls_per_tick(self) -> int:
        return round(self.p([float(t.calls) for t in self.measured], 50))

    def line(self) -> str:
        slow = [t.slowest_shard for t in self.measured]
        return (
            f"poll-scale N={self.runs} shards={self.shards} calls_per_tick={self.calls_per_tick()} "
            f"slowest_shard_p99_s={self.p(slow, 99):.1f} event_latency_p99_s={self.p(self.latencies_60, 99):.1f} "
            f"tick_s={TICK_60:g}"
        )

    def detail(self) -> str:
        m = self.measured
        slow = [t.slowest_shard for t in m]
        walls = [t.seconds for t in m]
        shard_all = [d.seconds for t in m for d in t.deliveries]
        reads = [float(t.firestore("reads")) for t in m]
        writes = [float(t.firestore("writes")) for t in m]
        lat = self.latencies_60
        return (
            f"poll-scale-detail N={self.runs} ticks={len(m)} interval_s={self.tick:g} workers={self.workers} "
            f"calls_per_tick_p50={self.p([float(t.calls) for t in m], 50):.0f} "
            f"calls_per_tick_max={max((t.calls for t in m), default=0)} "
            f"finished_per_tick_p50={self.p([float(t.changes_made) for t in m], 50):.0f} "
            f"slowest_shard_p50_s={self.p(slow, 50):.1f} slowest_shard_p99_s={self.p(slow, 99):.1f} "
            f"shard_p50_s={self.p(shard_all, 50):.1f} tick_wall_p50_s={self.p(walls, 50):.1f} "
            f"tick_wall_p99_s={self.p(walls, 99):.1f} firestore_reads_per_tick_p50={self.p(reads, 50):.0f} "
            f"firestore_writes_per_tick_p50={self.p(writes, 50):.0f} "
            f"injected_latency_slowest_shard_p50_s={self.p([t.injected_seconds() for t in m], 50):.1f} "
            f"worker_cpu_per_tick_p50_s={self.p([t.worker_cpu for t in m], 50):.1f} "
            f"emulator_cpu_per_tick_p50_s={self.p([t.emulator_cpu for t in m], 50):.1f} "
            f"event_latency_p50_s={self.p(lat, 50):.1f} event_latency_p99_s={self.p(lat, 99):.1f} "
            f"event_latency_p50_ticks={self.p(lat, 50) / TICK_60:.2f} "
            f"event_latency_p99_ticks={self.p(lat, 99) / TICK_60:.2f} "
            f"events={len(lat)}/{self.changes} missing={self.missing} load={self.load_start:.1f}/{self.load_end:.1f} "
            f"wall_min={self.wall_seconds / 60:.1f}"
        )


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group `pgid` (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state ppid pgrp ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def latency_at_60(ticks: list[Tick], changed: float, received: float) -> float | None:
    """A change's event latency as at a 60 s tick (see the module doc).

    The tick running when the change landed (started before it) caught it if the event came while that tick was
    still at work: then there was no wait. Otherwise the first tick that started after the change published it,
    and the wait for that tick is scaled from the actual interval between the two tick starts to 60 s."""
    before = [t for t in ticks if t.start <= changed]
    after = [t for t in ticks if t.start > changed]
    if before and received <= before[-1].end + 1.0:
        return received - changed
    if not after:
        return None
    nxt = after[0]
    prev_start = before[-1].start if before else nxt.start - TICK_60
    phase = (nxt.start - changed) / max(1e-6, nxt.start - prev_start)
    return phase * TICK_60 + (received - nxt.start)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _summaries(log_path: Path) -> list[dict[str, Any]]:
    out = []
    if not log_path.exists():
        return out
    for line in log_path.read_text(errors="replace").splitlines():
        if '"poll tick"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "poll tick":
            out.append(entry)
    return out


def run(
    stack: Stack,
    runs: int,
    *,
    ticks: int = 5,
    tick: float = 30.0,
    inline_max: int = 2001,
    workers: int | None = None,
    seed: int = 7,
) -> Result:
    from google.cloud import pubsub_v1

    from polysync_local.processes import ManagedProcess, wait_http
    from polysync_local.stack import function_command
    from polysync_local.standins import EventarcForwarder
    from polysync_vertex import bootstrap
    from polysync_vertex.config import Settings

    began = time.monotonic()
    vertex_proc = getattr(stack.started.get("vertex"), "process", None)
    vertex_pgid = int(getattr(vertex_proc, "pid", 0) or 0)
    shards_expected = math.ceil(runs / inline_max)
    workers = workers or shards_expected
    result = Result(runs=runs, tick=tick, inline_max=inline_max, workers=workers, load_start=os.getloadavg()[0])
    admin = stack.admin()
    admin.reset()
    admin.clear_faults()
    prefix = new_prefix(f"scale{runs}")
    shard_topic_id = f"{prefix}shard"
    status_sub = create_topic(f"{prefix}status", subscription=True)
    assert status_sub is not None
    publisher_client = pubsub_v1.PublisherClient()
    shard_topic = f"projects/{PROJECT}/topics/{shard_topic_id}"
    shard_sub = f"projects/{PROJECT}/subscriptions/{shard_topic_id}-eventarc"
    publisher_client.create_topic(name=shard_topic)
    setup_sub = pubsub_v1.SubscriberClient()
    setup_sub.create_subscription(request={"name": shard_sub, "topic": shard_topic, "ack_deadline_seconds": 600})
    setup_sub.close()

    # -- seed (not measured) ---------------------------------------------------------------------------------
    t0 = time.monotonic()
    jobs = seed_jobs(stack.vertex_host, runs, prefix.rstrip("-"), threads=8)
    log(f"poll-scale N={runs}: {runs} jobs created in {time.monotonic() - t0:.0f}s")
    env = stack.env(prefix, PSV_SHARD_TOPIC=shard_topic_id, PSV_POLL_INLINE_MAX=str(inline_max))
    app = bootstrap.build(Settings.from_env(env))
    records = run_records(jobs)
    write_records(app, records, threads=6)
    result.seed_seconds = time.monotonic() - t0
    log(f"poll-scale N={runs}: seeded in {result.seed_seconds:.0f}s")

    # -- latency on, workers up ------------------------------------------------------------------------------
    for method, ms in method_latencies().items():
        admin.add_fault(method=method, latency_ms=ms, ratio=1.0)
    t0 = time.monotonic()
    procs: list[ManagedProcess] = []
    urls: list[str] = []
    log_dir = Path(f"/tmp/{prefix}workers")
    log_dir.mkdir(parents=True, exist_ok=True)
    worker_env = {**env, "PSV_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    worker_env = {**{k: v for k, v in os.environ.items() if not k.startswith("PSV_")}, **worker_env}
    stop = threading.Event()
    forwarders: list[Any] = []
    subscribers: list[Any] = []
    deliveries: list[Delivery] = []
    lock = threading.Lock()

    class TimedForwarder(EventarcForwarder):  # type: ignore[misc]
        def __init__(self, worker: int, *args: Any) -> None:
            super().__init__(*args)
            self.worker = worker

        def post(self, message: Any) -> int:
            attrs = dict(message.attributes)
            w0, m0 = time.time(), time.monotonic()
            status = super().post(message)
            with lock:
                deliveries.append(
                    Delivery(
                        self.worker,
                        int(attrs.get("shardLo", -1)),
                        int(attrs.get("shardHi", -1)),
                        m0,
                        time.monotonic(),
                        w0,
                        time.time(),
                        status,
                    )
                )
            return status

    received: dict[str, float] = {}
    status_client = pubsub_v1.SubscriberClient()
    finished_state = SUCCEEDED["custom"]

    def on_message(message: Any) -> None:
        now = time.monotonic()
        try:
            data = json.loads(message.data)
        except ValueError:
            data = {}
        if data.get("vertexState") == finished_state:
            with lock:
                received.setdefault(message.attributes.get("ce-subject", ""), now)
        message.ack()

    stream = None
    changed_at: dict[str, float] = {}
    try:
        for i in range(workers):
            port = _free_port()
            proc = ManagedProcess(
                f"poll_shard-{i}",
                function_command("poll_shard", port),
                env=worker_env,
                log_path=log_dir / f"worker-{i}.log",
            )
            procs.append(proc.start())
            urls.append(f"http://127.0.0.1:{port}/")
        for proc, url in zip(procs, urls, strict=True):
            wait_http(url, proc, 180.0)
        for i, url in enumerate(urls):
            sub = pubsub_v1.SubscriberClient()
            subscribers.append(sub)
            fwd = TimedForwarder(i, sub, shard_sub, shard_topic, url, stop)
            forwarders.append(fwd)
            fwd.start()
        stream = status_client.subscribe(status_sub, callback=on_message)
        result.start_seconds = time.monotonic() - t0
        log(f"poll-scale N={runs}: {workers} poll_shard workers up in {result.start_seconds:.0f}s")

        active = [r["runId"] for _, r in records]
        rng = random.Random(seed)
        rng.shuffle(active)

        def one_tick(index: int, changes_made: int) -> Tick:
            t = Tick(index=index, start=time.monotonic(), changes_made=changes_made, active=len(active))
            v0, f0 = admin.calls(), dict(app.store.counts)
            c0 = sum(group_cpu_seconds(p.pid) for p in procs)
            e0 = group_cpu_seconds(vertex_pgid) if vertex_pgid else 0.0
            with lock:
                before = len(deliveries)
            summary = app.poll.tick(published=None)
            t.tick_firestore = diff(dict(app.store.counts), f0)
            t.shards = int(summary.get("fannedOut", 0)) or 1
            if not summary.get("fannedOut"):
                raise RuntimeError(f"the tick did not fan out: {summary}")
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                with lock:
                    done = [d for d in deliveries[before:] if 200 <= d.status < 300]
                    failed = [d for d in deliveries[before:] if not 200 <= d.status < 300]
                if len(done) >= t.shards:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"tick {index}: only {len(done)}/{t.shards} shards answered in 900 s")
            t.end = max(d.end for d in done)
            t.deliveries = done
            result.failed_deliveries += len(failed)
            t.emulator_calls = diff(admin.calls(), v0)
            t.worker_cpu = sum(group_cpu_seconds(p.pid) for p in procs) - c0
            t.emulator_cpu = (group_cpu_seconds(vertex_pgid) if vertex_pgid else 0.0) - e0
            log(
                f"  tick {index}: {t.shards} shards, slowest {t.slowest_shard:.1f}s, wall {t.seconds:.1f}s, "
                f"emulator calls {sum(t.emulator_calls.values())} {t.emulator_calls}, CPU s: workers "
                f"{t.worker_cpu:.1f}, Vertex AI emulator {t.emulator_cpu:.1f}, load {os.getloadavg()[0]:.1f}"
            )
            return t

        # Warm-up: every shard range's first tick is a full scan (reads all its runs, writes the index).
        result.ticks.append(one_tick(0, 0))

        # Measured ticks at the interval; the changes are made by another thread at random moments in
        # between (also while a tick's shards are walking, as in production).
        made: dict[int, int] = {}

        def changer(k: int, base: float, length: float) -> None:
            """Interval k (between tick k-1's start and tick k's): 1% of the active runs finish at uniformly random
            moments within [base, base + length)."""
            count = max(1, round(CHANGE_RATIO * len(active)))
            for offset in sorted(rng.uniform(0, length) for _ in range(count)):
                if stop.wait(max(0.0, base + offset - time.monotonic())):
                    return
                name = active.pop()
                t_before = time.monotonic()
                admin.set_state(name, finished_state)
                with lock:
                    changed_at[name] = (t_before + time.monotonic()) / 2
                    made[k] = made.get(k, 0) + 1

        def start_changes(k: int, length: float) -> tuple[threading.Thread, float]:
            base = time.monotonic()
            thread = threading.Thread(target=changer, args=(k, base, length), name=f"changer-{k}", daemon=True)
            thread.start()
            return thread, base + length

        # Each interval's changes are spread over the interval, or over the previous tick's wall time
        # (+2 s) when ticks run longer, so that every measured tick follows about 1% of changes; tick k starts
        # when interval k is over and tick k-1 has finished.
        pending, due = start_changes(1, tick)
        last_wall = 0.0
        for k in range(1, ticks + 2):
            time.sleep(max(0.0, due - time.monotonic()))
            if pending is not None:
                pending.join(timeout=300)
                pending = None
            if k + 1 <= ticks:
                pending, due = start_changes(k + 1, max(tick, last_wall + 2.0))
            else:
                due = time.monotonic() + tick
            current = one_tick(k, 0)
            last_wall = current.seconds
            result.ticks.append(current)
        for t in result.ticks[1:]:
            t.changes_made = made.get(t.index, 0)
        # Stragglers: wait a little for the last events.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len([n for n in changed_at if n in received]) >= len(changed_at):
                    break
            time.sleep(0.2)
    finally:
        stop.set()
        if stream is not None:
            stream.cancel()
        for f in forwarders:
            f.join(timeout=10)
        for s in subscribers:
            s.close()
        status_client.close()
        for proc in procs:
            proc.stop()
        admin.clear_faults()

    # -- collate ---------------------------------------------------------------------------------------------
    summaries = [(i, s) for i in range(workers) for s in _summaries(log_dir / f"worker-{i}.log")]
    for t in result.ticks:
        for d in t.deliveries:
            match = [
                s
                for w, s in summaries
                if w == d.worker
                and s.get("shardRange") == [d.lo, d.hi]
                and d.wall_start - 0.5 <= float(s.get("time", 0)) <= d.wall_end + 0.5
            ]
            if match:
                t.summaries.append(match[0])
    for name, c in changed_at.items():
        r = received.get(name)
        if r is None:
            result.missing += 1
            continue
        result.latencies_raw.append(r - c)
        latency = latency_at_60(result.ticks, c, r)
        if latency is not None:
            result.latencies_60.append(latency)
    result.changes = len(changed_at)
    result.wall_seconds = time.monotonic() - began
    result.load_end = os.getloadavg()[0]
    for t in result.ticks:
        if len(t.summaries) != len(t.deliveries):
            log(f"  tick {t.index}: matched {len(t.summaries)}/{len(t.deliveries)} worker summaries")
    print(result.detail(), flush=True)
    print(result.line(), flush=True)
    return result
