"""Reachability and IAM permission tests for `health` (the `Probes` port).

- Firestore: one document read.
- Pub/Sub: may the poll function's identity (the one that publishes) publish to the status topic? Nothing is
  published.
- Vertex AI: may each function's identity make its calls in each Vertex AI project?
- Hints (issue 24): does each Vertex AI project's hints log sink exist, enabled, routing to the hints topic, and may
  its writer identity publish there? `projects.sinks.get` (Cloud Logging v2,
  https://cloud.google.com/logging/docs/reference/v2/rest/v2/projects.sinks/get, permission logging.sinks.get;
  LogSink.writerIdentity e.g. `serviceAccount:service-123@gcp-sa-logging.iam.gserviceaccount.com`, googleapis
  google/logging/v2/logging_config.proto: "Until you grant this identity write-access to the destination, log entry
  exports from this sink will fail"), then Policy Troubleshooter for that identity and pubsub.topics.publish on the
  topic (it sees grants at the topic and above, which the topic's own getIamPolicy would not).

Another function's permissions are tested without its credentials (no identity may act as another, issue 27): the
health function asks Policy Troubleshooter (`POST https://policytroubleshooter.googleapis.com/v3/iam:troubleshoot`,
googleapis google/cloud/policytroubleshooter/iam/v3/troubleshooter.proto) whether the identity named in
PSV_FUNCTION_IDENTITIES holds each permission on the project or topic. That needs only read access to the IAM policies
involved (infra/iam.tf: resourcemanager.projects.getIamPolicy, iam.roles.get, pubsub.topics.getIamPolicy). An identity
not named is tested as the health function's own with `testIamPermissions`. Against the local emulators (an `http://`
Vertex AI endpoint, PUBSUB_EMULATOR_HOST) the emulators' own `testIamPermissions` answers.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..config import Settings

CRM = "https://cloudresourcemanager.googleapis.com"
LOGGING = "https://logging.googleapis.com/v2"
TROUBLESHOOTER = "https://policytroubleshooter.googleapis.com/v3/iam:troubleshoot"
# Policy Troubleshooter answers one permission per call: a few in parallel keep `health` within its budget.
TROUBLESHOOT_WORKERS = 8
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


class CloudProbes:
    def __init__(self, settings: Settings, store: Any) -> None:
        self.settings = settings
        self.store = store

    def firestore(self, *, timeout: float = 10.0) -> tuple[bool | None, str]:
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry, if_transient_error

        database = self.settings.firestore_database
        # `timeout` alone bounds each attempt only: DocumentReference.get is BatchGetDocuments, whose default retry
        # goes on for 300 s (google/cloud/firestore_v1/services/firestore/transports/base.py: `deadline=300.0`).
        # This retry ends with the probe's budget.
        retry = Retry(predicate=if_transient_error, initial=0.1, maximum=1.0, timeout=timeout)
        try:
            self.store.polls.document("health-probe").get(timeout=timeout, retry=retry)
        except (gexc.PermissionDenied, gexc.Unauthenticated) as exc:
            return False, (
                f"Firestore database {database} refused the function's identity ({type(exc).__name__}: "
                f"{str(exc)[:200]}): grant it roles/datastore.user on the database (Terraform does: infra/iam.tf)"
            )
        except gexc.NotFound as exc:
            return False, (
                f"Firestore database {database} does not exist ({str(exc)[:200]}): run terraform apply, or set "
                "PSV_FIRESTORE_DATABASE to the database the connector uses"
            )
        except (gexc.DeadlineExceeded, gexc.RetryError, gexc.ServiceUnavailable, TimeoutError) as exc:
            return False, (
                f"Firestore database {database} did not answer within {timeout:.0f} s ({type(exc).__name__}): it is "
                "stalled or unreachable (an outage or the network path, not a missing permission); retry, and check "
                "Firestore's status and the function's egress"
            )
        except Exception as exc:  # noqa: BLE001 - any other failure is the check's answer
            return False, f"Firestore database {database} failed the probe ({type(exc).__name__}: {str(exc)[:200]})"
        return True, f"Firestore database {database} answers"

    def topic_permissions(
        self, topic: str, permissions: list[str], function: str = "poll", *, timeout: float = 10.0
    ) -> tuple[bool | None, str]:
        identity = dict(self.settings.function_identities).get(function, "")
        who = identity or "the health function's own identity"
        emulated = bool(os.environ.get("PUBSUB_EMULATOR_HOST"))
        try:
            if identity and not emulated:
                granted = _troubleshoot(identity, f"//pubsub.googleapis.com/{topic}", permissions, timeout)
            else:
                granted = self._test_topic(topic, permissions, emulated, timeout)
        except _NotFound:
            return False, f"status topic {topic} does not exist: run terraform apply (topic status_topic)"
        except _Unanswered as exc:
            return None, str(exc)
        except Exception as exc:  # noqa: BLE001
            return False, f"testing {function}'s permissions on {topic} as {who} failed: {str(exc)[:300]}"
        missing = sorted(set(permissions) - granted)
        if missing:
            return False, (
                f"{who} ({function}) lacks {', '.join(missing)} on {topic}: grant roles/pubsub.publisher on the "
                "topic (Terraform does: infra/iam.tf, topic_publishers)"
            )
        return True, f"{who} ({function}) may publish to the status topic {topic}"

    def _test_topic(self, topic: str, permissions: list[str], emulated: bool, timeout: float) -> set[str]:
        from google.api_core import exceptions as gexc
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        try:
            client = pubsub_v1.PublisherClient()
            response = client.test_iam_permissions(
                request={"resource": topic, "permissions": permissions}, timeout=timeout, retry=None
            )
        except (gexc.MethodNotImplemented, gexc.NotFound) as exc:
            if emulated:
                raise _Unanswered(
                    f"the Pub/Sub emulator cannot test IAM permissions ({type(exc).__name__}); not checked"
                ) from exc
            raise _NotFound(topic) from exc
        return set(response.permissions)

    def project_permissions(
        self, project: str, permissions: list[str], function: str, *, timeout: float = 10.0
    ) -> tuple[bool | None, str]:
        identity = dict(self.settings.function_identities).get(function, "")
        who = identity or "the health function's own identity"
        try:
            granted = self._test(project, permissions, identity, timeout)
        except Exception as exc:  # noqa: BLE001
            fix = (
                "; health asks Policy Troubleshooter and needs resourcemanager.projects.getIamPolicy and iam.roles.get "
                "there (Terraform: its custom role) and policytroubleshooter.googleapis.com enabled in its project"
                if identity and not self.settings.vertex_endpoint.startswith("http://")
                else ""
            )
            return False, f"testing {function}'s permissions in {project} as {who} failed: {str(exc)[:300]}{fix}"
        missing = [p for p in permissions if p not in granted]
        if missing:
            member = f"serviceAccount:{identity}" if identity else "<the function's service account>"
            return False, (
                f"{who} ({function}) lacks {', '.join(missing)} in project {project}: add {project} to the Terraform "
                f"variable vertex_projects and apply (it grants the {function} function's custom role there), or "
                f"gcloud projects add-iam-policy-binding {project} --member={member} "
                f"--role=<the {function} custom role>"
            )
        return True, f"{who} ({function}) holds the {len(permissions)} permissions it needs in {project}"

    def _test(self, project: str, permissions: list[str], identity: str, timeout: float) -> set[str]:
        endpoint = self.settings.vertex_endpoint
        body = {"permissions": permissions}
        if endpoint.startswith("http://"):
            import requests

            response = requests.post(f"{endpoint}/v3/projects/{project}:testIamPermissions", json=body, timeout=timeout)
        elif identity:
            resource = f"//cloudresourcemanager.googleapis.com/projects/{project}"
            return _troubleshoot(identity, resource, permissions, timeout)
        else:
            from google.auth.transport.requests import AuthorizedSession

            response = AuthorizedSession(_credentials()).post(  # type: ignore[no-untyped-call]
                f"{CRM}/v3/projects/{project}:testIamPermissions", json=body, timeout=timeout
            )
        response.raise_for_status()
        return set(response.json().get("permissions") or [])

    def hint_sink(self, project: str, sink: str, topic: str, *, timeout: float = 10.0) -> tuple[bool | None, str]:
        name = f"projects/{project}/sinks/{sink}"
        if self.settings.vertex_endpoint.startswith("http://"):
            return None, (
                f"hints sink {name}: the local emulators have no Cloud Logging sinks API (the local stack's log "
                f"router stand-in routes the entries to {topic}); not checked"
            )
        from google.auth.transport.requests import AuthorizedSession

        try:
            response = AuthorizedSession(_credentials()).get(  # type: ignore[no-untyped-call]
                f"{LOGGING}/{name}", timeout=timeout / 2
            )
        except Exception as exc:  # noqa: BLE001 - the check's answer
            return False, f"reading the hints sink {name} failed: {type(exc).__name__}: {str(exc)[:300]}"
        if response.status_code == 404:
            return False, (
                f"hints sink {name} does not exist: Vertex AI's job-state entries of {project} reach no hint (only "
                f"the poll tick sees changes there); run terraform apply with hints_enabled = true and {project} in "
                f"vertex_projects (infra/hints.tf), or gcloud logging sinks create {sink} "
                f"pubsub.googleapis.com/{topic} --project={project} --log-filter='<the filter in infra/hints.tf>' "
                "and grant its writer identity roles/pubsub.publisher on the topic"
            )
        if response.status_code in (401, 403):
            return False, (
                f"the health function's identity may not read the hints sink {name} (logging.sinks.get, HTTP "
                f"{response.status_code}): add {project} to the Terraform variable vertex_projects and apply (health's "
                "custom role there holds logging.sinks.get)"
            )
        if response.status_code >= 400:
            return False, f"reading the hints sink {name} failed: HTTP {response.status_code}: {response.text[:300]}"
        body = response.json()
        writer, destination = str(body.get("writerIdentity") or ""), str(body.get("destination") or "")
        if destination != f"pubsub.googleapis.com/{topic}":
            return False, (
                f"hints sink {name} routes to {destination or 'nothing'}, not to the hints topic {topic}: run "
                f"terraform apply, or gcloud logging sinks update {sink} pubsub.googleapis.com/{topic} "
                f"--project={project}"
            )
        if body.get("disabled"):
            return False, f"hints sink {name} is disabled: it routes nothing; run terraform apply (infra/hints.tf)"
        if not writer:
            return False, f"hints sink {name} has no writer identity: recreate it with terraform apply (infra/hints.tf)"
        return _writer_may_publish(name, writer, topic, timeout / 2)


def _writer_may_publish(name: str, writer: str, topic: str, timeout: float) -> tuple[bool | None, str]:
    """Whether the sink's writer identity holds pubsub.topics.publish on the hints topic (Policy Troubleshooter)."""
    grant = f"gcloud pubsub topics add-iam-policy-binding {topic} --member={writer} --role=roles/pubsub.publisher"
    try:
        held = _troubleshoot(
            writer.split(":", 1)[-1], f"//pubsub.googleapis.com/{topic}", ["pubsub.topics.publish"], timeout
        )
    except _NotFound:
        return False, f"hints topic {topic} does not exist: run terraform apply (infra/pubsub.tf, topic hints)"
    except Exception as exc:  # noqa: BLE001
        return False, (
            f"testing whether {writer}, the writer identity of hints sink {name}, may publish to {topic} failed: "
            f"{str(exc)[:300]}; health asks Policy Troubleshooter and needs pubsub.topics.getIamPolicy on the topic "
            "(Terraform: its custom role health_inspect) and policytroubleshooter.googleapis.com enabled"
        )
    if not held:
        return False, (
            f"{writer}, the writer identity of hints sink {name}, lacks pubsub.topics.publish on {topic}: the sink's "
            f"exports fail and no hint arrives; {grant} (Terraform does: infra/hints.tf, hints_sink_writer)"
        )
    return True, f"hints sink {name} routes to {topic} and its writer identity {writer} may publish there"


class _NotFound(Exception):
    pass


class _Unanswered(Exception):
    """This environment cannot answer the check: reported as skipped, never as ok."""


def _credentials() -> Any:
    """The health function's own application default credentials (it never holds another identity's)."""
    import google.auth

    credentials, _ = google.auth.default(scopes=SCOPES)
    return credentials


def _troubleshoot(principal: str, resource: str, permissions: list[str], timeout: float = 10.0) -> set[str]:
    """The permissions `principal` holds on `resource` according to Policy Troubleshooter, one call per permission.

    `overallAccessState` CAN_ACCESS counts as held and CANNOT_ACCESS as missing. UNKNOWN_INFO (health may not read
    every policy involved, e.g. the organisation's deny policies) falls back to the allow policies it can read:
    `allowPolicyExplanation.allowAccessState` ALLOW_ACCESS_STATE_GRANTED counts as held (these are where Terraform
    grants), anything else as missing.
    """
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(_credentials())  # type: ignore[no-untyped-call]

    def held(permission: str) -> bool:
        body = {"accessTuple": {"principal": principal, "fullResourceName": resource, "permission": permission}}
        response = session.post(TROUBLESHOOTER, json=body, timeout=timeout)
        if response.status_code == 404:
            raise _NotFound(resource)
        response.raise_for_status()
        answer = response.json()
        state = answer.get("overallAccessState")
        if state in ("CAN_ACCESS", "CANNOT_ACCESS"):
            return bool(state == "CAN_ACCESS")
        allow = (answer.get("allowPolicyExplanation") or {}).get("allowAccessState")
        return bool(allow == "ALLOW_ACCESS_STATE_GRANTED")

    with ThreadPoolExecutor(max_workers=min(TROUBLESHOOT_WORKERS, max(1, len(permissions)))) as pool:
        answers = list(pool.map(held, permissions))
    return {p for p, ok in zip(permissions, answers, strict=True) if ok}
