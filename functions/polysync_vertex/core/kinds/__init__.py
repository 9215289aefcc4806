"""The job kinds: one per Vertex AI job type (see `base.JobKind`), and how to find the kind of a name or request."""

from __future__ import annotations

from ..errors import invalid
from ..names import JobName, parse_name
from .base import JobKind
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
    "by_type",
    "kind_of",
    "parse_run_name",
]


def parse_run_name(value: object, field: str) -> tuple[JobKind, JobName]:
    """A job resource name of any kind -> (its kind, the parsed name); anything else is INVALID_ARGUMENT."""
    name = parse_name(value, field, _COLLECTIONS)
    return BY_COLLECTION[name.collection], name


def kind_of(name: JobName) -> JobKind:
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
