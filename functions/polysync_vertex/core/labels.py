"""The connector's marks on a Vertex AI job: the request key, its shard, the labels and the display name.

Every job the connector creates carries `managed-by=polysync-vertex`, `polysync-request=<request key>` (how a
job is found again after a crash, instead of being created twice), `polysync-job=<jobName, normalised>` and
`polysync-shard=<NN>` (how the poller splits its list calls). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime

from .errors import invalid

MAX_DISPLAY_NAME = 128
MAX_LABELS = 64
SHARDS = 64

LABEL_MANAGED_BY = "managed-by"
LABEL_REQUEST = "polysync-request"
LABEL_JOB = "polysync-job"
LABEL_SHARD = "polysync-shard"
MANAGED_BY = "polysync-vertex"

_LABEL_BAD = re.compile(r"[^a-z0-9_-]+")


def request_key(request_id: str) -> str:
    """A label value and Firestore document id derived from the requestId: readable prefix + hash.

    requestIds are case-sensitive and may hold '.' and ':', which labels do not allow, so the hash keeps
    distinct requestIds distinct after normalisation.
    """
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:16]
    readable = _LABEL_BAD.sub("-", request_id.lower()).strip("-_")[:40]
    return f"{readable}-{digest}" if readable else digest


def shard_of(key: str) -> int:
    """The poller's shard of a request key (0 <= shard < SHARDS)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % SHARDS


def label_value(text: str, fallback: str = "job") -> str:
    """Normalise any text to a GCP label value: lowercase [a-z0-9_-], at most 63 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    value = _LABEL_BAD.sub("-", ascii_text.lower()).strip("-")[:63].strip("-")
    return value or fallback


def display_name(job_name: str, now: datetime) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{job_name[: MAX_DISPLAY_NAME - len(stamp) - 1]}_{stamp}"


def job_labels(template_labels: dict[str, str] | None, key: str, job_name: str) -> dict[str, str]:
    """The template's own labels (except the connector's) plus the connector's four."""
    labels = {k: v for k, v in (template_labels or {}).items() if not k.startswith("polysync-")}
    labels.pop(LABEL_MANAGED_BY, None)
    ours = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_REQUEST: key,
        LABEL_JOB: label_value(job_name),
        LABEL_SHARD: f"{shard_of(key):02d}",
    }
    if len(labels) + len(ours) > MAX_LABELS:
        raise invalid(
            f"the template has {len(labels)} labels; with the connector's {len(ours)} that exceeds Vertex AI's "
            f"limit of {MAX_LABELS}",
            "externalId",
        )
    labels.update(ours)
    return labels
