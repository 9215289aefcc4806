"""``customJobs``: the CustomJob collection (proto ``google.cloud.aiplatform.v1.CustomJob``)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format
from google.protobuf.message import Message

from .collection import JobView, Prepared, Resource, time_fields
from .ids import CUSTOM_JOBS as COLLECTION
from .scenario import CANCELLED_ERROR
from .schema import require_all, tidy_numbers
from .service_log import scripted_param
from .states import JOB_FINAL, JOB_STATES
from .validation import pool_env, validate_custom_job

# A Custom Job's scripted Output parameters: the text of this pool-0 variable is written, verbatim, to the object
# named by POLYSYNC_OUTPUTS_URI (the connector's outputs contract) while the job runs.
OUTPUTS_PARAM = "VERTEX_EMULATOR_OUTPUTS"
OUTPUTS_URI_ENV = "POLYSYNC_OUTPUTS_URI"


def failed_error(project: str, job_id: str, exit_code: int = 1, detail: str = "") -> dict[str, Any]:
    """The error of a CustomJob whose primary replica exited with ``exit_code`` (scripted FAILED or a local run)."""
    logs = f"https://console.cloud.google.com/logs/viewer?project={project}&resource=ml_job%2Fjob_id%2F{job_id}"
    message = (
        f"The replica workerpool0-0 exited with a non-zero status of {exit_code}. "
        f"{detail}To find out more about why your job exited please check the logs: {logs}"
    )
    return {"code": 13, "message": message}


def job_state_error(state: str, project: str, job_id: str) -> dict[str, Any] | None:
    if state == "JOB_STATE_FAILED":
        return failed_error(project, job_id)
    if state == "JOB_STATE_EXPIRED":
        return {
            "code": 4,
            "message": "The job expired: the requested resources did not become available "
            "before the job's maximum wait time.",
        }
    if state == "JOB_STATE_CANCELLED":
        return dict(CANCELLED_ERROR)
    return None


def _prepare_custom_job(message: Message, project: str, location: str) -> Prepared:
    body = tidy_numbers(json_format.MessageToDict(message))
    valid = validate_custom_job(body, CUSTOM_JOBS)  # the semantic rules: pools, replicas, env, labels, name
    require_all(message, "custom_job")
    timeout_text = re.sub(r"(\.\d*?)0+s$", r"\1s", valid.timeout_text).replace(".s", "s")  # 1.500s -> 1.5s
    return Prepared(
        message=message,
        display_name=valid.display_name,
        labels=valid.labels,
        scenario=valid.scenario,
        timeout_s=valid.timeout_s,
        timeout_text=timeout_text,
        cancel_delay_s=valid.cancel_delay_s,
        extra={
            "timeout_text": timeout_text,
            "scripted_outputs": scripted_outputs(body),
            "scripted_logs": scripted_param(_pool0_env(body), "custom_job.job_spec.worker_pool_specs[0]"),
        },
    )


def _pool0_env(body: dict[str, Any]) -> dict[str, Any]:
    pools = (body.get("jobSpec") or {}).get("workerPoolSpecs") or [{}]
    return {str(v.get("name")): v.get("value") for v in pool_env(pools[0])}


def scripted_outputs(body: dict[str, Any]) -> tuple[str, bytes] | None:
    """(POLYSYNC_OUTPUTS_URI, VERTEX_EMULATOR_OUTPUTS as bytes) of pool 0, when both are set."""
    env = _pool0_env(body)
    uri, text = env.get(OUTPUTS_URI_ENV), env.get(OUTPUTS_PARAM)
    if not isinstance(uri, str) or not uri or not isinstance(text, str):
        return None
    return uri, text.encode("utf-8")


def _decorate_custom_job(job: JobView, out: dict[str, Any], index: int, now: int, ints: bool, detail: bool) -> None:
    spec = out.get("jobSpec") or {}
    if spec.get("enableWebAccess") and job.started_us(index) is not None:
        uris: dict[str, str] = {}
        for pool_index, pool in enumerate(spec.get("workerPoolSpecs", [])):
            if not pool:
                continue
            for replica in range(int(pool.get("replicaCount", 1))):
                node = f"workerpool{pool_index}-{replica}"
                digest = hashlib.sha256(f"{job.id}/{node}".encode()).hexdigest()[:16]
                uris[node] = f"https://{digest}-dot-{job.location}.aiplatform-training.googleusercontent.com"
        out["webAccessUris"] = uris


CUSTOM_JOBS = Resource(
    collection=COLLECTION,
    kind="CustomJob",
    root="custom_job",
    message_class=aiplatform_v1.CustomJob.pb(),  # type: ignore[arg-type]
    state_prefix="JOB_STATE_",
    states=JOB_STATES,
    final_states=JOB_FINAL,
    default_scenario="PENDING:1,QUEUED:1,RUNNING:3,SUCCEEDED",
    numeric_ids=True,
    filter_fields=time_fields(),
    filter_example='state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*"',
    prepare=_prepare_custom_job,
    decorate=_decorate_custom_job,
    state_error=job_state_error,
    runs_locally=True,
)
