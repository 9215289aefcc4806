"""The fields of a run record as stored in Firestore (`runs/{doc id}`): the schema `core/runs.py` writes and changes.
Typing and documentation only (records travel as plain dicts); see docs/data-model.md."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Status = Literal["Success", "Failed", "Running", "Cancelled", "Unknown"]


class RunError(TypedDict):
    code: int
    message: str


class RunRecord(TypedDict):
    """A run as stored in Firestore (`runs/{doc_id(run)}`), a plain map. See docs/data-model.md."""

    runId: str
    requestId: str
    requestKey: str
    jobType: str
    displayName: str
    status: str
    vertexState: str
    consoleUrl: str
    warnings: list[str]
    jobName: str
    sequence: int
    error: RunError | None
    lastPolled: str | None
    project: str
    location: str
    jobId: str
    collection: str
    template: str | None
    fingerprint: str
    acceleratorType: str | None
    shard: int
    outbox: list[dict[str, Any]]
    waitingSince: str | None
    queuedAlerted: bool
    recordedAt: str
    createTime: str | None
    startTime: str | None
    endTime: str | None
    updateTime: str | None
    active: bool
    outputNames: list[str]
    # Per job type, once final: outputs (Pipeline Job, Custom Job with outputsFile), outputInfo / completionStats
    # (Batch Prediction Job).
    outputs: NotRequired[dict[str, Any] | None]
    # A Custom Job's outputs file: {"uri", "parameters": [{"name", "type", "direction", "value"}]}.
    outputsFile: NotRequired[dict[str, Any]]
    outputInfo: NotRequired[dict[str, Any] | None]
    completionStats: NotRequired[dict[str, Any] | None]
    adopted: NotRequired[bool]
    # A Failed run's diagnostics (core/diagnostics.py); `logTail` absent while its logs are still to be read.
    diagnostics: NotRequired[dict[str, Any]]
