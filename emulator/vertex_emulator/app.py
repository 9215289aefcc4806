"""Routing of the Vertex AI v1 REST surface and the ``/emulator/`` admin API, independent of HTTP."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .apis import Extras
from .errors import ApiError, invalid_argument, not_found
from .faults import FaultInjector, known_methods
from .ids import CUSTOM_JOBS
from .resources import RESOURCES
from .scenario import CANCEL_DELAY_S
from .store import Store
from .validation import parse_name, parse_parent

Query = dict[str, list[str]]

_COLLECTIONS = "|".join(RESOURCES)
_COLLECTION = re.compile(rf"^/v1/(projects/[^/]+/locations/[^/]+)/({_COLLECTIONS})$")
_JOB = re.compile(rf"^/v1/(projects/[^/]+/locations/[^/]+/({_COLLECTIONS})/[^/:]+)(?::([A-Za-z]+))?$")
_OPERATION = re.compile(r"^/(?:v1|ui)/(projects/[^/]+/locations/[^/]+/operations/[^/:]+)$")
# /emulator/jobs/{project}/{location}/{id}:verb (customJobs) or .../{location}/{collection}/{id}:verb
_ADMIN_JOB = re.compile(rf"^/emulator/jobs/([^/]+)/([^/]+)/(?:({_COLLECTIONS})/)?([^/:]+):(setState|logs)$")

# System parameters every Google REST endpoint accepts besides the method's own.
_SYSTEM_PARAMS = frozenset(
    {
        "$alt",
        "alt",
        "key",
        "prettyPrint",
        "$prettyPrint",
        "fields",
        "$fields",
        "quotaUser",
        "$.xgafv",
        "access_token",
        "callback",
        "$callback",
        "upload_protocol",
        "uploadType",
        "$userProject",
        "userProject",
    }
)
_LIST_PARAMS = {
    "filter": "filter",
    "pageSize": "pageSize",
    "page_size": "pageSize",
    "pageToken": "pageToken",
    "page_token": "pageToken",
    "readMask": "readMask",
    "read_mask": "readMask",
}
# pipelineJobs.list also takes orderBy; pipelineJobs.create takes pipelineJobId (v1 REST reference).
_ORDER_PARAMS = {"orderBy": "orderBy", "order_by": "orderBy"}
_CREATE_PARAMS = {"pipelineJobs": {"pipelineJobId": "pipelineJobId", "pipeline_job_id": "pipelineJobId"}}


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    after: Callable[[], None] | None = field(default=None)


def _error(exc: ApiError) -> Response:
    return Response(exc.http_status, exc.to_json())


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}") from None


def _int_enums(query: Query) -> bool:
    return any("enum-encoding=int" in v for key in ("$alt", "alt") for v in query.get(key, []))


def _params(query: Query, allowed: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, values in query.items():
        if key in _SYSTEM_PARAMS:
            continue
        if key not in allowed:
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot bind query parameter. '
                f"Field '{key}' could not be found in request message."
            )
        out[allowed[key]] = values[-1]
    return out


class CallCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(known_methods(), 0)

    def add(self, method: str) -> None:
        with self._lock:
            self._counts[method] = self._counts.get(method, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(known_methods(), 0)


class EmulatorApp:
    def __init__(
        self,
        time_factor: float = 1.0,
        execute: bool = False,
        log_dir: str | None = None,
        on_shutdown: Callable[[], None] | None = None,
        cancel_delay_s: float = CANCEL_DELAY_S,
    ) -> None:
        self.store = Store(time_factor=time_factor, execute=execute, log_dir=log_dir, cancel_delay_s=cancel_delay_s)
        self.faults = FaultInjector()
        self.calls = CallCounter()
        self.on_shutdown = on_shutdown
        self.extras = Extras()  # Cloud Logging, testIamPermissions, operations list/wait (apis.py)

    def handle(self, method: str, raw_path: str, query: Query, body: bytes) -> Response:
        path = unquote(raw_path)
        try:
            if path.startswith("/emulator/"):
                return self._admin(method, path, query, body)
            route = self._route(method, path, query, body)
        except ApiError as exc:
            return _error(exc)
        if route is None:
            return _error(not_found(f"The requested URL {method} {raw_path} was not found on this server."))
        rpc, action = route
        self.calls.add(rpc)
        decision = self.faults.decide(rpc)
        if decision.latency_s:
            time.sleep(decision.latency_s)
        if decision.error is not None:
            return _error(decision.error)
        try:
            return Response(200, action())
        except ApiError as exc:
            return _error(exc)

    # -- Vertex AI API ----------------------------------------------------------------------------
    def _route(
        self, method: str, path: str, query: Query, body: bytes
    ) -> tuple[str, Callable[[], dict[str, Any]]] | None:
        extra = self.extras.route(self.store, method, path, query, body)
        if extra is not None:
            return extra
        ints = _int_enums(query)
        store = self.store
        match = _COLLECTION.match(path)
        if match:
            parent, resource = match.group(1), RESOURCES[match.group(2)]
            if method == "POST":

                def create() -> dict[str, Any]:
                    params = _params(query, _CREATE_PARAMS.get(resource.collection, {}))
                    project, location = parse_parent(parent)
                    job_id = params.get("pipelineJobId") or None
                    return store.create(project, location, _json_body(body), ints, resource, job_id)

                return resource.method("Create"), create
            if method == "GET":

                def list_jobs() -> dict[str, Any]:
                    allowed = {**_LIST_PARAMS, **_ORDER_PARAMS} if resource.order_fields else _LIST_PARAMS
                    params = _params(query, allowed)
                    project, location = parse_parent(parent)
                    try:
                        page_size = int(params.get("pageSize", "0") or 0)
                    except ValueError:
                        raise invalid_argument(f"Invalid value for page_size: {params['pageSize']!r}") from None
                    return store.list(
                        project,
                        location,
                        params.get("filter", ""),
                        page_size,
                        params.get("pageToken", ""),
                        params.get("readMask", ""),
                        ints,
                        resource,
                        params.get("orderBy", ""),
                    )

                return resource.method("List"), list_jobs
            return None
        match = _JOB.match(path)
        if match:
            name, resource, verb = match.group(1), RESOURCES[match.group(2)], match.group(3)

            def checked() -> str:
                _params(query, {})
                parse_name(name, resource)
                return name

            if verb is None and method == "GET":
                return resource.method("Get"), lambda: store.get(checked(), ints)
            if verb is None and method == "DELETE":
                return resource.method("Delete"), lambda: store.delete(checked())
            if verb == "cancel" and method == "POST":

                def cancel() -> dict[str, Any]:
                    _json_body(body)
                    return store.cancel(checked())

                return resource.method("Cancel"), cancel
            return None
        match = _OPERATION.match(path)
        if match and method == "GET":
            return "GetOperation", lambda: store.get_operation(match.group(1))
        return None

    # -- admin ------------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, query: Query, body: bytes) -> Response:
        extra = self.extras.admin(method, path, body)
        if extra is not None:
            return Response(200, extra)
        key = (method, path)
        if key == ("GET", "/emulator/health"):
            return Response(200, {"ok": True, "jobs": self.store.count()})
        if key == ("GET", "/emulator/calls"):
            return Response(200, {"calls": self.calls.snapshot()})
        if key == ("POST", "/emulator/calls:reset"):
            self.calls.reset()
            return Response(200, {})
        if key == ("GET", "/emulator/faults"):
            return Response(200, {"faults": self.faults.list()})
        if key == ("POST", "/emulator/faults"):
            fault = self.faults.add(_json_body(body))
            return Response(200, {"id": fault.id, "fault": fault.to_json()})
        if key == ("DELETE", "/emulator/faults"):
            self.faults.clear()
            return Response(200, {})
        if key == ("POST", "/emulator/reset"):
            self.store.reset()
            self.faults.clear()
            self.calls.reset()
            return Response(200, {})
        if key == ("POST", "/emulator/shutdown"):
            return Response(200, {"ok": True}, after=self.on_shutdown)
        match = _ADMIN_JOB.match(path)
        if match:
            project, location, collection, job_id, verb = match.groups()
            name = f"projects/{project}/locations/{location}/{collection or CUSTOM_JOBS}/{job_id}"
            if verb == "setState" and method == "POST":
                request = _json_body(body)
                state = request.get("state") if isinstance(request, dict) else None
                if not isinstance(state, str):
                    raise invalid_argument('setState needs a body like {"state": "JOB_STATE_FAILED"}')
                return Response(200, self.store.set_state(name, state, _int_enums(query)))
            if verb == "logs" and method == "GET":
                return Response(200, {"log": self.store.log_text(name)})
        raise not_found(f"The requested URL {method} {path} was not found on this server.")

    def close(self) -> None:
        self.store.close()
