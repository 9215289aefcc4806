"""Polysync's side: signed, retried submits, status calls and cancels, one plan at a time."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from polysync_local.client import Connector, Response

from .config import RETRYABLE, ChaosConfig, Outcome, Plan, running_state


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
    running = running_state(outcome.plan.job_type)
    while True:
        status = clients.status(run_id, deadline)
        if status.ok and status.body.get("vertexState") == running:
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
