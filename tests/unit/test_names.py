"""Strict parsing of `projects/{p}/locations/{l}/customJobs/{id}`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysync_vertex.core.errors import ApiError
from polysync_vertex.core.kinds import CUSTOM, kind_of, run_doc_id
from polysync_vertex.core.names import JobResourceName, check_location, check_project, parent_name

parse_job_name = CUSTOM.parse_name

VALID = "projects/my-proj/locations/us-central1/customJobs/1234567890"


def assert_invalid(value: object, field: str = "externalId") -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_job_name(value, field)
    err = info.value
    assert (err.http, err.status, err.field) == (400, "INVALID_ARGUMENT", field)
    assert err.body() == {"error": {"status": "INVALID_ARGUMENT", "message": err.message, "field": field}}
    return err


def test_parse_valid() -> None:
    job = parse_job_name(VALID, "externalId")
    assert job == JobResourceName("my-proj", "us-central1", "1234567890", "customJobs")
    assert job.resource_name == VALID
    assert job.parent == "projects/my-proj/locations/us-central1" == parent_name("my-proj", "us-central1")


def test_console_url_matches_contract_example() -> None:
    job = parse_job_name("projects/my-proj/locations/us-central1/customJobs/987", "runId")
    assert kind_of(job).console_url(job) == (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1/training/987?project=my-proj"
    )


def test_doc_id_has_no_slash_and_is_unique_per_job() -> None:
    a = parse_job_name(VALID, "runId")
    b = parse_job_name("projects/my-proj/locations/europe-west4/customJobs/1234567890", "runId")
    assert "/" not in run_doc_id(a)
    assert run_doc_id(a) == "my-proj~us-central1~1234567890"
    assert run_doc_id(a) != run_doc_id(b)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "projects/my-proj/locations/us-central1/customJobs/",
        "projects/my-proj/locations/us-central1/customJobs/123/",
        "projects/my-proj/locations/us-central1/customJobs/123/operations/4",
        "/projects/my-proj/locations/us-central1/customJobs/123",
        "v1/projects/my-proj/locations/us-central1/customJobs/123",
        "projects/my-proj/locations/us-central1/customJobs//123",
        "projects/my-proj/locations/us-central1/customJobs/../123",
        "projects/../locations/us-central1/customJobs/123",
        "projects/my-proj/locations/../customJobs/123",
        "projects/my-proj/locations/us-central1/customJobs/..",
        "projects/my-proj%2Flocations%2Fus-central1/customJobs/123",
        "projects/my-proj/locations/us-central1/customJobs/12%2F3",
        "projects/my-proj/locations/us-central1%2F..%2Fx/customJobs/123",
        "projects%2Fmy-proj%2Flocations%2Fus-central1%2FcustomJobs%2F123",
        "projects/my-proj/locations/us-central1/customJobs/12a",
        "projects/my-proj/locations/us-central1/customJobs/abc",
        "projects/my-proj/locations/us-central1/customJobs/-1",
        "projects/my-proj/locations/us-central1/customJobs/1.5",
        "projects/my-proj/locations/us-central1/customJobs/\u0661\u0662",
        "projects/my-proj/locations/us-central1/customJobs/" + "1" * 25,
        "projects/My-Proj/locations/us-central1/customJobs/123",
        "projects/MY-PROJ/locations/us-central1/customJobs/123",
        "projects/my-proj/locations/US-CENTRAL1/customJobs/123",
        "projects/my/locations/us-central1/customJobs/123",
        "projects/my-proj-/locations/us-central1/customJobs/123",
        "projects/1my-proj/locations/us-central1/customJobs/123",
        "projects/my_proj/locations/us-central1/customJobs/123",
        "projects/my-proj/locations/us-central1/trainingPipelines/123",
        "projects/my-proj/locations/us-central1/customjobs/123",
        "projects/my-proj/locations/us-central1/customJobs/123\n",
        "projects/my-proj/locations/us-central1/customJobs/123 ",
        "projects/my-proj\n/locations/us-central1/customJobs/123",
        "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/customJobs/123",
    ],
)
def test_invalid_names(value: str) -> None:
    assert_invalid(value)


@pytest.mark.parametrize("value", [None, 123, ["projects/p"], {"name": VALID}, b"projects/x"])
def test_non_string(value: object) -> None:
    assert_invalid(value, "runId")


def test_field_is_passed_through() -> None:
    assert_invalid("nope", "attributes.template")


def test_message_is_bounded_for_huge_input() -> None:
    assert len(assert_invalid("x" * 100_000).message) < 500


@pytest.mark.parametrize("project", ["my-proj", "abcdef", "a" * 30, "p-1234567890"])
def test_check_project_valid(project: str) -> None:
    assert check_project(project, "project") == project


@pytest.mark.parametrize("project", ["", "abc", "a" * 31, "Proj-1", "proj_1", "proj-", "1proj", "proj-1\n", None, 5])
def test_check_project_invalid(project: object) -> None:
    with pytest.raises(ApiError) as info:
        check_project(project, "project")
    assert (info.value.http, info.value.field) == (400, "project")


@pytest.mark.parametrize("location", ["us-central1", "europe-west4", "asia-northeast1", "global"])
def test_check_location_valid(location: str) -> None:
    assert check_location(location, "location") == location


@pytest.mark.parametrize("location", ["", "u", "US-central1", "us_central1", "us-central1-", "../x", "us-central1\n"])
def test_check_location_invalid(location: str) -> None:
    with pytest.raises(ApiError) as info:
        check_location(location, "location")
    assert (info.value.http, info.value.field) == (400, "location")


@given(st.text(max_size=120))
def test_property_parse_is_exact_or_400(value: str) -> None:
    """Whatever the text, the parser either returns a name that prints back exactly or answers 400."""
    try:
        job = parse_job_name(value, "f")
    except ApiError as err:
        assert (err.http, err.field) == (400, "f")
    else:
        assert job.resource_name == value


@given(
    project=st.from_regex(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True),
    location=st.from_regex(r"[a-z][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True),
    job_id=st.from_regex(r"[0-9]{1,24}", fullmatch=True),
)
def test_property_valid_names_round_trip(project: str, location: str, job_id: str) -> None:
    name = f"projects/{project}/locations/{location}/customJobs/{job_id}"
    job = parse_job_name(name, "f")
    assert (job.project, job.location, job.job_id, job.resource_name) == (project, location, job_id, name)
    assert "/" not in run_doc_id(job)
