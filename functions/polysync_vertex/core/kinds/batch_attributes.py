"""The attributes of a Vertex AI Batch Prediction Job request, checked as Vertex AI would check the job they build,
so a malformed one is a 400 naming the attribute before anything is claimed or created: the model's resource name
forms, `bq://` URIs (a source is a table, a destination a project, dataset or table), the format that goes with a
BigQuery source or destination, and replica counts against the template's (`startingReplicaCount` at most
`maxReplicaCount`, whose default is 10; replica counts need a machine type). Used by `batch.py`'s kind; pure.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from typing import Any

from .. import attributes as attrs
from ..errors import invalid
from ..shape import as_dict, as_str

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


def parse_config(
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


def check_resources(resources: dict[str, Any], a: dict[str, Any]) -> None:
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


def parse(raw: Any, known: Collection[str] = ATTRIBUTES) -> dict[str, Any]:
    """A Batch Prediction Job's `attributes` as submit takes them (each checked; None values dropped)."""
    out: dict[str, Any] = {}
    for key, value, path in attrs.given(raw, known):
        if key == "model":
            out[key] = attrs.matching(value, path, "model resource name", MODEL_RE)
        elif key == "inputConfig":
            out[key] = parse_config(
                value,
                path,
                "instancesFormat",
                {"gcsSource": ("uris", attrs.GCS_URI_RE, True), "bigquerySource": ("inputUri", BQ_TABLE_RE, False)},
            )
        elif key == "outputConfig":
            out[key] = parse_config(
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
