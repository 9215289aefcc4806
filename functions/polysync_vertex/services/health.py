"""health: Polysync's "test connectivity". Checks, with the connector's own identities, what a run needs.

Checks (each `{"name", "ok", "message"}`, plus `"skipped": true` where this environment cannot answer it —
never reported as ok): a webhook secret is configured; Firestore answers; the status topic accepts publishes
(an IAM permission test, nothing published); per allowed project and location, each function's identity holds the
`aiplatform.*` permissions it calls for every job kind and Cloud Logging's `logging.logEntries.list` where it reads
job logs (poll, status) (`projects.testIamPermissions` as that identity); with
`deep`, one list call per project, location and job kind. A failed check names the identity, the missing
permission and the fix. Nothing is created, cancelled or published.
"""

from __future__ import annotations

import time
from typing import Any

from ..config import Settings
from ..core import kinds, permissions
from ..core.errors import UpstreamError
from ..core.names import parent_name
from ..ports import Probes, VertexPort

FUNCTIONS = ("submit", "poll", "cancel", "templates", "status")


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
        checks = [
            _check(
                "webhook-secret",
                bool(s.webhook_secrets),
                "a webhook secret is configured"
                if s.webhook_secrets
                else "no webhook secret: set PSV_WEBHOOK_SECRETS (Terraform: webhook_secret_id)",
            )
        ]
        ok, detail = self.probes.firestore()
        checks.append(_check("firestore", ok, detail))
        topic = s.topic_path(s.status_topic)
        ok, detail = self.probes.topic_permissions(topic, ["pubsub.topics.publish"])
        checks.append(_check("status-topic", ok, detail))
        for project in s.allowed_projects:
            for function in FUNCTIONS:
                needed = permissions.permissions(function)
                ok, detail = self.probes.project_permissions(project, needed, function)
                checks.append(_check(f"vertex-permissions:{project}:{function}", ok, detail))
        if deep:
            checks.extend(self._deep())
        healthy = all(c["ok"] or c.get("skipped") for c in checks)
        return (200 if healthy else 503), {"ok": healthy, "checks": checks}

    def _deep(self) -> list[dict[str, Any]]:
        out = []
        for project in self.settings.allowed_projects:
            for location in self.settings.allowed_locations:
                for kind in kinds.KINDS:
                    name = f"vertex-list:{project}:{location}:{kind.collection}"
                    deadline = time.monotonic() + min(10.0, self.settings.request_budget_seconds)
                    try:
                        self.vertex.list_page(parent_name(project, location), deadline, kind=kind, page_size=1)
                    except UpstreamError as err:
                        out.append(
                            _check(
                                name,
                                False,
                                f"listing {kind.job_type}s in {project}/{location} failed ({err.code}): "
                                f"{err.message[:300]}",
                            )
                        )
                        continue
                    out.append(_check(name, True, f"listed {kind.job_type}s in {project}/{location}"))
        return out
