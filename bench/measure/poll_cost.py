"""Poll cost: one poll cycle over N active runs with k changed, our list-based poller against per-job GETs.

    python -m bench.poll_cost --runs 1000 --changed 10 [--repeats 3] [--kind custom|pipeline|batch]

For each case: N jobs are created in the Vertex AI emulator (label `managed-by=polysync-vertex`, staying PENDING)
and N matching run records are written to Firestore, as submit would have left them. A warm-up tick (nothing
changed) follows. Then, per repetition and per strategy (order alternating), k other runs are moved to
SUCCEEDED in the emulator, one cycle runs, and the k runs are put back (job to PENDING, record rewritten), so
every cycle sees the same N and k. All k changes are finishes: the worst case for our poller, which must read
the final state of each job that left the non-final list (list calls filtered by an OR of up to FINISHED_BATCH
request labels, a GET only for any such a call misses). Vertex AI calls are counted by the emulator (server side),
Firestore reads and writes by the connector's store.

`--kind pipeline` seeds Pipeline Jobs, whose ticks between full scans walk only the jobs with
`update_time >= previous tick - 2 min` (so a cycle also lists the jobs the previous cycles changed and put back
within that margin); `--kind batch` seeds Batch Prediction Jobs (the same non-final walk as Custom Jobs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from polysync_vertex.core import runs as run_model
from polysync_vertex.services.poll import UPDATE_TIME_MARGIN_SECONDS

from ..baseline import per_job_poll
from ..common import (
    PENDING,
    SUCCEEDED,
    Stack,
    Timings,
    create_topic,
    diff,
    log,
    median,
    new_prefix,
    run_records,
    seed_jobs,
    set_states,
    write_records,
)


@dataclass
class Cycle:
    strategy: str
    vertex: dict[str, int]
    firestore: dict[str, int]
    seconds: float
    changes: int
    published: int
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return sum(self.vertex.values())


@dataclass
class Case:
    runs: int
    changed: int
    kind: str = "custom"
    seed_seconds: float = 0.0
    cycles: list[Cycle] = field(default_factory=list)

    def of(self, strategy: str) -> list[Cycle]:
        return [c for c in self.cycles if c.strategy == strategy]

    @property
    def has_baseline(self) -> bool:
        return bool(self.of("per-job"))

    def calls(self, strategy: str) -> int:
        if strategy == "per-job" and not self.has_baseline:
            return self.runs  # not run: one GET per active run by construction
        return int(median(c.calls for c in self.of(strategy)))

    def method(self, strategy: str, method: str) -> int:
        return int(median(c.vertex.get(method, 0) for c in self.of(strategy)))

    def reads(self, strategy: str) -> int:
        return int(median(c.firestore.get("reads", 0) for c in self.of(strategy)))

    def writes(self, strategy: str) -> int:
        return int(median(c.firestore.get("writes", 0) for c in self.of(strategy)))

    def seconds(self, strategy: str) -> float:
        return median(c.seconds for c in self.of(strategy))

    def phase(self, strategy: str, name: str) -> float:
        return median(c.phases.get(name, 0.0) for c in self.of(strategy))

    def line(self) -> str:
        kind = "" if self.kind == "custom" else f" kind={self.kind}"
        return (
            f"poll-cost{kind} N={self.runs} changed={self.changed} calls={self.calls('ours')} "
            f"baseline_calls={self.calls('per-job')} firestore_reads={self.reads('ours')} "
            f"seconds={self.seconds('ours'):.3f}"
        )


def run_case(
    stack: Stack, runs: int, changed: int, repeats: int, kind: str = "custom", *, baseline: bool = True
) -> Case:
    admin = stack.admin()
    admin.reset()  # an empty emulator per case: list cost depends only on this case's jobs
    prefix = new_prefix(f"poll{kind[0]}{runs}")
    app = stack.build_app(prefix)
    create_topic(f"{prefix}status", subscription=False)
    case = Case(runs=runs, changed=changed, kind=kind)
    timings = Timings()
    timings.wrap_iter(app.store, "active_runs", "firestore query")
    timings.wrap_iter(app.store, "runs_recorded_since", "firestore query")
    timings.wrap(app.store, "update_run", "record transactions")
    timings.wrap(app.vertex, "list_page", "Vertex AI calls")
    timings.wrap(app.vertex, "get", "Vertex AI calls")
    timings.wrap(app.publisher, "publish", "publish")

    started = time.monotonic()
    records = run_records(seed_jobs(stack.vertex_host, runs, prefix.rstrip("-"), kind=kind))
    write_records(app, records)
    case.seed_seconds = time.monotonic() - started
    log(f"poll-cost {kind} N={runs}: seeded in {case.seed_seconds:.1f}s")
    if kind == "pipeline":
        # A Pipeline Job tick walks the jobs updated since the previous tick minus UPDATE_TIME_MARGIN_SECONDS: in a
        # steady state the active jobs were created long before. Wait until the seeded ones are that old.
        wait = UPDATE_TIME_MARGIN_SECONDS + 5 - (time.monotonic() - started - case.seed_seconds)
        log(f"  waiting {wait:.0f}s until the seeded pipeline jobs are older than the update_time margin")
        time.sleep(max(0.0, wait))

    warm = app.poll.tick()
    if warm["runsSeen"] != runs or warm["changes"] != 0:
        raise RuntimeError(f"warm-up tick saw {warm}; expected {runs} runs and no change")

    cursor = 0
    for rep in range(repeats):
        order = ("ours", "per-job") if rep % 2 == 0 else ("per-job", "ours")
        if not baseline:
            order = ("ours",)
        for strategy in order:
            chosen = records[cursor : cursor + changed]
            cursor = (cursor + changed) % max(1, runs - changed)
            names = [r["runId"] for _, r in chosen]
            set_states(admin, names, SUCCEEDED[kind])
            v0, f0, p0 = admin.calls(), dict(app.store.counts), timings.snapshot()
            t0 = time.perf_counter()
            summary = app.poll.tick() if strategy == "ours" else per_job_poll(app)
            seconds = time.perf_counter() - t0
            cycle = Cycle(
                strategy=strategy,
                vertex=diff(admin.calls(), v0),
                firestore=diff(dict(app.store.counts), f0),
                seconds=seconds,
                changes=int(summary["changes"]),
                published=int(summary["eventsPublished"]),
                phases={k: v - p0.get(k, 0.0) for k, v in timings.snapshot().items()},
            )
            cycle.phases["other (Python)"] = seconds - sum(cycle.phases.values())
            if cycle.changes != changed or cycle.published != changed:
                raise RuntimeError(f"{strategy} cycle recorded {cycle.changes} changes, published {cycle.published}")
            case.cycles.append(cycle)
            log(
                f"  N={runs} rep={rep + 1} {strategy}: calls={cycle.calls} {cycle.vertex} "
                f"firestore={cycle.firestore} {seconds:.2f}s"
            )
            set_states(admin, names, PENDING[kind])
            # Put back as newly submitted runs (recorded now), so the next cycle again sees N active runs: our
            # poller finds them through "recorded since the last tick", as it finds every new submit.
            fresh = run_model.iso(datetime.now(UTC))
            write_records(app, [(doc_id, {**record, "recordedAt": fresh}) for doc_id, record in chosen])
    print(case.line(), flush=True)
    return case
