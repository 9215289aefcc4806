"""health: Polysync's "test connectivity". Checks, with the connector's own identities, what a run needs.

Checks (each `{"name", "ok", "message"}`, plus `"skipped": true` where this environment cannot answer it —
never reported as ok): a webhook secret is configured; Firestore answers; the status topic accepts publishes
(an IAM permission test, nothing published); per allowed project and location, each function's identity holds the
`aiplatform.*` permissions it calls for every job kind and Cloud Logging's `logging.logEntries.list` where it reads
job logs (poll, status) (`projects.testIamPermissions` as that identity); with
`deep`, one list call per project, location and job kind; with hints configured (PSV_HINT_SINK), per allowed
project the hints log sink exists, is enabled, routes to PSV_HINTS_TOPIC and its writer identity may publish there
(skipped locally: the emulators have no Logging sinks API). A failed check names the identity, the missing
permission and the fix. Nothing is created, cancelled or published.

Bounded: every check runs at once, each call with a timeout inside `HEALTH_BUDGET_SECONDS`, and the report is
answered when the budget ends whatever is still outstanding (such a check fails with "did not answer within N s":
a stall, not a permission problem). A stalled backend costs one budget, not one per check or per retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from functools import partial
from typing import Any

from ..config import Settings
from ..core import kinds, permissions
from ..core.errors import UpstreamError
from ..core.names import parent_name
from ..ports import Probes, VertexPort

FUNCTIONS = ("submit", "poll", "cancel", "templates", "status")
# The whole report within this (Polysync's "test connectivity" waits for it); each call gets what is left of it.
HEALTH_BUDGET_SECONDS = 14.0
# Time kept in hand to shape the answer after the calls' timeouts.
ANSWER_MARGIN_SECONDS = 1.0


def _check(name: str, ok: bool | None, message: str) -> dict[str, Any]:
    check: dict[str, Any] = {"name": name, "ok": bool(ok), "message": message}
    if ok is None:
        check["skipped"] = True  # never reported as ok (`ok` false), and not a failure of the report
    return check


class HealthService:
    def __init__(self, settings: Settings, vertex: VertexPort, probes: Probes) -> None:
        self.settings = settings
        self.vertex = vertex
        self.probes = probes

    def check(self, *, deep: bool = False) -> tuple[int, dict[str, Any]]:
        s = self.settings
        budget = min(HEALTH_BUDGET_SECONDS, s.request_budget_seconds)
        deadline = time.monotonic() + budget
        timeout = max(0.5, budget - ANSWER_MARGIN_SECONDS)
        checks = [
            _check(
                "webhook-secret",
                bool(s.webhook_secrets),
                "a webhook secret is configured"
                if s.webhook_secrets
                else "no webhook secret: set PSV_WEBHOOK_SECRETS (Terraform: webhook_secret_id)",
            )
        ]
        probes: list[tuple[str, Callable[[], tuple[bool | None, str]]]] = [
            ("firestore", lambda: self.probes.firestore(timeout=timeout)),
        ]
        topic = s.topic_path(s.status_topic)
        probes.append(
            ("status-topic", lambda: self.probes.topic_permissions(topic, ["pubsub.topics.publish"], timeout=timeout))
        )
        for project in s.allowed_projects:
            for function in FUNCTIONS:
                needed = permissions.permissions(function)
                check = partial(self.probes.project_permissions, project, needed, function, timeout=timeout)
                probes.append((f"vertex-permissions:{project}:{function}", check))
        if s.hint_sink:
            probes.extend(self._hint_sinks(timeout))
        if deep:
            probes.extend(self._deep(deadline - ANSWER_MARGIN_SECONDS))
        checks.extend(_run_all(probes, deadline, budget))
        healthy = all(c["ok"] or c.get("skipped") for c in checks)
        return (200 if healthy else 503), {"ok": healthy, "checks": checks}

    def _hint_sinks(self, timeout: float) -> list[tuple[str, Callable[[], tuple[bool | None, str]]]]:
        s = self.settings
        if not s.hints_topic:
            unset = (
                False,
                f"PSV_HINT_SINK is {s.hint_sink} but PSV_HINTS_TOPIC is not set: set it to the hints topic "
                "(Terraform sets both when hints_enabled)",
            )
            return [(f"hint-sink:{p}", lambda: unset) for p in s.allowed_projects]
        topic = s.topic_path(s.hints_topic)
        return [
            (f"hint-sink:{p}", partial(self.probes.hint_sink, p, s.hint_sink, topic, timeout=timeout))
            for p in s.allowed_projects
        ]

    def _deep(self, deadline: float) -> list[tuple[str, Callable[[], tuple[bool | None, str]]]]:
        out: list[tuple[str, Callable[[], tuple[bool | None, str]]]] = []
        for project in self.settings.allowed_projects:
            for location in self.settings.allowed_locations:
                for kind in kinds.KINDS:
                    name = f"vertex-list:{project}:{location}:{kind.collection}"
                    out.append((name, partial(self._list, project, location, kind, deadline)))
        return out

    def _list(self, project: str, location: str, kind: kinds.JobKind, deadline: float) -> tuple[bool | None, str]:
        try:
            self.vertex.list_page(parent_name(project, location), deadline, kind=kind, page_size=1)
        except UpstreamError as err:
            return False, f"listing {kind.job_type}s in {project}/{location} failed ({err.code}): {err.message[:300]}"
        return True, f"listed {kind.job_type}s in {project}/{location}"


def _run_all(
    probes: list[tuple[str, Callable[[], tuple[bool | None, str]]]], deadline: float, budget: float
) -> list[dict[str, Any]]:
    """Run the probes at once; those still running at `deadline` fail as stalled. Results in `probes`' order."""
    pool = ThreadPoolExecutor(max_workers=min(16, len(probes)) or 1, thread_name_prefix="health")
    try:
        futures = [pool.submit(fn) for _, fn in probes]
        wait_all(futures, timeout=max(0.0, deadline - time.monotonic()))
        out = []
        for (name, _), future in zip(probes, futures, strict=True):
            if not future.done():
                out.append(
                    _check(
                        name,
                        False,
                        f"did not answer within {budget:.0f} s: the service is stalled or unreachable from the "
                        "function (an outage or a network path, not a missing permission); retry, and check the "
                        "service's status page and the function's egress",
                    )
                )
                continue
            try:
                ok, detail = future.result()
            except Exception as exc:  # noqa: BLE001 - a probe that raises fails its check, not the report
                ok, detail = False, f"the check failed: {type(exc).__name__}: {str(exc)[:300]}"
            out.append(_check(name, ok, detail))
        return out
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stalled call ends on its own timeout
