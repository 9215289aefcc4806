"""Why did it fail? Causes recognised in Vertex AI's error and log text, each with its fix.

One table, `HINTS`, tested entry by entry (tests/unit/test_diagnostics.py) and listed in the README's
troubleshooting. An entry matches when all of its patterns are found in the text of a failed run (the job's
`error.message`, the failed tasks' errors, the log tail); the first entry that matches gives the run's `hint`.

Vertex AI's own wording, where Google documents it ("Understand the training service", "Handle common errors":
https://cloud.google.com/vertex-ai/docs/training/understanding-training-service):
- "The replica REPLICA_NAME exited with a non-zero status of EXIT_CODE. Termination reason: REASON."
- "The replica REPLICA_NAME ran out of memory and exited with a non-zero status of EXIT_CODE."
- "Resources are insufficient in region: REGION_NAME. Try a different region or use a different accelerator."
Image pulls: Vertex AI pulls a custom training image as its Custom Code Service Agent
(service-PROJECT_NUMBER@gcp-sa-aiplatform-cc.iam.gserviceaccount.com, "Vertex AI service agents":
https://cloud.google.com/vertex-ai/docs/general/access-control#service-agents), and the container runs as the job's
service account; Artifact Registry refuses a pull without `artifactregistry.repositories.downloadArtifacts`
(roles/artifactregistry.reader). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# The text the poller adds for a run that waited past PSV_QUEUED_THRESHOLD_SECONDS before it failed.
QUEUED_TOO_LONG = "queued_too_long: the run waited in QUEUED or PENDING past the threshold"


@dataclass(frozen=True)
class Hint:
    name: str
    patterns: tuple[re.Pattern[str], ...]  # all must be found in the text
    fix: str
    # All patterns in one text (the job's error, one task's error or one log line), not spread over several: a bucket
    # named in one line and an unrelated 403 in another are no pipeline-root problem.
    one_text: bool = False


def _p(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


HINTS: tuple[Hint, ...] = (
    Hint(
        "out-of-memory",
        (
            _p(
                r"out of memory|out-of-memory|\bOOMKilled\b|\bOOM\b|MemoryError|"
                r"non-zero status of (137|9)\b|exit(ed)?( with)?( code| status)?( of)? 137\b"
            ),
        ),
        "The workload ran out of memory (exit 137 is a SIGKILL by the kernel's OOM killer): choose a machine type "
        "with more memory (attribute machineType, e.g. n1-highmem-8; for CUDA out of memory a larger accelerator), "
        "or lower the batch size. On the smallest machine types Vertex AI's own agents take up to 40% of the memory.",
    ),
    Hint(
        "image-pull",
        (
            _p(
                r"(unable|failed|fail|cannot|could not|can't|error) (to )?pull(ing)?( the)?( container)? image|"
                r"pull access denied|ErrImagePull|ImagePullBackOff|artifactregistry\.repositories\.downloadArtifacts|"
                r"image .{0,200}(not found|does not exist|denied)"
            ),
        ),
        "The container image could not be pulled: grant roles/artifactregistry.reader on the image's Artifact "
        "Registry repository to the job's service account and to Vertex AI's Custom Code Service Agent "
        "(service-PROJECT_NUMBER@gcp-sa-aiplatform-cc.iam.gserviceaccount.com), and check that the image URI and "
        "tag exist (gcloud artifacts docker images list REPOSITORY).",
    ),
    Hint(
        "act-as-service-account",
        (_p(r"iam\.serviceAccounts\.actAs|permission to act as|act as (the )?service account|actAs permission"),),
        "The caller may not act as the job's service account: grant roles/iam.serviceAccountUser on that service "
        "account to the submit function's identity (Terraform: the job_service_accounts variable), or leave "
        "serviceAccount unset to run as Vertex AI's default identity.",
    ),
    Hint(
        "pipeline-root-not-writable",
        (
            _p(r"gs://|pipeline[ _-]?root|gcsOutputDirectory|Cloud Storage|\bGCS\b|bucket"),
            _p(
                r"storage\.objects\.(create|get|list|delete)|storage\.buckets\.get|not writable|"
                r"(permission|access)[^.\n]{0,40}denied|\b403\b|Forbidden"
            ),
        ),
        "The pipeline root (runtimeConfig.gcsOutputDirectory) is not writable by the pipeline's service account: "
        "grant it roles/storage.objectAdmin on that bucket (gcloud storage buckets add-iam-policy-binding "
        "gs://BUCKET --member=serviceAccount:SA --role=roles/storage.objectAdmin), or choose a bucket it may write.",
        one_text=True,
    ),
    Hint(
        "quota",
        (
            _p(
                r"\bquota\b|RESOURCE_EXHAUSTED|queued_too_long|"
                r"(QUEUED|PENDING)[^.\n]{0,40}(too long|past the threshold)"
            ),
        ),
        "The job waited for or ran out of quota in its region: request more Vertex AI custom training quota for the "
        "machine or accelerator type in that region (IAM & Admin > Quotas, service aiplatform.googleapis.com), "
        "or submit to another region.",
    ),
    Hint(
        "region-capacity",
        (_p(r"Resources are insufficient in region|\bstockout\b|ZONE_RESOURCE_POOL_EXHAUSTED"),),
        "Vertex AI had no capacity for the machine or accelerator type in the region (a stockout, unrelated to "
        "quota): retry later, use another region, or another accelerator.",
    ),
)


def match(texts: Iterable[str]) -> Hint | None:
    """The first entry of HINTS whose patterns are all found in `texts` (taken together, or in one of them where the
    entry says `one_text`)."""
    items = [t for t in texts if t]
    text = "\n".join(items)
    if not text:
        return None
    for hint in HINTS:
        if hint.one_text:
            if any(all(p.search(t) for p in hint.patterns) for t in items):
                return hint
        elif all(p.search(text) for p in hint.patterns):
            return hint
    return None
