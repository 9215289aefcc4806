"""Strict parsing of Vertex AI resource names: nothing from a request reaches a URL unchecked.

The pattern of a job's name is the same for every job type (`projects/P/locations/L/<collection>/<id>`); which
collections exist and what an id looks like in each is the business of the job kinds (`core/kinds`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import invalid

PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]\Z")
LOCATION_RE = re.compile(r"^[a-z][a-z0-9-]{1,40}[a-z0-9]\Z")
JOB_ID_RE = re.compile(r"^[0-9]{1,24}\Z")
RESOURCE_RE = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/(?P<collection>[A-Za-z]+)/(?P<job_id>[^/]+)\Z"
)


@dataclass(frozen=True)
class JobResourceName:
    """A parsed Vertex AI job resource name (`projects/P/locations/L/<collection>/<id>`); Polysync's free-text
    `jobName` (`SubmitRequest.job_name`) is another thing. The run's document id is its kind's
    (`core.kinds.run_doc_id`)."""

    project: str
    location: str
    job_id: str
    collection: str

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/{self.collection}/{self.job_id}"

    @property
    def parent(self) -> str:
        return parent_name(self.project, self.location)


def parent_name(project: str, location: str) -> str:
    return f"projects/{project}/locations/{location}"


def split_parent(parent: str) -> tuple[str, str]:
    """(project, location) of `projects/P/locations/L`."""
    parts = parent.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "locations":
        raise ValueError(f"not a parent name: {parent!r}")
    return parts[1], parts[3]


def location_of(resource_name: str) -> str:
    """The location segment of `projects/P/locations/L/...`."""
    return resource_name.split("/")[3]


def check_project(project: object, field: str) -> str:
    if not isinstance(project, str) or not PROJECT_RE.match(project):
        raise invalid(f"'{project}' is not a valid Google Cloud project id", field)
    return project


def check_location(location: object, field: str) -> str:
    if not isinstance(location, str) or not LOCATION_RE.match(location):
        raise invalid(f"'{location}' is not a valid Vertex AI location", field)
    return location


def parse_name(
    value: object,
    field: str,
    collections: dict[str, tuple[str, re.Pattern[str], str]],
) -> JobResourceName:
    """Parse `projects/{p}/locations/{l}/{collection}/{id}` for one of `collections`
    ({collection: (resource label, id pattern, id description)}); anything else is INVALID_ARGUMENT."""
    shapes = " or ".join(f"projects/{{project}}/locations/{{location}}/{c}/{{id}}" for c in collections)
    what = " / ".join(label for label, _, _ in collections.values())
    if not isinstance(value, str):
        raise invalid(f"must be a string: {shapes}", field)
    m = RESOURCE_RE.match(value)
    if not m or m["collection"] not in collections:
        raise invalid(f"'{value[:200]}' is not a {what} resource name ({shapes})", field)
    project = check_project(m["project"], field)
    location = check_location(m["location"], field)
    label, id_re, id_text = collections[m["collection"]]
    if not id_re.match(m["job_id"]):
        raise invalid(f"'{m['job_id'][:50]}' is not a {label} id ({id_text})", field)
    return JobResourceName(project, location, m["job_id"], m["collection"])
