"""Collection names and id patterns of the emulated Vertex AI v1 resources (a leaf: imports nothing of the package).

Ids as the v1 REST reference describes them: CustomJob, BatchPredictionJob and operation ids are numbers assigned
by Vertex AI (int64); a PipelineJob id is chosen by the caller (``pipelineJobId``, "[a-z0-9][a-z0-9-]{0,127}") or
generated from the pipeline name.
"""

from __future__ import annotations

import re

CUSTOM_JOBS = "customJobs"
PIPELINE_JOBS = "pipelineJobs"
BATCH_PREDICTION_JOBS = "batchPredictionJobs"
# collection (URL segment) -> resource message name
KINDS: dict[str, str] = {
    CUSTOM_JOBS: "CustomJob",
    PIPELINE_JOBS: "PipelineJob",
    BATCH_PREDICTION_JOBS: "BatchPredictionJob",
}
COLLECTIONS: tuple[str, ...] = tuple(KINDS)

PIPELINE_JOB_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
NUMERIC_ID = re.compile(r"^[0-9]{1,19}$")


def job_name(project: str, location: str, collection: str, job_id: str) -> str:
    return f"projects/{project}/locations/{location}/{collection}/{job_id}"
