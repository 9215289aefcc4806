"""How much a run record may hold, and what gives way when it would hold more. Pure: no I/O.

Firestore holds at most 1 MiB per document (core/storable.py). Submit refuses a request whose record would take
more than `SUBMIT_BUDGET_BYTES` (`check_submit_budget`, a 400 before anything is written); what the job produces
later is bounded when recorded, and a record the store still cannot take gives up what the job produced
(`make_storable`), never its state or its events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from . import kinds, storable
from .errors import invalid
from .names import JobResourceName
from .runs import RunOrigin, new_run

# What a run record may take when submit writes it, counting what its request adds later: the values of its
# InputOutput parameters come back as outputs, held in the record and again in its terminal event. The rest of the
# 1 MiB a Firestore document holds is for what the job itself produces (outputs, events, diagnostics), each bounded
# when recorded.
SUBMIT_BUDGET_BYTES = 384 * 1024


def submit_bytes(origin: RunOrigin, kind: kinds.JobKind, returned: Iterable[Any] = ()) -> int:
    """The stored size of the record submit would write for `origin` (a job name of the longest kind, a display
    name of Vertex AI's maximum 128 characters), plus twice the JSON text of the `returned` values."""
    name = JobResourceName("p" * 30, "l" * 30, "9" * 64, kind.collection)
    draft = new_run(origin, name, {"displayName": "x" * 128}, datetime.now(UTC))
    later = sum(len(json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()) + 1 for v in returned)
    return storable.document_bytes(draft) + 2 * later


def check_submit_budget(origin: RunOrigin, kind: kinds.JobKind, returned: Iterable[Any] = ()) -> None:
    """400 when the run record of this request would exceed `SUBMIT_BUDGET_BYTES` (nothing is written then)."""
    size = submit_bytes(origin, kind, returned)
    if size > SUBMIT_BUDGET_BYTES:
        raise invalid(
            f"this request would make a run record of about {size // 1024} KiB, over the {SUBMIT_BUDGET_BYTES // 1024} "
            "KiB a run may take at submit (the run store, Firestore, holds 1 MiB per run, which the run's outputs and "
            "events also need): send fewer or shorter Output and InputOutput parameter names, or smaller "
            "InputOutput values",
            "parameters",
        )


def make_storable(run: dict[str, Any], reason: str) -> str:
    """Make a record the run store refused (or would refuse: `reason`) storable: what the job produced (its output
    fields, its diagnostics' log tail and tasks) is replaced, in the record and in its pending events, by
    `{"_error": <note>}`; the note is added to `warnings`. The state, sequence and events stay: status and events go
    on. Returns the note (the caller logs it)."""
    note = f"not recorded: {reason}; read the job's outputs and logs from Vertex AI"
    fields = (*kinds.of_record(run).output_fields, "outputs")

    def strip(data: dict[str, Any]) -> None:
        for f in fields:
            if data.get(f) is not None:
                data[f] = {"_error": note}
        diagnostics = data.get("diagnostics")
        if isinstance(diagnostics, dict):
            data["diagnostics"] = {
                k: v for k, v in diagnostics.items() if k not in ("logTail", "failedTasks") and isinstance(v, str)
            }
            data["diagnostics"]["summary"] = str(diagnostics.get("summary", ""))[:1000]

    strip(run)
    for entry in run.get("outbox") or []:
        if isinstance(entry.get("data"), dict):
            strip(entry["data"])
    warnings = [w for w in run.get("warnings") or [] if not w.startswith("not recorded: ")]
    run["warnings"] = [*warnings, note[:1000]]
    return note
