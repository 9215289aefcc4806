"""State enums of the emulated resources, from the ``google.cloud.aiplatform_v1`` proto types (a leaf module)."""

from __future__ import annotations

from typing import Any

from google.cloud import aiplatform_v1


def _enum_states(enum: Any) -> dict[str, int]:
    return {member.name: int(member.value) for member in enum}


JOB_STATES = _enum_states(aiplatform_v1.JobState)
JOB_FINAL = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
PIPELINE_STATES = _enum_states(aiplatform_v1.PipelineState)
PIPELINE_FINAL = frozenset({"PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"})
TASK_STATES = _enum_states(aiplatform_v1.PipelineTaskDetail.State)
