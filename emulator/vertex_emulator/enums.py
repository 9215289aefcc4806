"""Enum tables of the CustomJob resource and their JSON encodings (names or integers).

Jobs are stored with enum *names*. A request that asks for ``$alt=json;enum-encoding=int`` (as the
official REST clients do) gets integers back, any other request gets names, like Vertex AI.
"""

from __future__ import annotations

from typing import Any

from .errors import invalid_argument

JOB_STATES: dict[str, int] = {
    "JOB_STATE_UNSPECIFIED": 0,
    "JOB_STATE_QUEUED": 1,
    "JOB_STATE_PENDING": 2,
    "JOB_STATE_RUNNING": 3,
    "JOB_STATE_SUCCEEDED": 4,
    "JOB_STATE_FAILED": 5,
    "JOB_STATE_CANCELLING": 6,
    "JOB_STATE_CANCELLED": 7,
    "JOB_STATE_PAUSED": 8,
    "JOB_STATE_EXPIRED": 9,
    "JOB_STATE_UPDATING": 10,
    "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
}

FINAL_STATES: frozenset[str] = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)

ACCELERATOR_TYPES: dict[str, int] = {
    "ACCELERATOR_TYPE_UNSPECIFIED": 0,
    "NVIDIA_TESLA_K80": 1,
    "NVIDIA_TESLA_P100": 2,
    "NVIDIA_TESLA_V100": 3,
    "NVIDIA_TESLA_P4": 4,
    "NVIDIA_TESLA_T4": 5,
    "TPU_V2": 6,
    "TPU_V3": 7,
    "NVIDIA_TESLA_A100": 8,
    "NVIDIA_A100_80GB": 9,
    "TPU_V4_POD": 10,
    "NVIDIA_L4": 11,
    "TPU_V5_LITEPOD": 12,
    "NVIDIA_H100_80GB": 13,
    "NVIDIA_H100_MEGA_80GB": 14,
    "NVIDIA_H200_141GB": 15,
    "NVIDIA_B200": 16,
    "NVIDIA_GB200": 17,
    "NVIDIA_RTX_PRO_6000": 18,
}

RESERVATION_AFFINITY_TYPES: dict[str, int] = {
    "TYPE_UNSPECIFIED": 0,
    "NO_RESERVATION": 1,
    "ANY_RESERVATION": 2,
    "SPECIFIC_RESERVATION": 3,
}

SCHEDULING_STRATEGIES: dict[str, int] = {
    "STRATEGY_UNSPECIFIED": 0,
    "ON_DEMAND": 1,
    "LOW_COST": 2,
    "STANDARD": 3,
    "SPOT": 4,
    "FLEX_START": 6,
}


def _to_name(value: Any, table: dict[str, int], where: str) -> Any:
    if isinstance(value, bool):
        raise invalid_argument(f"Invalid value at '{where}' (TYPE_ENUM), {value!r}")
    if isinstance(value, int):
        for name, number in table.items():
            if number == value:
                return name
        return value  # proto3 enums are open: keep unknown numbers as they are
    if isinstance(value, str):
        if value in table:
            return value
        raise invalid_argument(f"Invalid value at '{where}' (TYPE_ENUM), \"{value}\"")
    raise invalid_argument(f"Invalid value at '{where}' (TYPE_ENUM), {value!r}")


def _to_number(value: Any, table: dict[str, int]) -> Any:
    if isinstance(value, str) and value in table:
        return table[value]
    return value


def _enum_sites(job_spec: dict[str, Any]) -> list[tuple[dict[str, Any], str, dict[str, int], str]]:
    """Every (container dict, key, table, proto path) where the job spec holds an enum."""
    sites: list[tuple[dict[str, Any], str, dict[str, int], str]] = []
    pools = job_spec.get("workerPoolSpecs")
    if isinstance(pools, list):
        for i, pool in enumerate(pools):
            machine = pool.get("machineSpec") if isinstance(pool, dict) else None
            if not isinstance(machine, dict):
                continue
            where = f"custom_job.job_spec.worker_pool_specs[{i}].machine_spec"
            if "acceleratorType" in machine:
                sites.append((machine, "acceleratorType", ACCELERATOR_TYPES, where + ".accelerator_type"))
            affinity = machine.get("reservationAffinity")
            if isinstance(affinity, dict) and "reservationAffinityType" in affinity:
                sites.append(
                    (
                        affinity,
                        "reservationAffinityType",
                        RESERVATION_AFFINITY_TYPES,
                        where + ".reservation_affinity.reservation_affinity_type",
                    )
                )
    scheduling = job_spec.get("scheduling")
    if isinstance(scheduling, dict) and "strategy" in scheduling:
        sites.append((scheduling, "strategy", SCHEDULING_STRATEGIES, "custom_job.job_spec.scheduling.strategy"))
    return sites


def normalize_job_spec_enums(job_spec: dict[str, Any]) -> None:
    """Rewrite enum values of a job spec (in place) to their names; reject unknown names."""
    for holder, key, table, where in _enum_sites(job_spec):
        holder[key] = _to_name(holder[key], table, where)


def job_spec_with_int_enums(job_spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of a (name-encoded) job spec whose enums are integers; shares unchanged parts."""
    sites = _enum_sites(job_spec)
    if not sites:
        return job_spec
    out = dict(job_spec)
    pools = job_spec.get("workerPoolSpecs")
    if isinstance(pools, list):
        new_pools: list[Any] = []
        for pool in pools:
            if isinstance(pool, dict) and isinstance(pool.get("machineSpec"), dict):
                machine = dict(pool["machineSpec"])
                if "acceleratorType" in machine:
                    machine["acceleratorType"] = _to_number(machine["acceleratorType"], ACCELERATOR_TYPES)
                affinity = machine.get("reservationAffinity")
                if isinstance(affinity, dict) and "reservationAffinityType" in affinity:
                    affinity = dict(affinity)
                    affinity["reservationAffinityType"] = _to_number(
                        affinity["reservationAffinityType"], RESERVATION_AFFINITY_TYPES
                    )
                    machine["reservationAffinity"] = affinity
                pool = {**pool, "machineSpec": machine}
            new_pools.append(pool)
        out["workerPoolSpecs"] = new_pools
    scheduling = job_spec.get("scheduling")
    if isinstance(scheduling, dict) and "strategy" in scheduling:
        out["scheduling"] = {**scheduling, "strategy": _to_number(scheduling["strategy"], SCHEDULING_STRATEGIES)}
    return out


def state_name(value: str) -> str:
    """``RUNNING``, ``running`` or ``JOB_STATE_RUNNING`` -> ``JOB_STATE_RUNNING`` (ValueError if unknown)."""
    text = value.strip().upper()
    full = text if text.startswith("JOB_STATE_") else "JOB_STATE_" + text
    if full not in JOB_STATES:
        raise ValueError(f"unknown job state {value!r}")
    return full
