"""The chaos monkey: kills submit mid-request, cuts Pub/Sub connections, one Pub/Sub outage, a hint storm then hint
loss."""

from __future__ import annotations

import random
import threading
import time

from polysync_local.stack import LocalStack

from .clients import Clients
from .config import ChaosConfig
from .control import function_url, kill_group, start_function
from .proxy import FlakyProxy


class Monkey(threading.Thread):
    """Kills and restarts submit while requests are in flight; cuts Pub/Sub connections; one Pub/Sub outage; the log
    router delivers every hint 3x shuffled, then none, then as usual (`hint_storm`, `hint_loss`)."""

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
        # The log router's phases (seconds after t0, duplicate, shuffle, drop rate): storm, loss, back to normal.
        hint_phases: list[tuple[float, int, bool, float]] = []
        if cfg.hint_storm > 0:
            hint_phases.append((0.0, 3, True, 0.0))
        if cfg.hint_loss > 0:
            hint_phases.append((cfg.hint_storm, 1, False, 1.0))
        if hint_phases:
            hint_phases.append((cfg.hint_storm + cfg.hint_loss, 1, False, 0.0))
        while not self.stop_event.wait(0.05):
            now = time.monotonic()
            if hint_phases and now - self.t0 >= hint_phases[0][0]:
                self._hint_phase(*hint_phases.pop(0)[1:])
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

    def _hint_phase(self, duplicate: int, shuffle: bool, drop_rate: float) -> None:
        router = self.stack.log_router
        if router is None:
            self.errors.append("monkey: the stack has no log router: hints cannot be stormed or lost")
            return
        router.delay = self.config.hint_delay
        router.duplicate, router.shuffle, router.drop_rate = duplicate, shuffle, drop_rate

    def _kill_submit(self) -> None:
        old = self.stack.processes["submit"]
        self.in_flight_at_kill.append(self.clients.in_flight)
        kill_group(old)
        time.sleep(self.rng.uniform(0.5, 1.5))
        assert old.env is not None
        start_function(self.stack, "submit", old.cmd, old.env, function_url(self.stack, "submit"), "submit.log")
