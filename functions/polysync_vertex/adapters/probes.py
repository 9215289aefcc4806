"""Reachability and IAM permission tests for `health` (the `Probes` port).

- Firestore: one document read.
- Pub/Sub: `topics.testIamPermissions` on the status topic (nothing is published), as the poll function's identity
  (the one that publishes) when PSV_FUNCTION_IDENTITIES names it, else as the health function's own.
- Vertex AI: Cloud Resource Manager v3 `projects.testIamPermissions`, as each function's identity: the health
  function impersonates the identities named in PSV_FUNCTION_IDENTITIES (Service Account Token Creator on them);
  an identity not named is tested as the health function's own. Against the local emulator (an `http://` Vertex AI
  endpoint), the emulator's own `testIamPermissions` answers.
"""

from __future__ import annotations

import os
from typing import Any

from ..config import Settings

CRM = "https://cloudresourcemanager.googleapis.com"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


class CloudProbes:
    def __init__(self, settings: Settings, store: Any) -> None:
        self.settings = settings
        self.store = store

    def firestore(self) -> tuple[bool | None, str]:
        try:
            self.store.polls.document("health-probe").get(timeout=10)
        except Exception as exc:  # noqa: BLE001 - any failure is the check's answer
            return False, (
                f"Firestore database {self.settings.firestore_database} did not answer ({type(exc).__name__}: "
                f"{str(exc)[:200]}); the functions' identities need roles/datastore.user on it"
            )
        return True, f"Firestore database {self.settings.firestore_database} answers"

    def topic_permissions(self, topic: str, permissions: list[str], function: str = "poll") -> tuple[bool | None, str]:
        from google.api_core import exceptions as gexc
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        identity = dict(self.settings.function_identities).get(function, "")
        who = identity or "the health function's own identity"
        try:
            emulated = bool(os.environ.get("PUBSUB_EMULATOR_HOST"))
            credentials = None if emulated or not identity else _credentials(identity)
            client = pubsub_v1.PublisherClient(credentials=credentials)
            response = client.test_iam_permissions(request={"resource": topic, "permissions": permissions}, timeout=10)
        except (gexc.MethodNotImplemented, gexc.NotFound) as exc:
            if os.environ.get("PUBSUB_EMULATOR_HOST"):
                return None, f"the Pub/Sub emulator cannot test IAM permissions ({type(exc).__name__}); not checked"
            return False, f"status topic {topic} does not exist: run terraform apply (topic status_topic)"
        except Exception as exc:  # noqa: BLE001
            return False, f"testing {function}'s permissions on {topic} as {who} failed: {str(exc)[:300]}"
        missing = sorted(set(permissions) - set(response.permissions))
        if missing:
            return False, (
                f"{who} ({function}) lacks {', '.join(missing)} on {topic}: grant roles/pubsub.publisher on the "
                "topic (Terraform does: infra/pubsub.tf)"
            )
        return True, f"{who} ({function}) may publish to the status topic {topic}"

    def project_permissions(self, project: str, permissions: list[str], function: str) -> tuple[bool | None, str]:
        identity = dict(self.settings.function_identities).get(function, "")
        who = identity or "the health function's own identity"
        try:
            granted = self._test(project, permissions, identity)
        except Exception as exc:  # noqa: BLE001
            return False, f"testing {function}'s permissions in {project} as {who} failed: {str(exc)[:300]}"
        missing = [p for p in permissions if p not in granted]
        if missing:
            member = f"serviceAccount:{identity}" if identity else "<the function's service account>"
            return False, (
                f"{who} ({function}) lacks {', '.join(missing)} in project {project}: add {project} to the Terraform "
                f"variable vertex_projects and apply (it grants the {function} function's custom role there), or "
                f"gcloud projects add-iam-policy-binding {project} --member={member} "
                f"--role=<the {function} custom role>"
            )
        return True, f"{who} ({function}) holds {len(permissions)} Vertex AI permissions in {project}"

    def _test(self, project: str, permissions: list[str], identity: str) -> set[str]:
        endpoint = self.settings.vertex_endpoint
        body = {"permissions": permissions}
        if endpoint.startswith("http://"):
            import requests

            response = requests.post(f"{endpoint}/v3/projects/{project}:testIamPermissions", json=body, timeout=10)
        else:
            from google.auth.transport.requests import AuthorizedSession

            response = AuthorizedSession(_credentials(identity)).post(  # type: ignore[no-untyped-call]
                f"{CRM}/v3/projects/{project}:testIamPermissions", json=body, timeout=10
            )
        response.raise_for_status()
        return set(response.json().get("permissions") or [])


def _credentials(identity: str) -> Any:
    """Application default credentials, or a short-lived token of `identity` minted with them (the health
    function holds iam.serviceAccounts.getAccessToken on each function account it tests: infra/iam.tf)."""
    import google.auth

    credentials, _ = google.auth.default(scopes=SCOPES)
    if not identity:
        return credentials
    from google.auth import impersonated_credentials

    return impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=credentials, target_principal=identity, target_scopes=SCOPES, lifetime=300
    )
