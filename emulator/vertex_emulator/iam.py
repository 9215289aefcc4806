"""Cloud Resource Manager ``projects.testIamPermissions``: every permission granted unless the admin API denies it.

REST shape (https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions):
``POST /v3/projects/{project}:testIamPermissions`` (v1 too) with ``{"permissions": ["aiplatform.customJobs.create"]}``
answers ``{"permissions": [the subset the caller has]}``; an empty subset is ``{}`` (proto3 JSON omits empty
repeated fields). Permissions with wildcards are rejected, as Google does
(https://cloud.google.com/iam/docs/reference/rest/v1/TestIamPermissionsRequest).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from .errors import invalid_argument

# service.resource.verb, e.g. aiplatform.customJobs.create, resourcemanager.projects.get
_PERMISSION = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)+$")


class Permissions:
    """Per-project denied permissions (everything else is granted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._denied: dict[str, set[str]] = {}

    def deny(self, project: str, permissions: list[str]) -> list[str]:
        """Deny ``permissions`` in ``project`` from now on; returns all denied permissions of the project."""
        with self._lock:
            denied = self._denied.setdefault(project, set())
            denied.update(permissions)
            return sorted(denied)

    def reset(self) -> None:
        with self._lock:
            self._denied.clear()

    def denied(self) -> dict[str, list[str]]:
        with self._lock:
            return {project: sorted(perms) for project, perms in self._denied.items() if perms}

    def test(self, project: str, permissions: list[str]) -> list[str]:
        with self._lock:
            denied = set(self._denied.get(project, ()))
        return [p for p in dict.fromkeys(permissions) if p not in denied]


def permission_list(body: Any, extra_fields: tuple[str, ...] = ()) -> list[str]:
    """The ``permissions`` field of a request, checked as Resource Manager checks it."""
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    for key in body:
        if key != "permissions" and key not in extra_fields:
            raise invalid_argument(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    permissions = body.get("permissions", [])
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise invalid_argument("Invalid value at 'permissions' (TYPE_STRING): expected a list of strings.")
    for permission in permissions:
        if "*" in permission:
            raise invalid_argument(
                f"Permissions with wildcards (such as * or storage.*) are not allowed; got {permission!r}."
            )
        if not _PERMISSION.match(permission):
            raise invalid_argument(f"Permission {permission} is not valid.")
    return list(permissions)


def granted_permissions(table: Permissions, project: str, body: Any) -> dict[str, Any]:
    """``projects.testIamPermissions``: the permissions of the request the caller holds in ``project``."""
    granted = table.test(project, permission_list(body))
    return {"permissions": granted} if granted else {}
