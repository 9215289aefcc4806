"""A stdlib client for the emulator's ``/emulator/`` admin API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from .ids import COLLECTIONS, CUSTOM_JOBS


class AdminError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"admin call failed with HTTP {status}: {body}")
        self.status = status
        self.body = body


class AdminClient:
    """``AdminClient("http://127.0.0.1:8789")``: counters, faults, resets, forced states, shutdown."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload: Any = json.loads(raw)
            except ValueError:
                payload = raw.decode(errors="replace")
            raise AdminError(exc.code, payload) from None
        return json.loads(raw) if raw else {}

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/emulator/health")

    def calls(self) -> dict[str, int]:
        return self._call("GET", "/emulator/calls")["calls"]

    def reset_calls(self) -> None:
        self._call("POST", "/emulator/calls:reset", {})

    def add_fault(
        self,
        method: str = "*",
        http_status: int = 0,
        status: str | None = None,
        message: str | None = None,
        ratio: float | None = None,
        count: int | None = None,
        latency_ms: float = 0,
        seed: int | None = None,
    ) -> int:
        spec: dict[str, Any] = {"method": method, "httpStatus": http_status, "latencyMs": latency_ms}
        for key, value in (
            ("status", status),
            ("message", message),
            ("ratio", ratio),
            ("count", count),
            ("seed", seed),
        ):
            if value is not None:
                spec[key] = value
        return int(self._call("POST", "/emulator/faults", spec)["id"])

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/emulator/faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/emulator/faults")

    def reset(self) -> None:
        self._call("POST", "/emulator/reset", {})

    def set_state(self, name: str, state: str, collection: str | None = None) -> dict[str, Any]:
        """Force job ``name`` into ``state`` (e.g. ``JOB_STATE_PAUSED``, ``PIPELINE_STATE_FAILED`` or ``FAILED``).

        ``name`` is a full job name of any collection (``projects/P/locations/L/pipelineJobs/ID``), or a bare id
        of a job of ``collection`` given as ``projects/P/locations/L/{collection}/ID``'s parts; ``collection``
        (``customJobs``, ``pipelineJobs``, ``batchPredictionJobs``) overrides the one in the name.
        """
        project, location, found, job_id = _job_parts(name)
        return self._call(
            "POST", _job_path(project, location, collection or found, job_id, "setState"), {"state": state}
        )

    def logs(self, name: str, collection: str | None = None) -> str:
        """Output of the local process of an ``--execute`` job."""
        project, location, found, job_id = _job_parts(name)
        return str(self._call("GET", _job_path(project, location, collection or found, job_id, "logs"))["log"])

    def shutdown(self) -> None:
        self._call("POST", "/emulator/shutdown", {})

    def deny_permissions(self, project: str, permissions: list[str]) -> list[str]:
        """From now on ``projects.testIamPermissions`` in ``project`` leaves these out; returns all denied there."""
        body = {"project": project, "permissions": list(permissions)}
        return list(self._call("POST", "/emulator/iam:deny", body)["denied"])

    def reset_permissions(self) -> None:
        """Grant every permission in every project again."""
        self._call("POST", "/emulator/iam:reset", {})

    def denied_permissions(self) -> dict[str, list[str]]:
        """The denied permissions per project."""
        return dict(self._call("GET", "/emulator/iam")["denied"])


def _job_parts(name: str) -> tuple[str, str, str, str]:
    parts = name.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations" or parts[4] not in COLLECTIONS:
        raise ValueError(f"not a job name (projects/P/locations/L/{{{'|'.join(COLLECTIONS)}}}/ID): {name!r}")
    return parts[1], parts[3], parts[4], parts[5]


def _job_path(project: str, location: str, collection: str, job_id: str, verb: str) -> str:
    if collection == CUSTOM_JOBS:  # the original form, kept for existing clients
        return f"/emulator/jobs/{project}/{location}/{job_id}:{verb}"
    return f"/emulator/jobs/{project}/{location}/{collection}/{job_id}:{verb}"
