"""health tests other functions' permissions without their credentials (issue 27, point 10): for an identity that
PSV_FUNCTION_IDENTITIES names, it asks Policy Troubleshooter (v3 `iam:troubleshoot`, one permission per call) with
its own credentials; it never mints a token of another identity. An identity not named is tested as its own with
`testIamPermissions`. No I/O: the HTTP session and the Pub/Sub client are replaced by recorders that answer as the
v3 API does (googleapis google/cloud/policytroubleshooter/iam/v3/troubleshooter.proto)."""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

import pytest

from polysync_vertex.adapters import probes
from polysync_vertex.config import Settings

TOPIC = "projects/p/topics/status"
POLL = "poll@p.iam.gserviceaccount.com"
SUBMIT = "submit@p.iam.gserviceaccount.com"


class Recorder:
    """Pub/Sub publisher client: records the credentials it was built with and the permissions asked."""

    instances: list[Recorder] = []

    def __init__(self, credentials: Any = None) -> None:
        self.credentials = credentials
        self.asked: dict[str, Any] = {}
        Recorder.instances.append(self)

    def test_iam_permissions(self, request: dict[str, Any], timeout: float, retry: Any = None) -> Any:
        self.asked = request

        class Response:
            permissions: list[str] = []

        return Response()


class Answer:
    def __init__(self, body: dict[str, Any], status: int = 200) -> None:
        self.body = body
        self.status_code = status

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")

    def json(self) -> dict[str, Any]:
        return self.body


class Troubleshooter:
    """AuthorizedSession stand-in: answers iam:troubleshoot per permission from a table, records every request."""

    answers: dict[str, dict[str, Any]] = {}
    requests: list[tuple[str, dict[str, Any]]] = []
    credentials: list[Any] = []

    def __init__(self, credentials: Any) -> None:
        Troubleshooter.credentials.append(credentials)

    sinks: dict[str, dict[str, Any]] = {}  # Cloud Logging projects.sinks.get: name -> LogSink
    gets: list[str] = []

    def get(self, url: str, timeout: float) -> Answer:
        Troubleshooter.gets.append(url)
        name = url.removeprefix("https://logging.googleapis.com/v2/")
        if name not in Troubleshooter.sinks:
            return Answer({"error": {"code": 404, "status": "NOT_FOUND"}}, 404)
        return Answer(Troubleshooter.sinks[name])

    def post(self, url: str, json: dict[str, Any], timeout: float) -> Answer:
        Troubleshooter.requests.append((url, json))
        permission = json["accessTuple"]["permission"]
        return Answer(Troubleshooter.answers.get(permission, {"overallAccessState": "CANNOT_ACCESS"}))


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.transport import requests as auth_requests
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    Recorder.instances = []
    Troubleshooter.answers, Troubleshooter.requests, Troubleshooter.credentials = {}, [], []
    Troubleshooter.sinks, Troubleshooter.gets = {}, []
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setattr(pubsub_v1, "PublisherClient", Recorder)
    monkeypatch.setattr(auth_requests, "AuthorizedSession", Troubleshooter)
    monkeypatch.setattr(probes, "_credentials", lambda: "health's own credentials")


def cloud(**identities: str) -> probes.CloudProbes:
    settings = replace(Settings(project="p"), function_identities=tuple(identities.items()))
    return probes.CloudProbes(settings, store=None)


def test_the_topic_is_checked_for_the_poll_identity_through_policy_troubleshooter(fakes: None) -> None:
    ok, detail = cloud(poll=POLL).topic_permissions(TOPIC, ["pubsub.topics.publish"])
    assert Troubleshooter.requests == [
        (
            "https://policytroubleshooter.googleapis.com/v3/iam:troubleshoot",
            {
                "accessTuple": {
                    "principal": POLL,
                    "fullResourceName": "//pubsub.googleapis.com/projects/p/topics/status",
                    "permission": "pubsub.topics.publish",
                }
            },
        )
    ]
    assert Troubleshooter.credentials == ["health's own credentials"], "asked with health's own identity"
    assert Recorder.instances == [], "no Pub/Sub call made as anyone"
    assert ok is False and f"{POLL} (poll) lacks pubsub.topics.publish" in detail


def test_a_granted_publish_is_ok(fakes: None) -> None:
    Troubleshooter.answers = {"pubsub.topics.publish": {"overallAccessState": "CAN_ACCESS"}}
    ok, detail = cloud(poll=POLL).topic_permissions(TOPIC, ["pubsub.topics.publish"])
    assert ok is True and "may publish" in detail


def test_project_permissions_count_what_the_allow_policies_grant(fakes: None) -> None:
    # CAN_ACCESS: held; UNKNOWN_INFO (deny policies unreadable) with the allow policies granting: held; CANNOT_ACCESS
    # and UNKNOWN_INFO without an allow grant: missing.
    Troubleshooter.answers = {
        "aiplatform.customJobs.create": {"overallAccessState": "CAN_ACCESS"},
        "aiplatform.customJobs.get": {
            "overallAccessState": "UNKNOWN_INFO",
            "allowPolicyExplanation": {"allowAccessState": "ALLOW_ACCESS_STATE_GRANTED"},
        },
        "aiplatform.customJobs.list": {
            "overallAccessState": "UNKNOWN_INFO",
            "allowPolicyExplanation": {"allowAccessState": "ALLOW_ACCESS_STATE_UNKNOWN_INFO"},
        },
        "aiplatform.pipelineJobs.create": {"overallAccessState": "CANNOT_ACCESS"},
    }
    needed = list(Troubleshooter.answers)
    ok, detail = cloud(submit=SUBMIT).project_permissions("vp", needed, "submit")
    tuples = [body["accessTuple"] for _, body in Troubleshooter.requests]
    asked = [(t["principal"], t["fullResourceName"]) for t in tuples]
    assert asked == [(SUBMIT, "//cloudresourcemanager.googleapis.com/projects/vp")] * 4
    assert sorted(body["accessTuple"]["permission"] for _, body in Troubleshooter.requests) == sorted(needed)
    assert ok is False
    assert f"{SUBMIT} (submit) lacks aiplatform.customJobs.list, aiplatform.pipelineJobs.create in project vp" in detail


def test_all_granted_is_ok(fakes: None) -> None:
    Troubleshooter.answers = {p: {"overallAccessState": "CAN_ACCESS"} for p in ("a.b.c", "d.e.f")}
    ok, detail = cloud(submit=SUBMIT).project_permissions("vp", ["a.b.c", "d.e.f"], "submit")
    assert ok is True and "holds the 2 permissions it needs in vp" in detail


def test_a_troubleshooter_refusal_names_what_health_needs(fakes: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Troubleshooter, "post", lambda self, url, json, timeout: Answer({}, status=403))
    ok, detail = cloud(submit=SUBMIT).project_permissions("vp", ["aiplatform.customJobs.create"], "submit")
    assert ok is False and "resourcemanager.projects.getIamPolicy and iam.roles.get" in detail


def test_without_a_named_poll_identity_the_own_identity_is_tested(fakes: None) -> None:
    ok, detail = cloud().topic_permissions(TOPIC, ["pubsub.topics.publish"])
    assert Troubleshooter.requests == [] and Recorder.instances[-1].credentials is None
    assert Recorder.instances[-1].asked == {"resource": TOPIC, "permissions": ["pubsub.topics.publish"]}
    assert ok is False and "the health function's own identity (poll)" in detail


def test_health_never_holds_another_identitys_credentials() -> None:
    source = inspect.getsource(probes)
    assert "impersonated_credentials" not in source and "getAccessToken" not in source
    assert list(inspect.signature(probes._credentials).parameters) == [], "health's own credentials, no one else's"


# --- the hints sink (issue 24): projects.sinks.get, then Policy Troubleshooter for its writer identity --------------

HINTS = "projects/p/topics/hints"
WRITER = "serviceAccount:service-123@gcp-sa-logging.iam.gserviceaccount.com"


def hints_sink(**fields: Any) -> None:
    """A LogSink as Cloud Logging's v2 projects.sinks.get answers it (google/logging/v2/logging_config.proto)."""
    Troubleshooter.sinks["projects/vp/sinks/polysync-vertex-hints"] = {
        "name": "polysync-vertex-hints",
        "destination": f"pubsub.googleapis.com/{HINTS}",
        "filter": 'resource.type="ml_job"',
        "writerIdentity": WRITER,
        **fields,
    }


def test_a_missing_hints_sink_names_the_sink_and_how_to_create_it(fakes: None) -> None:
    ok, detail = cloud().hint_sink("vp", "polysync-vertex-hints", HINTS)
    assert Troubleshooter.gets == ["https://logging.googleapis.com/v2/projects/vp/sinks/polysync-vertex-hints"]
    assert Troubleshooter.credentials == ["health's own credentials"]
    assert ok is False and "projects/vp/sinks/polysync-vertex-hints does not exist" in detail
    assert "hints_enabled = true" in detail and "gcloud logging sinks create polysync-vertex-hints" in detail
    assert Troubleshooter.requests == [], "no writer to ask about"


def test_a_writer_that_may_not_publish_names_the_writer_and_the_grant(fakes: None) -> None:
    hints_sink()
    ok, detail = cloud().hint_sink("vp", "polysync-vertex-hints", HINTS)
    assert [r[1]["accessTuple"] for r in Troubleshooter.requests] == [
        {
            "principal": "service-123@gcp-sa-logging.iam.gserviceaccount.com",
            "fullResourceName": f"//pubsub.googleapis.com/{HINTS}",
            "permission": "pubsub.topics.publish",
        }
    ]
    assert (
        ok is False and f"{WRITER}, the writer identity of hints sink projects/vp/sinks/polysync-vertex-hints" in detail
    )
    assert (
        f"gcloud pubsub topics add-iam-policy-binding {HINTS} --member={WRITER} --role=roles/pubsub.publisher" in detail
    )
    assert "hints_sink_writer" in detail


def test_a_sink_whose_writer_may_publish_to_the_hints_topic_is_ok(fakes: None) -> None:
    hints_sink()
    Troubleshooter.answers = {"pubsub.topics.publish": {"overallAccessState": "CAN_ACCESS"}}
    ok, detail = cloud().hint_sink("vp", "polysync-vertex-hints", HINTS)
    assert ok is True and WRITER in detail and HINTS in detail


@pytest.mark.parametrize(
    ("fields", "wanted"),
    [
        ({"destination": "pubsub.googleapis.com/projects/p/topics/other"}, "not to the hints topic"),
        ({"disabled": True}, "is disabled"),
        ({"writerIdentity": ""}, "has no writer identity"),
    ],
)
def test_a_sink_that_cannot_deliver_hints_fails_without_asking_about_its_writer(
    fakes: None, fields: dict[str, Any], wanted: str
) -> None:
    hints_sink(**fields)
    Troubleshooter.answers = {"pubsub.topics.publish": {"overallAccessState": "CAN_ACCESS"}}
    ok, detail = cloud().hint_sink("vp", "polysync-vertex-hints", HINTS)
    assert ok is False and wanted in detail and Troubleshooter.requests == []


def test_the_hints_sink_is_skipped_against_the_local_emulators(fakes: None) -> None:
    local = probes.CloudProbes(Settings(project="p", vertex_endpoint="http://127.0.0.1:1"), store=None)
    ok, detail = local.hint_sink("vp", "polysync-vertex-hints", HINTS)
    assert ok is None and "no Cloud Logging sinks API" in detail and "not checked" in detail
    assert Troubleshooter.gets == [] and Troubleshooter.requests == []
