"""The chaos monkey: kills submit mid-request, cuts Pub/Sub connections, one Pub/Sub outage, a hint storm then hint
loss."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

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
        hint_phases = self._hint_phases()
        while not self.stop_event.wait(0.05):
            now = time.monotonic()
            if hint_phases and now - self.t0 >= hint_phases[0][0] and hint_phases[0][1]():
                self._hint_phase(*hint_phases.pop(0)[2:])
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

    def _hint_phases(self) -> list[tuple[float, Callable[[], bool], int, bool, float]]:
        """The log router's phases: (earliest start in s after t0, whether the previous phase did its work yet,
        duplicate, shuffle, drop rate): storm, loss, back to normal. The next phase starts after the previous one's
        seconds and once that one acted on `hint_min_entries` entries (a loaded machine starts the jobs, and so
        their entries, later: a fixed clock could storm or lose nothing)."""
        cfg, router = self.config, self.stack.log_router
        if router is None:
            if cfg.hint_storm > 0 or cfg.hint_loss > 0:
                self.errors.append("monkey: the stack has no log router: hints cannot be stormed or lost")
            return []
        storm, loss = cfg.hint_storm > 0, cfg.hint_loss > 0

        def stormed() -> bool:
            return not storm or router.duplicated >= 2 * cfg.hint_min_entries  # 3 copies: 2 beyond the first

        phases: list[tuple[float, Callable[[], bool], int, bool, float]] = []
        if storm:
            phases.append((0.0, lambda: True, 3, True, 0.0))
        if loss:
            phases.append((cfg.hint_storm, stormed, 1, False, 1.0))
        if storm or loss:
            end = cfg.hint_storm + cfg.hint_loss
            phases.append((end, lambda: router.dropped >= cfg.hint_min_entries if loss else stormed(), 1, False, 0.0))
        return phases

    def _hint_phase(self, duplicate: int, shuffle: bool, drop_rate: float) -> None:
        router = self.stack.log_router
        assert router is not None
        router.delay = self.config.hint_delay
        router.duplicate, router.shuffle, router.drop_rate = duplicate, shuffle, drop_rate

    def _kill_submit(self) -> None:
        old = self.stack.processes["submit"]
        self.in_flight_at_kill.append(self.clients.in_flight)
        kill_group(old)
        time.sleep(self.rng.uniform(0.5, 1.5))
        assert old.env is not None
        start_function(self.stack, "submit", old.cmd, old.env, function_url(self.stack, "submit"), "submit.log")
