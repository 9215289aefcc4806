"""Vertex AI Custom Job (`customJobs`): the whole jobSpec cloned, attributes over pool 0, parameters as env vars.

The attributes `submit` accepts are exactly those the template reader yields (`ATTRIBUTES`, validated by
`parse_attributes`), so a template imported and submitted with its own attributes and externalId reproduces the
template's jobSpec. A value that `submit` would reject (an unusual service account or network form, say) is left
out of a template's attributes: `submit` clones it from the template unchanged anyway.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from .. import attributes as attrs
from ..errors import ApiError, invalid
from ..links import (
    LINK_BUCKET,
    LINK_EXPERIMENT,
    LINK_IMAGE,
    LINK_KMS_KEY,
    LINK_MODEL,
    LINK_NETWORK,
    LINK_PERSISTENT_RESOURCE,
    LINK_SERVICE_ACCOUNT,
    LINK_TENSORBOARD,
    as_links,
    buckets,
)
from ..names import JOB_ID_RE
from ..outputs import Location, add_outputs_env
from ..shape import as_dict, as_int, as_list, as_str, strings
from ..states import JOB_STATES
from . import custom_spec
from .base import JobKind, JobRequest

# The attributes `submit` accepts for a Custom Job; exactly those the `templates` function yields.
ATTRIBUTES = frozenset(
    {
        "machineType",
        "containerImageUri",
        "replicaCount",
        "acceleratorType",
        "acceleratorCount",
        "timeout",
        "serviceAccount",
        "network",
        "workerPoolCount",
        "poolType",
    }
)
_JOB_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/[A-Za-z]+/[^/]+$")
_PATTERNS = {
    "machineType": attrs.MACHINE_TYPE_RE,
    "containerImageUri": attrs.IMAGE_RE,
    "acceleratorType": attrs.ACCELERATOR_RE,
    "timeout": attrs.DURATION_RE,
    "serviceAccount": attrs.SERVICE_ACCOUNT_RE,
    "network": attrs.NETWORK_RE,
}


def parse_attributes(raw: Any, accelerators: Collection[str] | None = None) -> dict[str, Any]:
    """Validate Custom Job attributes. `accelerators`: the accelerator types Vertex AI knows (from the Vertex AI
    adapter); an unknown one is refused here, before anything is claimed or sent."""
    out: dict[str, Any] = {}
    for key, value, path in attrs.given(raw, ATTRIBUTES):
        if key in ("replicaCount", "workerPoolCount"):
            out[key] = attrs.whole(value, path, 1, 10000)
        elif key == "acceleratorCount":
            out[key] = attrs.whole(value, path, 0, 64)
        else:
            attrs.matching(value, path, key, _PATTERNS.get(key))
            if key == "acceleratorType" and accelerators is not None and value not in accelerators:
                raise invalid(f"'{value}' is not a Vertex AI accelerator type: {', '.join(sorted(accelerators))}", path)
            if key == "poolType" and value not in ("container", "pythonPackage"):
                raise invalid("poolType must be 'container' or 'pythonPackage'", path)
            out[key] = value
    return out


def build_job(request: JobRequest, template: dict[str, Any] | None, key: str, now: datetime) -> dict[str, Any]:
    """The CustomJob to create. `template` is the template CustomJob as Vertex AI returned it (JSON)."""
    job_spec = custom_spec.job_spec(request, template)
    body = CUSTOM.base_body(request, template, key, now)
    job: dict[str, Any] = {"displayName": body["displayName"], "jobSpec": job_spec, "labels": body["labels"]}
    encryption = (template or {}).get("encryptionSpec")
    if encryption:
        job["encryptionSpec"] = copy.deepcopy(encryption)
    return job


# -- reading a CustomJob as a template -------------------------------------------------------------------------
def _pool_spec(pool: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """("container" | "pythonPackage" | "", the spec) of a worker pool."""
    if "pythonPackageSpec" in pool:
        return "pythonPackage", as_dict(pool["pythonPackageSpec"])
    if "containerSpec" in pool:
        return "container", as_dict(pool["containerSpec"])
    return "", {}


def _image(kind: str, spec: dict[str, Any]) -> str:
    return as_str(spec.get("executorImageUri" if kind == "pythonPackage" else "imageUri"))


def template_attributes(job: dict[str, Any]) -> dict[str, Any]:
    """Pool 0's compute spec and the job-wide settings, as `submit` attributes."""
    job_spec = as_dict(job.get("jobSpec"))
    pools = [as_dict(p) for p in as_list(job_spec.get("workerPoolSpecs"))]
    candidates: dict[str, Any] = {}
    if pools:
        pool0 = pools[0]
        kind, spec = _pool_spec(pool0)
        machine = as_dict(pool0.get("machineSpec"))
        candidates["machineType"] = as_str(machine.get("machineType"))
        candidates["containerImageUri"] = _image(kind, spec)
        candidates["replicaCount"] = as_int(pool0.get("replicaCount"))
        accelerator = as_str(machine.get("acceleratorType"))
        count = as_int(machine.get("acceleratorCount"))
        if accelerator and accelerator != "ACCELERATOR_TYPE_UNSPECIFIED" and count > 0:
            candidates["acceleratorType"] = accelerator
            candidates["acceleratorCount"] = count
        candidates["poolType"] = kind
    candidates["timeout"] = as_str(as_dict(job_spec.get("scheduling")).get("timeout"))
    candidates["serviceAccount"] = as_str(job_spec.get("serviceAccount"))
    candidates["network"] = as_str(job_spec.get("network"))
    candidates["workerPoolCount"] = len(pools)
    out: dict[str, Any] = {}
    for key, value in candidates.items():
        if value in ("", 0):
            continue
        try:
            out.update(parse_attributes({key: value}))
        except ApiError:
            continue  # submit would refuse it; the clone of the template carries it unchanged
    return out


def _env_values(spec: dict[str, Any]) -> Iterator[str]:
    for var in as_list(spec.get("env")):
        value = as_dict(var).get("value")
        if isinstance(value, str):
            yield value


def links(job: dict[str, Any]) -> list[dict[str, str]]:
    """Every resource the job depends on, once each, sorted by (type, name)."""
    job_spec = as_dict(job.get("jobSpec"))
    found: set[tuple[str, str]] = set()

    def add(kind: str, name: Any) -> None:
        if isinstance(name, str) and name.strip():
            found.add((kind, name.strip()))

    texts: list[str] = [as_str(as_dict(job_spec.get("baseOutputDirectory")).get("outputUriPrefix"))]
    for pool in as_list(job_spec.get("workerPoolSpecs")):
        kind, spec = _pool_spec(as_dict(pool))
        if not kind:
            continue
        add(LINK_IMAGE, _image(kind, spec))
        for field in ("packageUris", "command", "args"):
            texts.extend(strings(spec.get(field)))
        texts.extend(_env_values(spec))
    for bucket in buckets(texts):
        add(LINK_BUCKET, bucket)
    add(LINK_SERVICE_ACCOUNT, job_spec.get("serviceAccount"))
    add(LINK_NETWORK, job_spec.get("network"))
    add(LINK_KMS_KEY, as_dict(job.get("encryptionSpec")).get("kmsKeyName"))
    for model in strings(job_spec.get("models")):
        add(LINK_MODEL, model)
    add(LINK_TENSORBOARD, job_spec.get("tensorboard"))
    add(LINK_EXPERIMENT, job_spec.get("experiment"))
    resource_id = as_str(job_spec.get("persistentResourceId")).strip()
    located = _JOB_NAME.match(as_str(job.get("name")))
    if resource_id and located:
        add(LINK_PERSISTENT_RESOURCE, f"projects/{located[1]}/locations/{located[2]}/persistentResources/{resource_id}")
    return as_links(found)


def env_parameters(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter schema of a CustomJob template: pool 0's container env (String, Input, its value as default)."""
    pools = as_list(as_dict(job.get("jobSpec")).get("workerPoolSpecs"))
    _, spec = _pool_spec(as_dict(pools[0])) if pools else ("", {})
    out: list[dict[str, Any]] = []
    for var in as_list(spec.get("env")):
        name = as_dict(var).get("name")
        if isinstance(name, str) and name:
            out.append(
                {"name": name, "type": "String", "direction": "Input", "default": as_str(as_dict(var).get("value"))}
            )
    return out


def to_template(job: dict[str, Any]) -> dict[str, Any]:
    """The template Polysync imports for one CustomJob (REST JSON as Vertex AI returns it), but its parameters."""
    template = CUSTOM.template_base(job)
    template["attributes"] = template_attributes(job)
    template["workerPools"] = len(as_list(as_dict(job.get("jobSpec")).get("workerPoolSpecs")))
    template["links"] = links(job)
    template.update(CUSTOM.template_tail(job))
    return template


class CustomJobKind(JobKind):
    job_type = "Vertex AI Custom Job"
    collection = "customJobs"
    # Vertex AI's service lines (task_name "service", label ml.googleapis.com/job_state): seen in public captures
    # (GoogleCloudPlatform/cortex-data-foundation issue 42, kestra-io/kestra issue 6849), not a documented contract.
    hint_resource_type = "ml_job"
    hint_job_id_label = "job_id"
    resource = "CustomJob"
    service = "job"
    id_pattern = JOB_ID_RE
    id_text = "digits only"
    states = JOB_STATES
    console_path = "training"
    attributes = ATTRIBUTES
    required_without_template = ("machineType", "containerImageUri")
    output_read_mask = ()
    template_read_mask = ("name", "display_name", "labels", "state", "create_time", "job_spec", "encryption_spec")

    def stored_id(self, job_id: str) -> str:
        return job_id  # Custom Job runs were stored before other job types existed: their keys keep the bare id

    def parse_attributes(self, raw: Any, accelerators: Collection[str] | None = None) -> dict[str, Any]:
        return parse_attributes(raw, accelerators)

    def build(self, request: JobRequest, template: dict[str, Any] | None, key: str, now: datetime) -> dict[str, Any]:
        return build_job(request, template, key, now)

    outputs_via_file = True

    def add_outputs_file(self, job: dict[str, Any], where: Location) -> None:
        add_outputs_env(job, where, custom_spec.MAX_ENV_PER_CONTAINER)

    def accelerator(self, job: dict[str, Any]) -> str | None:
        pool0 = ((job.get("jobSpec") or {}).get("workerPoolSpecs") or [{}])[0] or {}
        value = (pool0.get("machineSpec") or {}).get("acceleratorType")
        return value if isinstance(value, str) and value else None

    def to_template(self, job: dict[str, Any]) -> dict[str, Any]:
        template = to_template(job)
        template["parameters"] = env_parameters(job)
        return template


CUSTOM = CustomJobKind()
