"""What an emulated job writes to Cloud Logging besides its process output: Vertex AI's own state lines, and the
workload lines a test scripts with ``VERTEX_EMULATOR_LOGS``.

Vertex AI's service lines for a training job (resource ``ml_job``, ``task_name`` "service", log
``ml.googleapis.com%2FJOB_ID``) are ``textPayload`` lines such as "Waiting for job to be provisioned." with labels
``ml.googleapis.com/endpoint`` and, on state lines, ``ml.googleapis.com/job_state`` (public captures of real jobs:
GoogleCloudPlatform/cortex-data-foundation issue 42, kestra-io/kestra issue 6849; not documented as a contract). A
failed job's last service line is at ERROR and carries Vertex AI's wording for the failure, the job's
``error.message`` ("The replica workerpool0-0 exited with a non-zero status of 1. ...", "Understand the training
service": https://cloud.google.com/vertex-ai/docs/training/understanding-training-service).

``VERTEX_EMULATOR_LOGS``: a JSON list of strings (or a JSON text of one), where the job's type puts parameters (pool
0's env, ``runtimeConfig.parameterValues``, ``modelParameters``); each string is one line of the workload, at INFO,
or at ERROR / WARNING when it starts with ``ERROR: `` / ``WARNING: `` (the prefix is kept in the text, as a
process would print it). The lines appear when the job starts running.
"""

from __future__ import annotations

import json
from typing import Any

from .schema_check import violation

LOGS_PARAM = "VERTEX_EMULATOR_LOGS"
PREFIXES = (("ERROR: ", "ERROR"), ("WARNING: ", "WARNING"))
STATE_LABEL = "ml.googleapis.com/job_state"

# JobState suffix -> (severity, Vertex AI's line, the job_state label value).
SERVICE_LINES: dict[str, tuple[str, str, str]] = {
    "QUEUED": ("INFO", "Waiting for job to be provisioned.", "QUEUED"),
    "PENDING": ("INFO", "Job is preparing.", "PREPARING"),
    "RUNNING": ("INFO", "Job is running.", "RUNNING"),
    "SUCCEEDED": ("INFO", "Job completed successfully.", "SUCCEEDED"),
    "CANCELLING": ("INFO", "Job is being cancelled.", "CANCELLING"),
    "CANCELLED": ("INFO", "Job was cancelled.", "CANCELLED"),
    "PAUSED": ("INFO", "Job is paused.", "PAUSED"),
    "UPDATING": ("INFO", "Job is being updated.", "UPDATING"),
    "PARTIALLY_SUCCEEDED": ("WARNING", "Job partially succeeded.", "PARTIALLY_SUCCEEDED"),
}
FAILED_STATES = {"FAILED", "EXPIRED"}


def scripted_lines(value: Any) -> tuple[tuple[str, str], ...] | None:
    """``VERTEX_EMULATOR_LOGS`` as ((severity, text), ...); None when it is not a JSON list of strings."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    lines = []
    for text in value:
        severity = next((sev for prefix, sev in PREFIXES if text.startswith(prefix)), "INFO")
        lines.append((severity, text))
    return tuple(lines)


def scripted_param(params: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    """The job's ``VERTEX_EMULATOR_LOGS`` from its parameters ({} when absent); 400 INVALID_ARGUMENT at ``where``
    when it is not a JSON list of strings."""
    if params.get(LOGS_PARAM) is None:
        return ()
    lines = scripted_lines(params[LOGS_PARAM])
    if lines is None:
        raise violation(where, f'{LOGS_PARAM} must be a JSON list of strings, e.g. \'["step 1", "ERROR: boom"]\'.')
    return lines


def service_line(state: str, error: dict[str, Any] | None) -> tuple[str, str, str] | None:
    """(severity, text, job_state label) of Vertex AI's line when a job enters ``state`` (JOB_STATE_*), or None."""
    suffix = state.removeprefix("JOB_STATE_")
    if suffix in FAILED_STATES:
        message = str((error or {}).get("message") or f"Job {suffix.lower()}.")
        return "ERROR", message, suffix
    return SERVICE_LINES.get(suffix)
