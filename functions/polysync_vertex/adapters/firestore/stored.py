"""How a run record is stored: in a form Firestore always accepts, read back exactly as it was given.

The fields whose values come from outside the connector (what a job produced: `outputs`, `outputInfo`,
`completionStats`, `partialFailures`; its `diagnostics`; and the `outbox`, whose events repeat them) are kept as
JSON text. Firestore refuses, in native maps and arrays, an array directly inside an array (a confusion matrix
`[[50, 2], [3, 45]]`), nesting deeper than 20 levels and keys like `__a__` (core/storable.py); JSON text has none of
these limits and reads back as the same JSON value. Records written before this form (native maps) read as before:
a stored string is decoded, anything else taken as is. These fields are never queried.

A record over Firestore's 1 MiB (`RECORD_LIMIT`, counted as Firestore counts, core/storable.py) is made storable
before it is sent (`core.runs.make_storable`: what the job produced is replaced by a note, logged at ERROR); the
run's state and events go on.
"""

from __future__ import annotations

import json
from typing import Any

from ... import log
from ...core import record_budget, storable

FREE_FORM = ("outputs", "outputInfo", "completionStats", "partialFailures", "diagnostics", "outbox")
# Fields no query filters or orders on, by collection (without PSV_COLLECTION_PREFIX): exempt from Firestore's
# automatic single-field indexes in infra/firestore.tf (long text and maps or arrays would cost an index entry per
# value on every write). The queried fields stay indexed: runs.active, shard, recordedAt (poll_state.py) and
# requests.phase, watchUntil (claims.py). tests/infra/test_terraform.py holds the two in step.
NOT_INDEXED = {
    "runs": (*FREE_FORM, "failedTasks", "warnings", "error", "outputsFile", "outputNames", "fullJobDue"),
    "requests": ("outputNames", "outputsFile"),
}
# Kept under Firestore's 1,048,576 bytes per document, with room for the update's own field transforms.
RECORD_LIMIT = storable.MAX_DOCUMENT_BYTES - 16 * 1024


def encode(run: dict[str, Any]) -> dict[str, Any]:
    """The document to write for `run` (a shallow copy; the free-form fields as JSON text)."""
    out = dict(run)
    for f in FREE_FORM:
        value = out.get(f)
        if value is not None and not isinstance(value, str):
            out[f] = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return out


def decode(data: dict[str, Any]) -> dict[str, Any]:
    """The run as given, from a stored document (in place; returns it)."""
    for f in FREE_FORM:
        value = data.get(f)
        if isinstance(value, str):
            data[f] = json.loads(value)
    return data


def fit(run: dict[str, Any], limit: int = RECORD_LIMIT) -> tuple[dict[str, Any], int]:
    """The document to write for `run` and its size; a run over `limit` is first made storable (in place)."""
    document = encode(run)
    size = storable.document_bytes(document)
    if size > limit:
        note = record_budget.make_storable(run, f"the record would take {size} bytes, over the {limit} a run may take")
        log.error("run record too large; what the job produced was left out", runId=run.get("runId"), note=note)
        document = encode(run)
        size = storable.document_bytes(document)
    return document, size
