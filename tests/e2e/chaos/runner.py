"""One chaos run: the stack, the faults, the clients, then the invariants."""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polysync_local import processes
from polysync_local.stack import LocalStack, StackConfig
from vertex_emulator.admin import AdminClient

from . import invariants
from .clients import Clients, run_plan
from .collector import EventCollector
from .config import FINAL_STATUSES, PROJECT, PUBLISH_TIMEOUT, RETRYABLE, SAVED_ENV, ChaosConfig, Outcome, Result, log
from .control import function_url, post_tick, start_function, with_port
from .faults import FAULT_KINDS, add_vertex_faults, fault_kind, longest_create_hold
from .monkey import Monkey
from .plans import create_templates, make_plans
from .proxy import FlakyProxy


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


def takeovers(stack: LocalStack) -> int:
    path = stack.log_dir / "submit.log"
    return path.read_text(errors="replace").count("taking over an unfinished attempt") if path.exists() else 0


def poll_ticks(stack: LocalStack) -> int:
    """Ticks the stack's own poller has finished (its "poll tick" log lines)."""
    path = stack.log_dir / "poll.log"
    return path.read_text(errors="replace").count('"poll tick"') if path.exists() else 0


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


def hint_batches(stack: LocalStack) -> list[dict[str, Any]]:
    """The hint function's `hint batch` summaries (one per delivered message)."""
    path = stack.log_dir / "hint.log"
    out: list[dict[str, Any]] = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        if '"hint batch"' in line:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


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
        # Templates of the Pipeline and Batch Prediction runs, created before any fault.
        templates = create_templates(endpoints["vertexEndpoint"]) if config.pipeline_share + config.batch_share else {}
        add_vertex_faults(admin, config, config.seed)
        clients = Clients(endpoints, config)
        plans = make_plans(config, rng, templates)
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

        # Held creates land late; the poller then gets `settle_ticks` ticks to adopt or cancel what they made.
        settle_from = time.monotonic()
        land_by = settle_from + longest_create_hold(config) + config.request_budget + 2
        while time.monotonic() < min(land_by, deadline):
            time.sleep(0.5)
        ticks_before = poll_ticks(stack)
        while poll_ticks(stack) < ticks_before + config.settle_ticks and time.monotonic() < deadline:
            time.sleep(0.2)
        log(config, f"settled after {time.monotonic() - settle_from:.1f}s ({poll_ticks(stack) - ticks_before} ticks)")

        # Every run final in its record.
        # At least one pass even when the clients used up the deadline (e.g. retrying a cancel that keeps failing):
        # a run that did end is then reported for what it is, not as "not final".
        pending = [o for o in outcomes if o.run_id]
        first_pass = True
        while pending and (first_pass or time.monotonic() < deadline):
            first_pass = False
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
        world = invariants.gather(endpoints["vertexEndpoint"], lambda run_id: clients.status(run_id, deadline + 60))
        counts, found = invariants.check(outcomes, collector.snapshot(), world)
        violations += found
        router = stack.log_router
        hint_counts, found = invariants.check_hints(
            hint_batches(stack),
            router.published if router else 0,
            router.duplicated if router else 0,
            router.dropped if router else 0,
            storm=config.hint_storm > 0,
            loss=config.hint_loss > 0,
        )
        violations += found
        counts = {
            "runs": len(plans),
            "clients": config.clients,
            "sends": sum(p.sends for p in plans),
            "cancels": sum(len(o.cancels) for o in outcomes),
            **counts,
            "vertex_calls": sum(calls.values()),
            "vertex_faults": "/".join(
                f"{k}:{sum(f['hits'] for f in faults if fault_kind(f, config) == k)}" for k in FAULT_KINDS
            ),
            "submit_kills": len(monkey.in_flight_at_kill),
            "in_flight_at_kills": "/".join(map(str, monkey.in_flight_at_kill)) or "-",
            "takeovers": takeovers(stack),
            "client_retries": "/".join(f"{k}:{v}" for k, v in sorted(clients.statuses.items()) if k in RETRYABLE)
            or "-",
            "pubsub_cuts": proxy.cuts,
            "pubsub_refused": proxy.refused,
            "publish_timeouts": publish_timeouts(stack),
            **hint_counts,
            "second_poller_ticks": "/".join(f"{k}:{v}" for k, v in sorted(ticks.items())) or "-",
            "final_after": f"{final_at:.0f}s",
        }
        return Result(counts, violations, time.monotonic() - started, stack.log_dir)
    finally:
        stop_ticks.set()
        collector.stop()
        proxy.stop()
