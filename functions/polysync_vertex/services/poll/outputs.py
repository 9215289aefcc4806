"""The poller's reads of Custom Jobs' outputs files (issue 26): what to record with a run's final state.

When a run whose job writes an outputs file (`outputsFile`, core/outputs.py) is seen in a final state, its object
is read once, before the state is recorded, so the terminal event carries `outputs`. Reads are bounded per tick
(MAX_READS_PER_TICK, each within READ_BUDGET_SECONDS); a run over the bound waits for the next tick, its state not
yet recorded. A read that fails is noted on the run (`outputsReadFailed`) and tried once more next tick; when that
fails too, the final state is recorded with `outputs._error` saying why — so the terminal event waits at most one
tick for it. Success and Failed are read; a Cancelled or Unknown run's outputs are not. The run's status never
depends on its outputs.

Paths that record a final state without a Cloud Storage reader (a cancel or a submit takeover that finds the job
ended: their identities may not read the bucket; an adoption of an ended job) leave the outputs due
(`core.outputs.due`): the run stays active with its terminal event held in its outbox, and the poller's next pass
over it reads the object here, by the same rules, and completes the run and the held event (`record.mutation`)
before the outbox publishes it.

The same bound and the same one-more-tick rule hold for the GETs of finished jobs whose outputs the list view lacks
(`full_job`: a Pipeline Job that declared outputs, which are on jobDetail's root task). A run waiting for its GET keeps
the job as observed (`fullJobDue`, on its index entry) so the next tick GETs it even when no list shows it again.
So do the diagnoser's GETs of failed jobs whose failed tasks the list view lacks (services/diagnose.py: a failed
Pipeline Job without declared outputs): `OutputsReads.take` is the one count of a tick's reads and GETs; a failed
run over it is recorded on time, diagnosed without its tasks, and diagnosed again on a later tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import log
from ...core import outputs, runs, states
from ...core.errors import UpstreamError
from ...ports import ObjectReader

MAX_READS_PER_TICK = 100
READ_BUDGET_SECONDS = 5.0


@dataclass(frozen=True)
class Decision:
    """`outputs` to record with the final state; None: not this tick (`note_failure`: say a read failed)."""

    outputs: dict[str, Any] | None
    note_failure: bool = False
    due: dict[str, Any] | None = None  # a full job's GET failed: the observed job, for the next tick


WAIT = Decision(None)


class OutputsReads:
    """One tick's reads and GETs beyond its lists, within one bound (construct one per tick: it counts them)."""

    def __init__(
        self, storage: ObjectReader | None, *, limit: int = MAX_READS_PER_TICK, budget: float = READ_BUDGET_SECONDS
    ) -> None:
        self.storage = storage
        self.left = limit
        self.budget = budget
        self.reads = 0  # outputs files read, finished jobs read whole for their outputs
        self.detail_gets = 0  # failed jobs read whole for their diagnostics (`take_detail`)

    def take(self) -> bool:
        """One read or GET within this tick's bound; False when it is spent (the caller waits for the next tick)."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def take_detail(self) -> bool:
        """`take` for the diagnoser's GET of a failed job (services/diagnose.py), counted apart."""
        taken = self.take()
        self.detail_gets += taken
        return taken

    def decide_observed(
        self, run: dict[str, Any], observed: dict[str, Any] | None, deleted: bool, deadline: float
    ) -> Decision | None:
        """`decide` for what a tick observed of the run (nothing to decide unless its job was seen final), or for a
        run recorded final before its outputs were read (`outputs.due`: a cancel, a takeover, an adoption)."""
        if outputs.due(run):
            return self.decide(run, run["vertexState"], deadline)
        state = (observed or {}).get("state") or ""
        if deleted or observed is None or not states.is_final(state) or state == run["vertexState"]:
            return None
        return self.decide(run, state, deadline)

    def decide(self, run: dict[str, Any], final_state: str, deadline: float) -> Decision | None:
        """For a run seen in `final_state`: None when it has no outputs to read (record the state as usual)."""
        if not outputs.pending(run) or final_state in states.DELETED_STATES:
            return None
        params, uri = outputs.declared_of(run), outputs.uri_of(run)
        status = states.polysync_status(final_state)
        if status not in outputs.READ_ON:
            return Decision(outputs.not_read(params, status))
        if self.storage is None:
            return Decision(outputs.unreadable(params, uri, "this poller has no Cloud Storage reader"))
        if not self.take():
            return WAIT
        self.reads += 1
        try:
            data = self.storage.read(uri, outputs.MAX_OBJECT_BYTES, min(deadline, time.monotonic() + self.budget))
        except UpstreamError as err:
            reason = f"{err.code}: {err.message}"
            if run.get("outputsReadFailed"):
                log.warning(
                    "reading a run's outputs failed again; recorded without them",
                    runId=run["runId"],
                    uri=uri,
                    code=err.code,
                )
                return Decision(outputs.unreadable(params, uri, reason))
            log.warning("reading a run's outputs failed; retried next tick", runId=run["runId"], uri=uri, code=err.code)
            return Decision(None, note_failure=True)
        return Decision(outputs.missing(params, uri) if data is None else outputs.read(params, data, uri))

    def full_job(
        self, run: dict[str, Any], observed: dict[str, Any], get: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any] | None, Decision | None]:
        """The finished job read whole (job, None), or no job and what to record instead: WAIT (over this tick's
        bound), a failed GET noted (retried next tick), or a second failure: the final state with outputs `_error`."""
        due = _observed_part(observed)
        if not self.take():
            run["fullJobDue"] = due
            return None, WAIT
        self.reads += 1
        try:
            return get(), None
        except UpstreamError as err:
            reason = f"{err.code}: {err.message}"
            if not run.get("outputsReadFailed"):
                log.warning("reading a finished job failed; retried next tick", runId=run["runId"], code=err.code)
                run["fullJobDue"] = due
                return None, Decision(None, note_failure=True, due=due)
            log.warning("reading a finished job failed again; recorded without outputs", runId=run["runId"])
            message = str((observed.get("error") or {}).get("message") or "")
            error = f"the job's outputs could not be read ({reason})"
            result: dict[str, Any] = dict.fromkeys(run.get("outputNames") or ())
            result["_error"] = f"{message} ({error})" if message else error
            return None, Decision(result)


def _observed_part(job: dict[str, Any]) -> dict[str, Any]:
    """What a run needs of an observed job to record its final state later (its index entry holds it)."""
    return {k: job[k] for k in ("name", "state", "error", *runs.JOB_TIME_FIELDS) if k in job}
