"""Vertex AI Custom Job (`customJobs`): the whole jobSpec cloned, attributes over pool 0, parameters as env vars."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import attributes as attrs
from .. import jobs, templates
from ..names import JOB_ID_RE
from ..states import JOB_STATES
from .base import JobKind

if TYPE_CHECKING:
    from ..request import SubmitRequest


class CustomJobKind(JobKind):
    job_type = "Vertex AI Custom Job"
    collection = "customJobs"
    resource = "CustomJob"
    service = "job"
    id_pattern = JOB_ID_RE
    id_text = "digits only"
    states = JOB_STATES
    console_path = "training"
    attributes = frozenset(attrs.ATTRIBUTES)
    required_without_template = ("machineType", "containerImageUri")
    output_read_mask = ()

    def parse_attributes(self, raw: Any, accelerators: Collection[str] | None = None) -> dict[str, Any]:
        return attrs.parse_attributes(raw, accelerators)

    def build(self, request: SubmitRequest, template: dict[str, Any] | None, key: str, now: datetime) -> dict[str, Any]:
        return jobs.build_job(request, template, key, now)

    def accelerator(self, job: dict[str, Any]) -> str | None:
        pool0 = ((job.get("jobSpec") or {}).get("workerPoolSpecs") or [{}])[0] or {}
        value = (pool0.get("machineSpec") or {}).get("acceleratorType")
        return value if isinstance(value, str) and value else None

    def to_template(self, job: dict[str, Any]) -> dict[str, Any]:
        template = templates.to_template(job)
        template["jobType"] = self.job_type
        template["parameters"] = templates.env_parameters(job)
        return template


CUSTOM = CustomJobKind()
