"""Status events as CloudEvents 1.0 in Pub/Sub binary mode: attributes `ce-*`, JSON data, ordering key = runId."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

STATUS_CHANGED = "com.polysync.vertex.run.status_changed"
QUEUED_TOO_LONG = "com.polysync.vertex.run.queued_too_long"


@dataclass(frozen=True)
class Message:
    """One Pub/Sub message ready to publish."""

    data: bytes
    attributes: dict[str, str]
    ordering_key: str

    @property
    def ce_id(self) -> str:
        return self.attributes["ce-id"]


def source(project: str, location: str) -> str:
    return f"//polysync-vertex/{project}/{location}"


def outbox_entry(
    *, event_type: str, ce_id: str, run: dict[str, Any], time: str, project: str, location: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """An event as stored in the run's outbox (plain JSON, so Firestore keeps it as a map)."""
    data = dict(run)
    data.update(extra)
    return {
        "id": ce_id,
        "type": event_type,
        "source": source(project, location),
        "subject": run["runId"],
        "time": time,
        "data": data,
    }


def to_message(entry: dict[str, Any]) -> Message:
    data = entry["data"]
    attributes = {
        "ce-specversion": "1.0",
        "ce-type": entry["type"],
        "ce-source": entry["source"],
        "ce-subject": entry["subject"],
        "ce-id": entry["id"],
        "ce-time": entry["time"],
        "content-type": "application/json",
        "status": str(data.get("status", "")),
        "jobType": str(data.get("jobType", "")),
        # Pub/Sub limits an attribute value to 1024 bytes (not characters).
        "jobName": str(data.get("jobName", "")).encode()[:1024].decode("utf-8", "ignore"),
    }
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return Message(body, attributes, entry["subject"])
