"""Every setting the connector reads, in one place.

Settings come from environment variables (Terraform sets them on each function; the local stack sets them for the
processes it starts). `Settings.from_env()` is the only reader of `os.environ` in the package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

# name -> (default, description). The README's configuration table and the Terraform contract test read this.
SETTINGS: dict[str, tuple[str, str]] = {
    "PSV_PROJECT": ("", "Project that holds Firestore and Pub/Sub (falls back to GOOGLE_CLOUD_PROJECT)."),
    "PSV_DEFAULT_LOCATION": ("us-central1", "Vertex AI location for runs submitted without a template."),
    "PSV_ALLOWED_PROJECTS": ("", "Comma-separated projects jobs may be created in (default: PSV_PROJECT)."),
    "PSV_ALLOWED_LOCATIONS": ("", "Comma-separated Vertex AI locations allowed (default: PSV_DEFAULT_LOCATION)."),
    "PSV_WEBHOOK_SECRETS": ("", "Webhook HMAC secrets, comma or newline separated (several while rotating)."),
    "PSV_VERTEX_ENDPOINT": ("", "Vertex AI API endpoint override (the local emulator); default regional endpoint."),
    "PSV_STATUS_TOPIC": ("polysync-vertex-status", "Pub/Sub topic (id or full name) for status events."),
    "PSV_SHARD_TOPIC": ("", "Pub/Sub topic (id or full name) for poll shard work; empty: poll inline only."),
    "PSV_POLL_INLINE_MAX": ("2000", "Active runs one poll invocation handles before fanning out to shards."),
    "PSV_QUEUED_THRESHOLD_SECONDS": ("1800", "Seconds a run may stay PENDING/QUEUED before queued_too_long."),
    "PSV_FIRESTORE_DATABASE": ("(default)", "Firestore database id."),
    "PSV_COLLECTION_PREFIX": ("", "Prefix for Firestore collection names (isolates tests and stacks)."),
    "PSV_REQUEST_BUDGET_SECONDS": ("45", "Time budget of one HTTP request including Vertex AI retries."),
    "PSV_TEMPLATE_CACHE_SECONDS": ("60", "How long a fetched template jobSpec is cached in an instance."),
    "PSV_RETENTION_DAYS": ("90", "Days ended runs and done request records are kept (Firestore TTL on expireAt)."),
    "PSV_FUNCTION_IDENTITIES": (
        "",
        "health only: function=service-account pairs (submit=sa@...,poll=...) whose permissions it tests.",
    ),
    "PSV_LOG_READS_PER_MINUTE": (
        "20",
        "Cloud Logging entries:list reads the poller spends per minute on failed runs' log tails (of the 60 a "
        "minute per project Logging allows; parallel shard workers share it). 0: no tails.",
    ),
    "PSV_HINT_GETS_PER_MINUTE": (
        "120",
        "Vertex AI GETs per minute the hint function spends on jobs its log entries name (of the region's 600 a "
        "minute); hints above it are ignored until the next poll tick. 0: hints ignored.",
    ),
    "PSV_HINT_SINK": (
        "",
        "health only: id of the log sink in every allowed project that routes Vertex AI's job-state entries to "
        "PSV_HINTS_TOPIC (infra/hints.tf); empty: hints are off and not checked.",
    ),
    "PSV_HINTS_TOPIC": ("", "health only: Pub/Sub topic (id or full name) the hints sinks publish to."),
    "PSV_POLL_INTERVAL_SECONDS": (
        "15",
        "Seconds between poll passes inside one scheduler tick's minute while the projected list calls stay within "
        "PSV_POLL_CALLS_PER_MINUTE (services/poll/cadence.py). 0 or 60 and more: one pass per tick.",
    ),
    "PSV_POLL_CALLS_PER_MINUTE": (
        "120",
        "Vertex AI list calls per minute the poll cadence may spend per region, of the region's 600 "
        "resource-management requests a minute (shard workers share it); above it passes are stretched, "
        "down to one per tick.",
    ),
    "PSV_LOG_LEVEL": ("INFO", "Minimum log severity."),
    "PSV_OUTPUTS_BUCKET": (
        "",
        "Bucket Custom Jobs write their Output parameters to; empty: Output parameters ignored with a warning.",
    ),
    "PSV_OUTPUTS_PREFIX": ("polysync-outputs", "Object prefix: <prefix>/<request key>/outputs.json."),
}


def _csv(value: str) -> tuple[str, ...]:
    parts = [p.strip() for p in value.replace("\n", ",").split(",")]
    return tuple(p for p in parts if p)


@dataclass(frozen=True)
class Settings:
    project: str
    default_location: str = "us-central1"
    allowed_projects: tuple[str, ...] = ()
    allowed_locations: tuple[str, ...] = ()
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    vertex_endpoint: str = ""
    status_topic: str = "polysync-vertex-status"
    shard_topic: str = ""
    poll_inline_max: int = 2000
    queued_threshold_seconds: int = 1800
    firestore_database: str = "(default)"
    collection_prefix: str = ""
    request_budget_seconds: float = 45.0
    template_cache_seconds: float = 60.0
    retention_days: float = 90.0
    function_identities: tuple[tuple[str, str], ...] = ()
    log_level: str = "INFO"
    outputs_bucket: str = ""
    outputs_prefix: str = "polysync-outputs"
    log_reads_per_minute: float = 20.0
    hint_gets_per_minute: float = 120.0
    hint_sink: str = ""
    hints_topic: str = ""
    poll_interval_seconds: float = 15.0
    poll_calls_per_minute: float = 120.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env

        def get(name: str) -> str:
            return e.get(name, SETTINGS[name][0]).strip()

        project = get("PSV_PROJECT") or e.get("GOOGLE_CLOUD_PROJECT", "").strip()
        location = get("PSV_DEFAULT_LOCATION") or "us-central1"
        return cls(
            project=project,
            default_location=location,
            allowed_projects=_csv(get("PSV_ALLOWED_PROJECTS")) or ((project,) if project else ()),
            allowed_locations=_csv(get("PSV_ALLOWED_LOCATIONS")) or (location,),
            webhook_secrets=_csv(e.get("PSV_WEBHOOK_SECRETS", "")),
            vertex_endpoint=get("PSV_VERTEX_ENDPOINT"),
            status_topic=get("PSV_STATUS_TOPIC"),
            shard_topic=get("PSV_SHARD_TOPIC"),
            poll_inline_max=max(1, int(get("PSV_POLL_INLINE_MAX"))),
            queued_threshold_seconds=int(get("PSV_QUEUED_THRESHOLD_SECONDS")),
            firestore_database=get("PSV_FIRESTORE_DATABASE"),
            collection_prefix=get("PSV_COLLECTION_PREFIX"),
            request_budget_seconds=float(get("PSV_REQUEST_BUDGET_SECONDS")),
            template_cache_seconds=float(get("PSV_TEMPLATE_CACHE_SECONDS")),
            retention_days=float(get("PSV_RETENTION_DAYS")),
            function_identities=tuple(
                (name.strip(), email.strip())
                for name, _, email in (p.partition("=") for p in _csv(get("PSV_FUNCTION_IDENTITIES")))
                if email.strip()
            ),
            log_level=get("PSV_LOG_LEVEL").upper(),
            outputs_bucket=get("PSV_OUTPUTS_BUCKET").removeprefix("gs://").strip("/"),
            outputs_prefix=get("PSV_OUTPUTS_PREFIX").strip("/"),
            log_reads_per_minute=max(0.0, float(get("PSV_LOG_READS_PER_MINUTE") or 0)),
            hint_gets_per_minute=max(0.0, float(get("PSV_HINT_GETS_PER_MINUTE") or 0)),
            hint_sink=get("PSV_HINT_SINK"),
            hints_topic=get("PSV_HINTS_TOPIC"),
            poll_interval_seconds=max(0.0, float(get("PSV_POLL_INTERVAL_SECONDS") or 0)),
            poll_calls_per_minute=max(0.0, float(get("PSV_POLL_CALLS_PER_MINUTE") or 0)),
        )

    @property
    def logging_endpoint(self) -> str:
        """Cloud Logging's endpoint: Google's, or the local Vertex AI emulator's (it serves entries:list too)."""
        return self.vertex_endpoint if self.vertex_endpoint.startswith("http://") else ""

    def topic_path(self, topic: str) -> str:
        return topic if topic.startswith("projects/") else f"projects/{self.project}/topics/{topic}"
