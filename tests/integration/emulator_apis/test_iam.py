"""``projects.testIamPermissions`` (Resource Manager v3 REST) through the official ``ProjectsClient`` and raw REST,
with and without permissions denied through the admin API."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3

from vertex_emulator import EmulatorServer
from vertex_emulator.admin import AdminError

from .conftest import PROJECT

pytestmark = pytest.mark.timeout(60)

WANTED = ["aiplatform.customJobs.create", "aiplatform.customJobs.get", "pubsub.topics.publish"]


def projects_client(server: EmulatorServer) -> resourcemanager_v3.ProjectsClient:
    return resourcemanager_v3.ProjectsClient(
        transport="rest", client_options={"api_endpoint": server.url}, credentials=AnonymousCredentials()
    )


def granted(server: EmulatorServer, project: str, permissions: list[str]) -> list[str]:
    answer = projects_client(server).test_iam_permissions(
        request={"resource": f"projects/{project}", "permissions": permissions}
    )
    return list(answer.permissions)


def test_everything_is_granted_by_default(server: EmulatorServer, admin: Any) -> None:
    assert granted(server, PROJECT, WANTED) == WANTED
    for version in ("v1", "v3"):
        response = requests.post(
            f"{server.url}/{version}/projects/{PROJECT}:testIamPermissions", json={"permissions": WANTED}, timeout=10
        )
        assert response.status_code == 200 and response.json() == {"permissions": WANTED}
    assert admin.calls()["TestIamPermissions"] == 3


def test_denied_permissions_are_left_out_for_that_project_only(server: EmulatorServer, admin: Any) -> None:
    assert admin.deny_permissions(PROJECT, ["aiplatform.customJobs.create"]) == ["aiplatform.customJobs.create"]
    assert admin.deny_permissions(PROJECT, ["pubsub.topics.publish"]) == [
        "aiplatform.customJobs.create",
        "pubsub.topics.publish",
    ]
    assert granted(server, PROJECT, WANTED) == ["aiplatform.customJobs.get"]
    assert granted(server, "another-project", WANTED) == WANTED
    assert admin.denied_permissions() == {PROJECT: ["aiplatform.customJobs.create", "pubsub.topics.publish"]}
    # Nothing granted: proto3 JSON leaves the empty list out, as Resource Manager does.
    response = requests.post(
        f"{server.url}/v3/projects/{PROJECT}:testIamPermissions",
        json={"permissions": ["pubsub.topics.publish"]},
        timeout=10,
    )
    assert response.status_code == 200 and response.json() == {}
    assert granted(server, PROJECT, ["pubsub.topics.publish"]) == []

    admin.reset_permissions()
    assert granted(server, PROJECT, WANTED) == WANTED
    admin.deny_permissions(PROJECT, ["aiplatform.customJobs.get"])
    admin.reset()  # the global reset grants everything again too
    assert granted(server, PROJECT, WANTED) == WANTED


@pytest.mark.parametrize(
    ("permissions", "fragment"),
    [(["storage.*"], "wildcards"), (["*"], "wildcards"), (["nodots"], "is not valid"), ([5], "TYPE_STRING")],
)
def test_bad_permissions_are_invalid_argument(
    server: EmulatorServer, admin: Any, permissions: list[Any], fragment: str
) -> None:
    response = requests.post(
        f"{server.url}/v3/projects/{PROJECT}:testIamPermissions", json={"permissions": permissions}, timeout=10
    )
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    if all(isinstance(p, str) for p in permissions):
        with pytest.raises(gexc.BadRequest):
            granted(server, PROJECT, permissions)


def test_deny_needs_a_project_and_faults_apply(server: EmulatorServer, admin: Any) -> None:
    with pytest.raises(AdminError) as raised:
        admin._call("POST", "/emulator/iam:deny", {"permissions": ["a.b"]})
    assert raised.value.status == 400
    admin.add_fault(method="*", http_status=403, status="PERMISSION_DENIED", count=1)
    with pytest.raises(gexc.Forbidden):
        granted(server, PROJECT, WANTED)
    assert granted(server, PROJECT, WANTED) == WANTED
