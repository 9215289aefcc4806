"""The APIs around Vertex AI that its clients also call, routed beside the Vertex AI surface of ``app.py``.

- Cloud Logging v2 ``POST /v2/entries:list`` (:mod:`.logging_api`): job logs for ``gcloud ai custom-jobs stream-logs``,
  ``gcloud logging read`` and google-cloud-logging.
- Cloud Resource Manager ``POST /v3/projects/{p}:testIamPermissions`` (and ``/v1/``) (:mod:`.iam`).
- Long-running operations: ``GET /v1/{parent}/operations`` (list) and ``POST /v1/{operation}:wait``
  (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.operations).
- Admin: ``POST /emulator/iam:deny {"project", "permissions"}``, ``POST /emulator/iam:reset``, ``GET /emulator/iam``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from typing import Any

from .errors import invalid_argument
from .iam import Permissions, granted_permissions, permission_list
from .logging_api import JobLogs, list_entries
from .timeutil import parse_duration

Action = Callable[[], dict[str, Any]]

_ENTRIES_LIST = re.compile(r"^/v2/entries:list$")
_TEST_IAM = re.compile(r"^/v[13]/projects/([^/:]+):testIamPermissions$")
_OPERATIONS = re.compile(r"^/(?:v1|ui)/(projects/[^/]+/locations/[^/]+(?:/[^/]+/[^/:]+)*)/operations$")
_WAIT = re.compile(r"^/(?:v1|ui)/(projects/[^/]+/locations/[^/]+(?:/[^/]+/[^/:]+)*/operations/[^/:]+):wait$")

DEFAULT_OPERATIONS_PAGE = 100
MAX_WAIT_S = 60.0
_WAIT_POLL_S = 0.05
_LIST_OPERATION_PARAMS = {"filter", "pageSize", "page_size", "pageToken", "page_token", "returnPartialSuccess"}


def _body(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}") from None


class Extras:
    """State and routes of the surrounding APIs; ``app.py`` asks :meth:`route` before its own routes."""

    def __init__(self) -> None:
        self.permissions = Permissions()
        self.logs = JobLogs()

    # -- public APIs ------------------------------------------------------------------------------
    def route(
        self, store: Any, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[str, Action] | None:
        """``(rpc name, action)`` for a path this module serves, else None."""
        if method == "POST" and _ENTRIES_LIST.match(path):
            return "ListLogEntries", lambda: list_entries(store, self.logs, _body(body))
        match = _TEST_IAM.match(path)
        if match and method == "POST":
            project = match.group(1)
            return "TestIamPermissions", lambda: granted_permissions(self.permissions, project, _body(body))
        match = _OPERATIONS.match(path)
        if match and method == "GET":
            parent = match.group(1)
            return "ListOperations", lambda: list_operations(store, parent, query)
        match = _WAIT.match(path)
        if match and method == "POST":
            name = match.group(1)
            return "WaitOperation", lambda: wait_operation(store, name, _body(body))
        return None

    # -- admin ------------------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: bytes) -> dict[str, Any] | None:
        """Answer an admin call this module serves; None to let ``app.py`` answer it."""
        key = (method, path)
        if key == ("POST", "/emulator/iam:deny"):
            request = _body(body)
            permissions = permission_list(request, extra_fields=("project",))
            project = request.get("project")
            if not isinstance(project, str) or not project:
                raise invalid_argument('iam:deny needs a body like {"project": "p", "permissions": ["a.b.c"]}')
            return {"project": project, "denied": self.permissions.deny(project, permissions)}
        if key == ("POST", "/emulator/iam:reset"):
            self.permissions.reset()
            return {}
        if key == ("GET", "/emulator/iam"):
            return {"denied": self.permissions.denied()}
        if key == ("POST", "/emulator/reset"):  # the app resets its own state after this
            self.permissions.reset()
            self.logs.reset()
        return None


# -- operations -----------------------------------------------------------------------------------
def _all_operations(store: Any) -> list[dict[str, Any]]:
    """Every stored operation, from the store's ``list_operations()`` hook."""
    return list(store.list_operations())


def _op_sort_key(operation: dict[str, Any]) -> tuple[int, str]:
    last = str(operation.get("name", "")).rsplit("/", 1)[-1]
    return (int(last) if last.isdigit() else 0, str(operation.get("name", "")))


def _done_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    normalized = " ".join(text.split()).replace(" = ", "=")
    if not normalized:
        return lambda op: True
    match = re.fullmatch(r"done\s*=\s*(true|false)", normalized)
    if not match:
        raise invalid_argument(f'Unsupported filter for operations: "{text}"; the emulator knows done=true|false.')
    wanted = match.group(1) == "true"
    return lambda op: bool(op.get("done", False)) == wanted


def list_operations(store: Any, parent: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """``operations.list`` under ``parent``: ``{operations, nextPageToken}``, oldest first."""
    params = {k: v[-1] for k, v in query.items() if k in _LIST_OPERATION_PARAMS}
    try:
        size = int(params.get("pageSize", params.get("page_size", "0")) or 0)
    except ValueError:
        raise invalid_argument(f"Invalid value for page_size: {params.get('pageSize')!r}") from None
    if size < 0:
        raise invalid_argument("page_size must not be negative.")
    size = size or DEFAULT_OPERATIONS_PAGE
    keep = _done_filter(params.get("filter", ""))
    token = params.get("pageToken", params.get("page_token", ""))
    prefix = parent + "/operations/"
    operations = sorted(
        (op for op in _all_operations(store) if str(op.get("name", "")).startswith(prefix) and keep(op)),
        key=_op_sort_key,
    )
    start = _decode_offset(token, parent) if token else 0
    out: dict[str, Any] = {}
    page = operations[start : start + size]
    if page:
        out["operations"] = page
    if start + size < len(operations):
        raw = json.dumps({"p": parent, "o": start + size}, separators=(",", ":")).encode()
        out["nextPageToken"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return out


def _decode_offset(token: str, parent: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
        offset, scope = data["o"], data["p"]
    except (ValueError, KeyError, TypeError):
        raise invalid_argument(f"Invalid page_token {token!r}.") from None
    if not isinstance(offset, int) or offset < 0 or scope != parent:
        raise invalid_argument("Invalid page_token: it was issued for a different parent.")
    return offset


def wait_operation(store: Any, name: str, request: Any) -> dict[str, Any]:
    """``operations.wait``: the operation once done, or as it is when ``timeout`` (at most 60 s) has passed."""
    if not isinstance(request, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object (WaitOperationRequest).")
    for key in request:
        if key != "timeout":
            raise invalid_argument(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    timeout_s = MAX_WAIT_S
    if "timeout" in request:
        try:
            timeout_s = min(max(parse_duration(request["timeout"]), 0.0), MAX_WAIT_S)
        except ValueError as exc:
            raise invalid_argument(
                f"Invalid value at 'timeout' (type.googleapis.com/google.protobuf.Duration): {exc}"
            ) from None
    deadline = time.monotonic() + timeout_s
    while True:
        operation: dict[str, Any] = store.get_operation(name)
        if operation.get("done") or time.monotonic() >= deadline:
            return operation
        time.sleep(_WAIT_POLL_S)
