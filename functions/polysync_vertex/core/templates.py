"""The Custom Job kind's template reader: a CustomJob (REST JSON) as a Polysync job template (attributes for
`submit`, parameters, linked resources), and the link helpers every kind uses.

Pure: no I/O, no cloud imports. The attributes are exactly the ones `submit` accepts (`core.request.ATTRIBUTES`,
validated by `parse_attributes`), so a template imported and submitted with its own attributes and externalId
reproduces the template's jobSpec. A value that `submit` would reject (an unusual service account or network
form, say) is left out of the attributes: `submit` clones it from the template unchanged anyway.

Link names:
- `gcp-artifact-registry-docker-image`: the image reference exactly as the job pulls it
  (`LOCATION-docker.pkg.dev/PROJECT/REPO/IMAGE[:tag|@digest]`; images of other registries such as `gcr.io/...` or
  Docker Hub are named the same way, verbatim, not normalised).
- `gcp-storage-bucket`: the bucket name only (`my-bucket`), from `gs://BUCKET/...` URIs and `/gcs/BUCKET/...`
  (Vertex AI's Cloud Storage FUSE mount) paths.
- `gcp-iam-service-account`: the e-mail; `gcp-compute-network`, `gcp-cloud-kms-crypto-key`, `gcp-ai-platform-model`,
  `gcp-ai-platform-tensorboard`, `gcp-ai-platform-experiment`: the resource name as set on the job;
  `gcp-ai-platform-persistent-resource`: `projects/P/locations/L/persistentResources/ID`, P and L from the job's
  own name (any region).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from .attributes import parse_attributes
from .errors import ApiError

JOB_TYPE = "Vertex AI Custom Job"

LINK_IMAGE = "gcp-artifact-registry-docker-image"
LINK_BUCKET = "gcp-storage-bucket"
LINK_SERVICE_ACCOUNT = "gcp-iam-service-account"
LINK_NETWORK = "gcp-compute-network"
LINK_KMS_KEY = "gcp-cloud-kms-crypto-key"
LINK_MODEL = "gcp-ai-platform-model"
LINK_PERSISTENT_RESOURCE = "gcp-ai-platform-persistent-resource"
LINK_TENSORBOARD = "gcp-ai-platform-tensorboard"
LINK_EXPERIMENT = "gcp-ai-platform-experiment"

# gs://BUCKET or /gcs/BUCKET (not inside a longer path), the name running to the first other character.
_BUCKET_REF = re.compile(r"(?:gs:/|(?<![A-Za-z0-9._/-])/gcs)/([A-Za-z0-9._-]+)")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_JOB_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/[A-Za-z]+/[^/]+$")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    """int32 (number) or int64 (decimal string, as protobuf's JSON writes it); 0 when absent or malformed."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def _pool_spec(pool: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """("container" | "pythonPackage" | "", the spec) of a worker pool."""
    if "pythonPackageSpec" in pool:
        return "pythonPackage", _dict(pool["pythonPackageSpec"])
    if "containerSpec" in pool:
        return "container", _dict(pool["containerSpec"])
    return "", {}


def _image(kind: str, spec: dict[str, Any]) -> str:
    return _str(spec.get("executorImageUri" if kind == "pythonPackage" else "imageUri"))


def attributes(job: dict[str, Any]) -> dict[str, Any]:
    """Pool 0's compute spec and the job-wide settings, as `submit` attributes."""
    job_spec = _dict(job.get("jobSpec"))
    pools = [_dict(p) for p in _list(job_spec.get("workerPoolSpecs"))]
    candidates: dict[str, Any] = {}
    if pools:
        pool0 = pools[0]
        kind, spec = _pool_spec(pool0)
        machine = _dict(pool0.get("machineSpec"))
        candidates["machineType"] = _str(machine.get("machineType"))
        candidates["containerImageUri"] = _image(kind, spec)
        candidates["replicaCount"] = _int(pool0.get("replicaCount"))
        accelerator = _str(machine.get("acceleratorType"))
        count = _int(machine.get("acceleratorCount"))
        if accelerator and accelerator != "ACCELERATOR_TYPE_UNSPECIFIED" and count > 0:
            candidates["acceleratorType"] = accelerator
            candidates["acceleratorCount"] = count
        candidates["poolType"] = kind
    candidates["timeout"] = _str(_dict(job_spec.get("scheduling")).get("timeout"))
    candidates["serviceAccount"] = _str(job_spec.get("serviceAccount"))
    candidates["network"] = _str(job_spec.get("network"))
    candidates["workerPoolCount"] = len(pools)
    out: dict[str, Any] = {}
    for key, value in candidates.items():
        if value in ("", 0):
            continue
        try:
            out.update(parse_attributes({key: value}))
        except ApiError:
            continue  # submit would refuse it; the clone of the template carries it unchanged
    return out


def _strings(value: Any) -> Iterator[str]:
    for item in _list(value):
        if isinstance(item, str):
            yield item


def _env_values(spec: dict[str, Any]) -> Iterator[str]:
    for var in _list(spec.get("env")):
        value = _dict(var).get("value")
        if isinstance(value, str):
            yield value


def buckets(texts: Iterable[str]) -> set[str]:
    """Bucket names referenced as `gs://BUCKET...` or `/gcs/BUCKET...` anywhere in the texts."""
    found: set[str] = set()
    for text in texts:
        for match in _BUCKET_REF.finditer(text):
            name = match.group(1).rstrip("._-")  # "see gs://b." ends a sentence, not the bucket name
            if _BUCKET_NAME.match(name) and ".." not in name:
                found.add(name)
    return found


def links(job: dict[str, Any]) -> list[dict[str, str]]:
    """Every resource the job depends on, once each, sorted by (type, name)."""
    job_spec = _dict(job.get("jobSpec"))
    found: set[tuple[str, str]] = set()

    def add(kind: str, name: Any) -> None:
        if isinstance(name, str) and name.strip():
            found.add((kind, name.strip()))

    texts: list[str] = [_str(_dict(job_spec.get("baseOutputDirectory")).get("outputUriPrefix"))]
    for pool in _list(job_spec.get("workerPoolSpecs")):
        kind, spec = _pool_spec(_dict(pool))
        if not kind:
            continue
        add(LINK_IMAGE, _image(kind, spec))
        texts.extend(_strings(spec.get("packageUris")))
        texts.extend(_strings(spec.get("command")))
        texts.extend(_strings(spec.get("args")))
        texts.extend(_env_values(spec))
    for bucket in buckets(texts):
        add(LINK_BUCKET, bucket)
    add(LINK_SERVICE_ACCOUNT, job_spec.get("serviceAccount"))
    add(LINK_NETWORK, job_spec.get("network"))
    add(LINK_KMS_KEY, _dict(job.get("encryptionSpec")).get("kmsKeyName"))
    for model in _strings(job_spec.get("models")):
        add(LINK_MODEL, model)
    add(LINK_TENSORBOARD, job_spec.get("tensorboard"))
    add(LINK_EXPERIMENT, job_spec.get("experiment"))
    resource_id = _str(job_spec.get("persistentResourceId")).strip()
    located = _JOB_NAME.match(_str(job.get("name")))
    if resource_id and located:
        add(
            LINK_PERSISTENT_RESOURCE,
            f"projects/{located[1]}/locations/{located[2]}/persistentResources/{resource_id}",
        )
    return [{"type": kind, "name": name} for kind, name in sorted(found)]


def env_parameters(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter schema of a CustomJob template: pool 0's container env (String, Input, its value as default)."""
    pools = _list(_dict(job.get("jobSpec")).get("workerPoolSpecs"))
    _, spec = _pool_spec(_dict(pools[0])) if pools else ("", {})
    out: list[dict[str, Any]] = []
    for var in _list(spec.get("env")):
        name = _dict(var).get("name")
        if isinstance(name, str) and name:
            out.append({"name": name, "type": "String", "direction": "Input", "default": _str(_dict(var).get("value"))})
    return out


def to_template(job: dict[str, Any]) -> dict[str, Any]:
    """The template Polysync imports for one CustomJob (REST JSON as Vertex AI returns it)."""
    job_spec = _dict(job.get("jobSpec"))
    template: dict[str, Any] = {
        "externalId": _str(job.get("name")),
        "displayName": _str(job.get("displayName")),
        "jobType": JOB_TYPE,
        "attributes": attributes(job),
        "workerPools": len(_list(job_spec.get("workerPoolSpecs"))),
        "links": links(job),
        "labels": {k: v for k, v in _dict(job.get("labels")).items() if isinstance(v, str)},
        "state": _str(job.get("state")) or "JOB_STATE_UNSPECIFIED",
    }
    if isinstance(job.get("createTime"), str):
        template["createTime"] = job["createTime"]
    return template
