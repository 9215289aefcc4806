"""The job kinds: one per Vertex AI job type (see `base.JobKind`), and how to find the kind of a name or request."""

from __future__ import annotations

from ..errors import invalid
from ..names import JobResourceName, parse_name
from .base import JobKind, JobRequest
from .batch import BATCH
from .custom import CUSTOM
from .pipeline import PIPELINE

KINDS: tuple[JobKind, ...] = (CUSTOM, PIPELINE, BATCH)
BY_COLLECTION: dict[str, JobKind] = {k.collection: k for k in KINDS}
BY_TYPE: dict[str, JobKind] = {k.job_type: k for k in KINDS}
DEFAULT = CUSTOM
_COLLECTIONS = {k.collection: (k.resource, k.id_pattern, k.id_text) for k in KINDS}

__all__ = [
    "BATCH",
    "BY_COLLECTION",
    "BY_TYPE",
    "CUSTOM",
    "DEFAULT",
    "KINDS",
    "PIPELINE",
    "JobKind",
    "JobRequest",
    "by_collection",
    "by_type",
    "kind_of",
    "of_record",
    "parse_run_name",
    "run_doc_id",
]


def parse_run_name(value: object, field: str) -> tuple[JobKind, JobResourceName]:
    """A job resource name of any kind -> (its kind, the parsed name); anything else is INVALID_ARGUMENT."""
    name = parse_name(value, field, _COLLECTIONS)
    return BY_COLLECTION[name.collection], name


def kind_of(name: JobResourceName) -> JobKind:
    return BY_COLLECTION[name.collection]


def by_type(job_type: object, field: str = "jobType") -> JobKind:
    if job_type is None:
        return DEFAULT
    kind = BY_TYPE.get(job_type) if isinstance(job_type, str) else None
    if kind is None:
        raise invalid(f"jobType must be one of: {', '.join(BY_TYPE)}", field)
    return kind


def of_record(record: dict[str, object]) -> JobKind:
    """The kind of a stored run record (records written before job types existed are Custom Jobs)."""
    return BY_TYPE.get(str(record.get("jobType") or DEFAULT.job_type), DEFAULT)


def by_collection(collection: object) -> JobKind:
    """The kind of a stored collection name (records and claims written before job types existed: Custom Jobs)."""
    return BY_COLLECTION.get(str(collection or ""), DEFAULT)


def run_doc_id(name: JobResourceName) -> str:
    """The Firestore document id of the run of the job `name`: the one way to build it."""
    return kind_of(name).run_doc_id(name.project, name.location, name.job_id)
