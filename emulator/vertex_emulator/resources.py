"""Every emulated job collection, by its URL segment (each defined in its own module, see :mod:`.collection`)."""

from __future__ import annotations

from .batch_prediction_jobs import BATCH_PREDICTION_JOBS
from .collection import Resource
from .custom_jobs import CUSTOM_JOBS
from .pipeline_jobs import PIPELINES

RESOURCES: dict[str, Resource] = {r.collection: r for r in (CUSTOM_JOBS, PIPELINES, BATCH_PREDICTION_JOBS)}


def api_methods() -> tuple[str, ...]:
    return tuple(m for r in RESOURCES.values() for m in r.methods) + ("GetOperation",)
