"""Vertex AI Batch Prediction Job (`batchPredictionJobs`): a model over input files or a BigQuery table.

Input and InputOutput parameters become typed `modelParameters` entries (merged over the template's); Output
parameters are not supported (predictions land in `outputConfig`). A final job's `outputInfo`,
`completionStats` and `partialFailures` (at most 20, Vertex AI's only account of what failed in a partially
succeeded job) are carried into the run record and the terminal event as Vertex AI reports them.

Attributes are checked as Vertex AI would check the job they build, so a malformed one is a 400 naming the attribute
before anything is claimed or created: the model's resource name forms, `bq://` URIs (a source is a table, a
destination a project, dataset or table), the format that goes with a BigQuery source or destination, and replica
counts against the template's (`startingReplicaCount` at most `maxReplicaCount`, whose default is 10; replica
counts need a machine type).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import attributes as attrs
from ..errors import invalid
from ..links import LINK_BUCKET, LINK_KMS_KEY, LINK_MODEL, LINK_SERVICE_ACCOUNT, as_links, buckets
from ..names import JOB_ID_RE
from ..shape import as_dict, as_str, tidy_numbers
from ..states import JOB_STATES
from .base import JobKind, JobRequest

if TYPE_CHECKING:
    from ..names import JobResourceName

# A project id, or the project number Vertex AI itself writes into resource names.
_PROJECT = r"(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})"
_LOCATION = r"[a-z0-9-]{2,42}"
# projects/P/locations/L/models/M[@version|@alias], publishers/X/models/M[@version] and
# projects/P/locations/L/publishers/X/models/M[@version] (Vertex AI v1, BatchPredictionJob.model).
MODEL_RE = re.compile(
    rf"^(projects/{_PROJECT}/locations/{_LOCATION}/models/[A-Za-z0-9_-]{{1,128}}(@[A-Za-z0-9_-]{{1,128}})?"
    rf"|(projects/{_PROJECT}/locations/{_LOCATION}/)?publishers/[a-z0-9-]{{1,64}}/models/[A-Za-z0-9._@-]{{1,128}})\Z"
)
_BQ_PROJECT = r"bq://[a-z][a-z0-9-]{4,28}[a-z0-9]"
_BQ_DATASET = r"\.[A-Za-z0-9_]{1,1024}"
_BQ_TABLE = r"\.[A-Za-z0-9_-]{1,1024}"
# bigquerySource.inputUri: a table, bq://project.dataset.table.
BQ_TABLE_RE = re.compile(rf"^{_BQ_PROJECT}{_BQ_DATASET}{_BQ_TABLE}\Z")
# bigqueryDestination.outputUri: bq://project, bq://project.dataset or bq://project.dataset.table.
BQ_DESTINATION_RE = re.compile(rf"^{_BQ_PROJECT}({_BQ_DATASET}({_BQ_TABLE})?)?\Z")
BIGQUERY_FORMAT = "bigquery"
DEFAULT_MAX_REPLICAS = 10  # Vertex AI's default BatchDedicatedResources.maxReplicaCount
FORMAT_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}\Z")
ATTRIBUTES = frozenset(
    {"model", "inputConfig", "outputConfig", "machineType", "startingReplicaCount", "maxReplicaCount", "serviceAccount"}
)
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


def _config(
    value: Any, path: str, fmt_key: str, sources: dict[str, tuple[str, re.Pattern[str], bool]]
) -> dict[str, Any]:
    """inputConfig / outputConfig: `{fmt_key, one of sources}`; sources: {field: (uri key, pattern, is list)}."""
    if not isinstance(value, dict):
        raise invalid("must be an object", path)
    known = {fmt_key, *sources}
    for key in value:
        if key not in known:
            raise invalid(f"unknown field '{str(key)[:64]}'; supported: {', '.join(sorted(known))}", f"{path}.{key}")
    fmt = attrs.matching(value.get(fmt_key), f"{path}.{fmt_key}", fmt_key, FORMAT_RE)
    given = [s for s in sources if s in value]
    if len(given) != 1:
        raise invalid(f"give exactly one of {', '.join(sources)}", path)
    source = given[0]
    if (fmt == BIGQUERY_FORMAT) != source.startswith("bigquery"):
        wanted = f"'{BIGQUERY_FORMAT}'" if source.startswith("bigquery") else f"a file format, not '{BIGQUERY_FORMAT}'"
        raise invalid(f"{fmt_key} must be {wanted} with {source}", f"{path}.{fmt_key}")
    uri_key, pattern, is_list = sources[source]
    inner = value[source]
    if not isinstance(inner, dict) or set(inner) != {uri_key}:
        raise invalid(f'must be {{"{uri_key}": ...}}', f"{path}.{source}")
    uris = inner[uri_key]
    if is_list:
        if not isinstance(uris, list) or not uris or len(uris) > 100:
            raise invalid("must be a list of 1 to 100 URIs", f"{path}.{source}.{uri_key}")
        for i, uri in enumerate(uris):
            attrs.matching(uri, f"{path}.{source}.{uri_key}[{i}]", "URI", pattern)
    else:
        attrs.matching(uris, f"{path}.{source}.{uri_key}", "URI", pattern)
    return copy.deepcopy(value)


def _check_resources(resources: dict[str, Any], a: dict[str, Any]) -> None:
    """dedicatedResources after the attributes went over the template's: what Vertex AI would refuse, as a 400
    naming the attribute that made it so."""
    if not as_str(as_dict(resources.get("machineSpec")).get("machineType")):
        given = next(k for k in ("startingReplicaCount", "maxReplicaCount") if k in a)
        raise invalid(
            f"{given} needs a machine type: give attributes.machineType (the template has no "
            "dedicatedResources.machineSpec)",
            "attributes.machineType",
        )
    starting, maximum = resources.get("startingReplicaCount"), resources.get("maxReplicaCount")
    starting = int(starting) if isinstance(starting, int | str) and str(starting).isdigit() else 0
    maximum = int(maximum) if isinstance(maximum, int | str) and str(maximum).isdigit() else 0
    maximum = maximum or DEFAULT_MAX_REPLICAS
    if starting > maximum:
        field = (
            "maxReplicaCount" if "maxReplicaCount" in a and "startingReplicaCount" not in a else "startingReplicaCount"
        )
        raise invalid(
            f"startingReplicaCount {starting} is larger than maxReplicaCount {maximum} "
            "(with the template's dedicatedResources)",
            f"attributes.{field}",
        )


class BatchPredictionJobKind(JobKind):
    job_type = "Vertex AI Batch Prediction Job"
    collection = "batchPredictionJobs"
    resource = "BatchPredictionJob"
    service = "job"
    id_pattern = JOB_ID_RE
    id_text = "digits only"
    states = JOB_STATES
    console_path = "batch-predictions"
    attributes = ATTRIBUTES
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
        raw = attrs.as_object(raw)
        attrs.check_known(raw, self.attributes)
        out: dict[str, Any] = {}
        for key, value in raw.items():
            path = f"attributes.{key}"
            if value is None:
                continue
            if key == "model":
                out[key] = attrs.matching(value, path, "model resource name", MODEL_RE)
            elif key == "inputConfig":
                out[key] = _config(
                    value,
                    path,
                    "instancesFormat",
                    {"gcsSource": ("uris", attrs.GCS_URI_RE, True), "bigquerySource": ("inputUri", BQ_TABLE_RE, False)},
                )
            elif key == "outputConfig":
                out[key] = _config(
                    value,
                    path,
                    "predictionsFormat",
                    {
                        "gcsDestination": ("outputUriPrefix", attrs.GCS_URI_RE, False),
                        "bigqueryDestination": ("outputUri", BQ_DESTINATION_RE, False),
                    },
                )
            elif key in ("startingReplicaCount", "maxReplicaCount"):
                out[key] = attrs.whole(value, path, 1, 1000)
            elif key == "machineType":
                out[key] = attrs.matching(value, path, key, attrs.MACHINE_TYPE_RE)
            else:
                out[key] = attrs.matching(value, path, key, attrs.SERVICE_ACCOUNT_RE)
        if out.get("startingReplicaCount", 0) > out.get("maxReplicaCount", 10**9):
            raise invalid("startingReplicaCount is larger than maxReplicaCount", "attributes.startingReplicaCount")
        return out

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
            _check_resources(resources, a)
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
