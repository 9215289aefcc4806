"""The links of a job template: the resources a job depends on, named as Polysync's discovery names them.

Every kind's template reader (`core/kinds`) names its links with these constants and helpers. Pure: no I/O.

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
from collections.abc import Iterable

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


def buckets(texts: Iterable[str]) -> set[str]:
    """Bucket names referenced as `gs://BUCKET...` or `/gcs/BUCKET...` anywhere in the texts."""
    found: set[str] = set()
    for text in texts:
        for match in _BUCKET_REF.finditer(text):
            name = match.group(1).rstrip("._-")  # "see gs://b." ends a sentence, not the bucket name
            if _BUCKET_NAME.match(name) and ".." not in name:
                found.add(name)
    return found


def as_links(found: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """(type, name) pairs as the template's `links`: once each, sorted by (type, name)."""
    return [{"type": kind, "name": name} for kind, name in sorted(set(found))]
