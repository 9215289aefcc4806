"""Enum tables of a CustomJob's job spec (accelerator type, reservation affinity, scheduling strategy).

:func:`normalize_job_spec_enums` rewrites a job spec's enum values to their names and rejects unknown names, as
Vertex AI does; rendering by name or (``$alt=json;enum-encoding=int``) by number is :mod:`.schema`'s.
"""

from __future__ import annotations

from typing import Any

from .errors import invalid_argument

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
