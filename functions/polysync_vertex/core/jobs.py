"""Building the CustomJob (Vertex AI v1 REST JSON, camelCase) for a run: clone, override, env, labels."""

from __future__ import annotations

import copy
import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import invalid

if TYPE_CHECKING:
    from .request import SubmitRequest

MAX_DISPLAY_NAME = 128
MAX_ENV_PER_CONTAINER = 100
MAX_LABELS = 64
SHARDS = 64

LABEL_MANAGED_BY = "managed-by"
LABEL_REQUEST = "polysync-request"
LABEL_JOB = "polysync-job"
LABEL_SHARD = "polysync-shard"
MANAGED_BY = "polysync-vertex"

_LABEL_BAD = re.compile(r"[^a-z0-9_-]+")


def request_key(request_id: str) -> str:
    """A label value and Firestore document id derived from the requestId: readable prefix + hash.

    requestIds are case-sensitive and may hold '.' and ':', which labels do not allow, so the hash keeps
    distinct requestIds distinct after normalisation.
    """
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:16]
    readable = _LABEL_BAD.sub("-", request_id.lower()).strip("-_")[:40]
    return f"{readable}-{digest}" if readable else digest


def shard_of(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % SHARDS


def label_value(text: str, fallback: str = "job") -> str:
    """Normalise any text to a GCP label value: lowercase [a-z0-9_-], at most 63 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    value = _LABEL_BAD.sub("-", ascii_text.lower()).strip("-")[:63].strip("-")
    return value or fallback


def display_name(job_name: str, now: datetime) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{job_name[: MAX_DISPLAY_NAME - len(stamp) - 1]}_{stamp}"


def job_labels(template_labels: dict[str, str] | None, key: str, job_name: str) -> dict[str, str]:
    labels = {k: v for k, v in (template_labels or {}).items() if not k.startswith("polysync-")}
    labels.pop(LABEL_MANAGED_BY, None)
    ours = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_REQUEST: key,
        LABEL_JOB: label_value(job_name),
        LABEL_SHARD: f"{shard_of(key):02d}",
    }
    if len(labels) + len(ours) > MAX_LABELS:
        raise invalid(
            f"the template has {len(labels)} labels; with the connector's {len(ours)} that exceeds Vertex AI's "
            f"limit of {MAX_LABELS}",
            "externalId",
        )
    labels.update(ours)
    return labels


def _apply_env(spec: dict[str, Any], request: SubmitRequest, pool_index: int) -> None:
    params = [p for p in request.parameters if p.value is not None]
    if not params:
        return
    env = [e for e in spec.get("env", []) if e.get("name") not in {p.name for p in params}]
    env.extend({"name": p.name, "value": p.value} for p in params)
    if len(env) > MAX_ENV_PER_CONTAINER:
        offender = request.parameters.index(params[-1])
        raise invalid(
            f"worker pool {pool_index} would have {len(env)} environment variables with the template's own; "
            f"Vertex AI allows {MAX_ENV_PER_CONTAINER} per container (parameter {params[-1].name})",
            f"parameters[{offender}]",
        )
    spec["env"] = env


def _apply_attributes(pool0: dict[str, Any], attrs: dict[str, Any]) -> None:
    machine = pool0.setdefault("machineSpec", {})
    if "machineType" in attrs:
        machine["machineType"] = attrs["machineType"]
    if "acceleratorType" in attrs:
        if attrs["acceleratorType"] in ("", "ACCELERATOR_TYPE_UNSPECIFIED"):
            machine.pop("acceleratorType", None)
            machine.pop("acceleratorCount", None)
        else:
            machine["acceleratorType"] = attrs["acceleratorType"]
            machine.setdefault("acceleratorCount", 1)
    if "acceleratorCount" in attrs:
        if attrs["acceleratorCount"] == 0:
            machine.pop("acceleratorType", None)
            machine.pop("acceleratorCount", None)
        else:
            if "acceleratorType" not in machine:
                raise invalid("acceleratorCount needs acceleratorType", "attributes.acceleratorCount")
            machine["acceleratorCount"] = attrs["acceleratorCount"]
    if "replicaCount" in attrs:
        pool0["replicaCount"] = str(attrs["replicaCount"])
    if "containerImageUri" in attrs:
        if "pythonPackageSpec" in pool0:
            pool0["pythonPackageSpec"]["executorImageUri"] = attrs["containerImageUri"]
        else:
            pool0.setdefault("containerSpec", {})["imageUri"] = attrs["containerImageUri"]


def build_job(
    request: SubmitRequest,
    template: dict[str, Any] | None,
    key: str,
    now: datetime,
) -> dict[str, Any]:
    """The CustomJob to create. `template` is the template CustomJob as Vertex AI returned it (JSON)."""
    attrs = request.attributes
    if template is not None:
        job_spec = copy.deepcopy(template.get("jobSpec") or {})
        pools = job_spec.get("workerPoolSpecs") or []
        if not pools:
            raise invalid("the template has no worker pools", "externalId")
        if "workerPoolCount" in attrs and attrs["workerPoolCount"] != len(pools):
            raise invalid(
                f"workerPoolCount is {attrs['workerPoolCount']} but the template has {len(pools)} worker pools",
                "attributes.workerPoolCount",
            )
        kind = "pythonPackage" if "pythonPackageSpec" in pools[0] else "container"
        if "poolType" in attrs and attrs["poolType"] != kind:
            raise invalid(f"poolType is {attrs['poolType']} but the template's pool 0 is {kind}", "attributes.poolType")
        template_labels = template.get("labels")
        encryption = template.get("encryptionSpec")
    else:
        machine: dict[str, Any] = {"machineType": attrs["machineType"]}
        job_spec = {
            "workerPoolSpecs": [
                {"machineSpec": machine, "replicaCount": "1", "containerSpec": {"imageUri": attrs["containerImageUri"]}}
            ]
        }
        template_labels = None
        encryption = None
    pools = job_spec["workerPoolSpecs"]
    _apply_attributes(pools[0], attrs)
    if "timeout" in attrs:
        job_spec.setdefault("scheduling", {})["timeout"] = attrs["timeout"]
    if "serviceAccount" in attrs:
        job_spec["serviceAccount"] = attrs["serviceAccount"]
    if "network" in attrs:
        job_spec["network"] = attrs["network"]
    for index, pool in enumerate(pools):
        if not pool:
            continue  # an empty placeholder pool of a distributed job
        spec = pool.get("containerSpec") if "containerSpec" in pool else pool.get("pythonPackageSpec")
        if spec is not None:
            _apply_env(spec, request, index)
    job: dict[str, Any] = {
        "displayName": display_name(request.job_name, now),
        "jobSpec": job_spec,
        "labels": job_labels(template_labels, key, request.job_name),
    }
    if encryption:
        job["encryptionSpec"] = copy.deepcopy(encryption)
    return job
