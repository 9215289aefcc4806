"""Vertex AI faults of a chaos run, through the emulator's admin API."""

from __future__ import annotations

from typing import Any

from vertex_emulator.admin import AdminClient

from .config import ChaosConfig


def add_vertex_faults(admin: AdminClient, config: ChaosConfig, seed: int) -> None:
    """~`vertex_error_ratio` of calls fail (503 and 429 half each), some are slow, a few creates time out.

    The emulator applies the first registered fault that fires, so the later ratios are of what is left. A held
    create sleeps in the emulator first and is then carried out: Vertex AI accepts it after the connector gave up.
    """
    for count, seconds, offset in (
        (config.very_slow_creates, config.very_slow_create_seconds, 11),
        (config.slow_creates, 2 * config.request_budget, 12),
    ):
        if count:
            admin.add_fault(
                method="CreateCustomJob", latency_ms=seconds * 1000, ratio=0.2, count=count, seed=seed + offset
            )
    if config.create_timeouts:
        # Longer than the whole request budget: the connector's call times out, the emulator then creates the job.
        admin.add_fault(
            method="CreateCustomJob",
            latency_ms=(config.request_budget + 3) * 1000,
            ratio=0.1,
            count=config.create_timeouts,
            seed=seed,
        )
    if config.other_create_timeouts:
        # The same for the other two types (fewer of their runs: a higher ratio). A Pipeline Job's retried create
        # answers ALREADY_EXISTS (its id is derived from the request); a Batch Prediction Job's is found by label.
        for offset, method in ((13, "CreatePipelineJob"), (14, "CreateBatchPredictionJob")):
            admin.add_fault(
                method=method,
                latency_ms=(config.request_budget + 3) * 1000,
                ratio=0.3,
                count=config.other_create_timeouts,
                seed=seed + offset,
            )
    half = config.vertex_error_ratio / 2
    admin.add_fault(method="*", http_status=503, status="UNAVAILABLE", ratio=half, seed=seed + 1)
    admin.add_fault(method="*", http_status=429, status="RESOURCE_EXHAUSTED", ratio=half / (1 - half), seed=seed + 2)
    admin.add_fault(method="*", latency_ms=2500, ratio=0.03, seed=seed + 3)
    admin.add_fault(method="*", latency_ms=300, ratio=0.15, seed=seed + 4)


def longest_create_hold(config: ChaosConfig) -> float:
    """Seconds the longest held create may take to land."""
    holds = [config.request_budget + 3 if config.create_timeouts or config.other_create_timeouts else 0.0]
    holds += [2 * config.request_budget if config.slow_creates else 0.0]
    holds += [config.very_slow_create_seconds if config.very_slow_creates else 0.0]
    return max(holds)


def fault_kind(fault: dict[str, Any], config: ChaosConfig) -> str:
    """503, 429, slow (any call), timeout (a create past the budget), slow-create, very-slow-create; a held
    CreatePipelineJob / CreateBatchPredictionJob is pipeline-timeout / batch-timeout."""
    if fault.get("httpStatus"):
        return str(fault["httpStatus"])
    method = fault.get("method")
    if method == "CreatePipelineJob":
        return "pipeline-timeout"
    if method == "CreateBatchPredictionJob":
        return "batch-timeout"
    if method != "CreateCustomJob":
        return "slow"
    seconds = float(fault.get("latencyMs") or 0) / 1000
    if config.very_slow_creates and seconds >= config.very_slow_create_seconds:
        return "very-slow-create"
    if config.slow_creates and seconds >= 2 * config.request_budget:
        return "slow-create"
    return "timeout"


FAULT_KINDS = ("503", "429", "slow", "timeout", "slow-create", "very-slow-create", "pipeline-timeout", "batch-timeout")
