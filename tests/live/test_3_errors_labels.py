"""Error bodies in the shape the adapter maps (400 with field violations, 404), and Vertex AI's label rules."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from polysync_vertex.core.errors import UpstreamError

from .support import Jobs, custom_job, error_body, labels
from .target import Target, facts

pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]
FACTS = facts()


def _adapter(target: Target) -> Any:
    from polysync_vertex.adapters.vertex import VertexJobs

    return VertexJobs(endpoint="" if target.live else target.api_endpoint)


def _google_error(body: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """Google's JSON error form: {"error": {"code": <HTTP>, "message", "status": <canonical name>, "details"?}}."""
    error = body.get("error")
    assert isinstance(error, dict), body
    assert (error.get("code"), error.get("status")) == (want["http"], want["status"]), error
    assert isinstance(error.get("message"), str) and error["message"]
    return error


@pytest.mark.fact("errors")
def test_400_names_the_field_in_a_bad_request_detail(target: Target, jobs: Jobs, record: Any) -> None:
    """An unknown field in a create body: the front end's INVALID_ARGUMENT with a google.rpc.BadRequest detail.
    Sent as raw REST JSON (a generated client cannot send an unknown field); nothing is created."""
    want = FACTS["errors"]["invalid_argument"]
    body = type(custom_job(target, "psv-live-bad", seconds=1, scenario="SUCCEEDED")).to_dict(
        custom_job(target, "psv-live-bad", seconds=1, scenario="SUCCEEDED"), preserving_proto_field_name=False
    )
    body["psvLiveNoSuchField"] = 1
    url = f"{target.api_endpoint}/v1/{target.parent}/customJobs"
    response = jobs.create(lambda: _NoJob(target.http().post(url, json=body, timeout=60)))
    error = _google_error(response.json(), want)
    violations = [
        v
        for d in error.get("details") or []
        if d.get("@type") == want["detail_type"]
        for v in d.get("fieldViolations", [])
    ]
    record(http=response.status_code, status=error["status"], message=error["message"][:300], violations=violations)
    # ESF's form: the violation's field is the message holding the unknown name, its description names it.
    assert violations and all(v.get("field") and v.get("description") for v in violations), error
    assert any("psvLiveNoSuchField" in v["description"] for v in violations), violations


@pytest.mark.fact("errors")
def test_404_through_the_adapter(target: Target, jobs: Jobs, record: Any) -> None:
    want = FACTS["errors"]["not_found"]
    name = f"{target.parent}/customJobs/1"
    with pytest.raises(gexc.NotFound) as raw:
        jobs.jobs.get_custom_job(name=name)
    error = _google_error(error_body(raw.value), want)
    with pytest.raises(UpstreamError) as mapped:
        _adapter(target).get(name, time.monotonic() + 60)
    record(http=raw.value.code, status=error["status"], message=error["message"][:300], mapped=mapped.value.code)
    assert mapped.value.code == want["status"]


@pytest.mark.fact("labels")
def test_the_connectors_labels_come_back_unchanged(target: Target, succeeded_job: Any, record: Any) -> None:
    """The label set the connector gives every job (request key, job name, shard; core/jobs.py) is accepted and
    returned as sent (the poller and the templates filter on it)."""
    record(labels=dict(succeeded_job.labels))
    assert dict(succeeded_job.labels) == labels(target, f"live-{target.session}-ok", "psv-live-ok")


def _refused(target: Target, jobs: Jobs, job_labels: dict[str, str]) -> dict[str, Any]:
    body = custom_job(target, "psv-live-label", seconds=1, scenario="SUCCEEDED", job_labels=job_labels)
    with pytest.raises(gexc.GoogleAPICallError) as raw:
        jobs.create(lambda: jobs.jobs.create_custom_job(parent=target.parent, custom_job=body))
    return _google_error(error_body(raw.value), FACTS["labels"]["rejected"])


@pytest.mark.fact("labels")
def test_label_rules(target: Target, jobs: Jobs, record: Any) -> None:
    fact = FACTS["labels"]
    upper = _refused(target, jobs, {"Upper": "v"})
    long_value = _refused(target, jobs, {"k": "v" * (fact["max_value_chars"] + 1)})
    too_many = _refused(target, jobs, {f"k{i}": "v" for i in range(fact["max_labels"] + 1)})
    # A key one character too long, through the adapter: mapped to INVALID_ARGUMENT.
    body = custom_job(
        target, "psv-live-label", seconds=1, scenario="SUCCEEDED", job_labels={"k" * (fact["max_key_chars"] + 1): "v"}
    )
    as_json = type(body).to_dict(body, use_integers_for_enums=False, preserving_proto_field_name=False)
    with pytest.raises(UpstreamError) as mapped:
        jobs.create(lambda: _adapter(target).create(target.parent, as_json, time.monotonic() + 60))
    record(
        upper_case_key=upper["message"][:200],
        value_too_long=long_value["message"][:200],
        too_many=too_many["message"][:200],
        key_too_long=mapped.value.code,
    )
    assert mapped.value.code == fact["rejected"]["status"]


class _NoJob:
    """A raw REST answer handed to Jobs.create: remembers a job only if one was (unexpectedly) created."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.name = response.json().get("name", "") if response.ok else ""

    def json(self) -> Any:
        return self.response.json()

    @property
    def status_code(self) -> int:
        return int(self.response.status_code)
