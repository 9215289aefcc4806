"""Vertex AI Batch Prediction Job (`batchPredictionJobs`): a model over input files or a BigQuery table.

Input and InputOutput parameters become typed `modelParameters` entries (merged over the template's); Output
parameters are not supported (predictions land in `outputConfig`). A final job's `outputInfo`,
`completionStats` and `partialFailures` (at most 20, Vertex AI's only account of what failed in a partially
succeeded job) are carried into the run record and the terminal event as Vertex AI reports them.

Its attributes are checked in `batch_attributes.py`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import invalid
from ..links import LINK_BUCKET, LINK_KMS_KEY, LINK_MODEL, LINK_SERVICE_ACCOUNT, as_links, buckets
from ..names import JOB_ID_RE
from ..shape import as_dict, as_str, tidy_numbers
from ..states import JOB_STATES
from . import batch_attributes
from .base import JobKind, JobRequest

if TYPE_CHECKING:
    from ..names import JobResourceName

CLONED = (
    "model",
    "modelVersionId",
    "inputConfig",
    "outputConfig",
    "instanceConfig",
    "dedicatedResources",
    "manualBatchTuningParameters",
    "generateExplanation",
    "explanationSpec",
    "serviceAccount",
    "encryptionSpec",
    "disableContainerLogging",
    "modelParameters",
)
POLYSYNC_TYPE = ((bool, "Boolean"), (int, "Number"), (float, "Number"), (str, "String"))


class BatchPredictionJobKind(JobKind):
    job_type = "Vertex AI Batch Prediction Job"
    collection = "batchPredictionJobs"
    resource = "BatchPredictionJob"
    service = "job"
    id_pattern = JOB_ID_RE
    id_text = "digits only"
    states = JOB_STATES
    console_path = "batch-predictions"
    attributes = batch_attributes.ATTRIBUTES
    required_without_template = ("model", "inputConfig", "outputConfig")
    parameter_name = re.compile(r"^[^\x00-\x1f\x7f]{1,256}\Z")
    parameter_name_rule = "a modelParameters key (1-256 characters, no control characters)"
    output_read_mask = ("output_info", "completion_stats", "partial_failures")
    output_fields = ("outputInfo", "completionStats", "partialFailures")
    template_read_mask = (
        "name",
        "display_name",
        "labels",
        "state",
        "create_time",
        "model",
        "input_config",
        "output_config",
        "dedicated_resources",
        "service_account",
        "model_parameters",
        "encryption_spec",
    )

    def parse_attributes(self, raw: Any, accelerators: Collection[str] | None = None) -> dict[str, Any]:
        return batch_attributes.parse(raw, self.attributes)

    def build(self, request: JobRequest, template: dict[str, Any] | None, key: str, now: datetime) -> dict[str, Any]:
        a = request.attributes
        body = self.clone(template, CLONED)
        for field in ("model", "inputConfig", "outputConfig", "serviceAccount"):
            if field in a:
                body[field] = copy.deepcopy(a[field])
                if field == "model" and a["model"] != (template or {}).get("model"):
                    body.pop("modelVersionId", None)  # the template's version is not the other model's
        if any(k in a for k in ("machineType", "startingReplicaCount", "maxReplicaCount")):
            resources = body.setdefault("dedicatedResources", {})
            if "machineType" in a:
                resources.setdefault("machineSpec", {})["machineType"] = a["machineType"]
            for field in ("startingReplicaCount", "maxReplicaCount"):
                if field in a:
                    resources[field] = a[field]
            batch_attributes.check_resources(resources, a)
        inputs = [p for p in request.parameters if p.direction != "Output"]
        if inputs:
            if body.get("modelParameters") is not None and not isinstance(body["modelParameters"], dict):
                raise invalid(
                    "the template's modelParameters is not a JSON object, so parameters cannot be merged into it",
                    f"parameters[{request.parameters.index(inputs[0])}]",
                )
            params = dict(as_dict(body.get("modelParameters")))
            params.update({p.name: copy.deepcopy(p.typed) for p in inputs})
            body["modelParameters"] = params
        body.update(self.base_body(request, template, key, now))
        return body

    def accelerator(self, job: dict[str, Any]) -> str | None:
        spec = as_dict(as_dict(job.get("dedicatedResources")).get("machineSpec"))
        value = spec.get("acceleratorType")
        return value if isinstance(value, str) and value and value != "ACCELERATOR_TYPE_UNSPECIFIED" else None

    def outputs(self, job: dict[str, Any], output_names: tuple[str, ...]) -> dict[str, Any]:
        return {f: copy.deepcopy(job.get(f)) or None for f in self.output_fields}

    # Diagnostics: Google documents no log resource for batch prediction (only that the model's container logs
    # stdout/stderr unless `disableContainerLogging`): nothing is read, the lines are `error` and `partialFailures`.
    reads_logs = False

    def log_filter(self, name: JobResourceName, job: dict[str, Any], *, all_tasks: bool = False) -> str:
        return ""

    def logs_query(self, name: JobResourceName, job: dict[str, Any]) -> str:
        return f'"{name.job_id}"'  # a text search for the job id in every log

    def failure_lines(self, job: dict[str, Any]) -> list[dict[str, str]]:
        when = as_str(job.get("endTime")) or as_str(job.get("updateTime"))
        # The partial failures, then the job's error: the tail keeps the last lines, the error among them.
        statuses = [*(as_dict(f) for f in (job.get("partialFailures") or [])[:19]), as_dict(job.get("error"))]
        return [
            {"time": when, "severity": "ERROR", "source": "vertex-ai", "text": str(s["message"])}
            for s in statuses
            if s.get("message")
        ]

    def to_template(self, job: dict[str, Any]) -> dict[str, Any]:
        resources = as_dict(job.get("dedicatedResources"))
        candidates: dict[str, Any] = {
            "model": job.get("model"),
            "inputConfig": job.get("inputConfig"),
            "outputConfig": job.get("outputConfig"),
            "machineType": as_dict(resources.get("machineSpec")).get("machineType"),
            "startingReplicaCount": resources.get("startingReplicaCount"),
            "maxReplicaCount": resources.get("maxReplicaCount"),
            "serviceAccount": job.get("serviceAccount"),
        }
        attributes: dict[str, Any] = {}
        for key, value in candidates.items():
            if value in (None, "", 0, {}):
                continue
            try:
                attributes.update(self.parse_attributes({key: value}))
            except Exception:  # noqa: BLE001 - submit would refuse it; the clone carries it unchanged
                continue
        params = []
        for name, value in as_dict(job.get("modelParameters")).items():
            ptype = next((t for cls, t in POLYSYNC_TYPE if isinstance(value, cls)), "JSON")
            params.append({"name": str(name), "type": ptype, "direction": "Input", "default": tidy_numbers(value)})
        inputs, outputs = as_dict(job.get("inputConfig")), as_dict(job.get("outputConfig"))
        uris = [u for u in as_dict(inputs.get("gcsSource")).get("uris") or [] if isinstance(u, str)]
        uris.append(as_str(as_dict(outputs.get("gcsDestination")).get("outputUriPrefix")))
        found = {(LINK_BUCKET, b) for b in buckets(uris)}
        for kind, value in (
            (LINK_MODEL, as_str(job.get("model"))),
            (LINK_SERVICE_ACCOUNT, as_str(job.get("serviceAccount"))),
            (LINK_KMS_KEY, as_str(as_dict(job.get("encryptionSpec")).get("kmsKeyName"))),
            ("gcp-big-query-table", as_str(as_dict(inputs.get("bigquerySource")).get("inputUri"))),
            ("gcp-big-query-table", as_str(as_dict(outputs.get("bigqueryDestination")).get("outputUri"))),
        ):
            if value:
                found.add((kind, value))
        template = self.template_base(job)
        template.update(
            {
                "attributes": attributes,
                "parameters": params,
                "links": as_links(found),
            }
        )
        template.update(self.template_tail(job))
        return template


BATCH = BatchPredictionJobKind()
