"""The Custom Job's jobSpec built from a submit: the template's worker pools cloned (or one pool from attributes),
attributes over pool 0, parameters as environment variables of every pool (Vertex AI's limit of 100 per
container, with the template's own). Used by `custom.py`'s kind; pure."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import invalid
from .base import JobRequest

MAX_ENV_PER_CONTAINER = 100


def _apply_env(spec: dict[str, Any], request: JobRequest, pool_index: int) -> None:
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


def _drop_accelerator(machine: dict[str, Any]) -> None:
    machine.pop("acceleratorType", None)
    machine.pop("acceleratorCount", None)


def _apply_attributes(pool0: dict[str, Any], attributes: dict[str, Any]) -> None:
    machine = pool0.setdefault("machineSpec", {})
    if "machineType" in attributes:
        machine["machineType"] = attributes["machineType"]
    if "acceleratorType" in attributes:
        if attributes["acceleratorType"] in ("", "ACCELERATOR_TYPE_UNSPECIFIED"):
            _drop_accelerator(machine)
        else:
            machine["acceleratorType"] = attributes["acceleratorType"]
            machine.setdefault("acceleratorCount", 1)
    if "acceleratorCount" in attributes:
        if attributes["acceleratorCount"] == 0:
            _drop_accelerator(machine)
        else:
            if "acceleratorType" not in machine:
                raise invalid("acceleratorCount needs acceleratorType", "attributes.acceleratorCount")
            machine["acceleratorCount"] = attributes["acceleratorCount"]
    if "replicaCount" in attributes:
        pool0["replicaCount"] = str(attributes["replicaCount"])
    if "containerImageUri" in attributes:
        if "pythonPackageSpec" in pool0:
            pool0["pythonPackageSpec"]["executorImageUri"] = attributes["containerImageUri"]
        else:
            pool0.setdefault("containerSpec", {})["imageUri"] = attributes["containerImageUri"]


def _job_spec(request: JobRequest, template: dict[str, Any] | None) -> dict[str, Any]:
    """The template's jobSpec (checked against workerPoolCount / poolType), or a single pool from attributes."""
    a = request.attributes
    if template is None:
        machine: dict[str, Any] = {"machineType": a["machineType"]}
        pool = {"machineSpec": machine, "replicaCount": "1", "containerSpec": {"imageUri": a["containerImageUri"]}}
        return {"workerPoolSpecs": [pool]}
    job_spec = copy.deepcopy(template.get("jobSpec") or {})
    pools = job_spec.get("workerPoolSpecs") or []
    if not pools:
        raise invalid("the template has no worker pools", "externalId")
    if "workerPoolCount" in a and a["workerPoolCount"] != len(pools):
        raise invalid(
            f"workerPoolCount is {a['workerPoolCount']} but the template has {len(pools)} worker pools",
            "attributes.workerPoolCount",
        )
    kind = "pythonPackage" if "pythonPackageSpec" in pools[0] else "container"
    if "poolType" in a and a["poolType"] != kind:
        raise invalid(f"poolType is {a['poolType']} but the template's pool 0 is {kind}", "attributes.poolType")
    return job_spec


def job_spec(request: JobRequest, template: dict[str, Any] | None) -> dict[str, Any]:
    """The jobSpec: the template's (or one pool from attributes), attributes over pool 0 and the job-wide settings,
    Input and InputOutput parameters as the env of every pool."""
    attributes = request.attributes
    job_spec = _job_spec(request, template)
    pools = job_spec["workerPoolSpecs"]
    _apply_attributes(pools[0], attributes)
    if "timeout" in attributes:
        job_spec.setdefault("scheduling", {})["timeout"] = attributes["timeout"]
    for field in ("serviceAccount", "network"):
        if field in attributes:
            job_spec[field] = attributes[field]
    for index, pool in enumerate(pools):
        if not pool:
            continue  # an empty placeholder pool of a distributed job
        spec = pool.get("containerSpec") if "containerSpec" in pool else pool.get("pythonPackageSpec")
        if spec is not None:
            _apply_env(spec, request, index)
    return job_spec
