"""Strict parsing of Vertex AI resource names: nothing from a request reaches a URL unchecked."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import invalid

PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]\Z")
LOCATION_RE = re.compile(r"^[a-z][a-z0-9-]{1,40}[a-z0-9]\Z")
JOB_ID_RE = re.compile(r"^[0-9]{1,24}\Z")
JOB_NAME_RE = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/customJobs/(?P<job_id>[^/]+)\Z")


@dataclass(frozen=True)
class JobName:
    project: str
    location: str
    job_id: str

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/customJobs/{self.job_id}"

    @property
    def parent(self) -> str:
        return parent_name(self.project, self.location)

    @property
    def doc_id(self) -> str:
        """A Firestore document id for the run (no '/')."""
        return f"{self.project}~{self.location}~{self.job_id}"

    def console_url(self) -> str:
        return (
            f"https://console.cloud.google.com/vertex-ai/locations/{self.location}/training/{self.job_id}"
            f"?project={self.project}"
        )


def parent_name(project: str, location: str) -> str:
    return f"projects/{project}/locations/{location}"


def check_project(project: object, field: str) -> str:
    if not isinstance(project, str) or not PROJECT_RE.match(project):
        raise invalid(f"'{project}' is not a valid Google Cloud project id", field)
    return project


def check_location(location: object, field: str) -> str:
    if not isinstance(location, str) or not LOCATION_RE.match(location):
        raise invalid(f"'{location}' is not a valid Vertex AI location", field)
    return location


def parse_job_name(value: object, field: str) -> JobName:
    """Parse `projects/{p}/locations/{l}/customJobs/{id}`; anything else is INVALID_ARGUMENT."""
    if not isinstance(value, str):
        raise invalid("must be a string: projects/{project}/locations/{location}/customJobs/{id}", field)
    m = JOB_NAME_RE.match(value)
    if not m:
        raise invalid(
            f"'{value[:200]}' is not a CustomJob resource name "
            "(projects/{project}/locations/{location}/customJobs/{id})",
            field,
        )
    project = check_project(m["project"], field)
    location = check_location(m["location"], field)
    if not JOB_ID_RE.match(m["job_id"]):
        raise invalid(f"'{m['job_id'][:50]}' is not a CustomJob id (digits only)", field)
    return JobName(project, location, m["job_id"])
