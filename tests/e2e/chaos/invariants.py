"""The contract's guarantees, checked on what a chaos run left behind.

`gather` reads the world (every connector-labelled job from the Vertex AI emulator, the status answer for each
job); `check` is pure: it takes the outcomes, the events and that world and returns counts and violations, so it
is unit-tested on synthetic outcomes (tests/unit/test_chaos_invariants.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from polysync_vertex.core.labels import LABEL_MANAGED_BY, LABEL_REQUEST, MANAGED_BY, request_key
from polysync_vertex.core.states import FINAL_STATES, polysync_status

from .config import (
    BATCH,
    CANCELLED_STATES,
    FINAL_STATUSES,
    JOB_TYPES,
    PARENT,
    PIPELINE,
    SHORT_TYPE,
    STATE_RANK,
    STATUS_CHANGED,
    Outcome,
    expected_state,
)

ENDED_STATES = FINAL_STATES - CANCELLED_STATES


@dataclass
class World:
    """What Vertex AI and the connector say at the end: every connector job, and `status` for each of them."""

    jobs: list[dict[str, Any]]  # {"name", "state", "labels", ...} as Vertex AI lists them
    records: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # job name -> (HTTP, body)

    def recorded(self, job: dict[str, Any]) -> bool:
        """Whether the connector holds a run record whose run is this job."""
        status, body = self.records.get(job["name"], (0, {}))
        return status == 200 and body.get("runId") == job["name"]


def list_connector_jobs(vertex_url: str) -> list[dict[str, Any]]:
    """Every connector-labelled job of the three types, through the official clients (REST)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import PipelineServiceClient
    from google.protobuf import json_format

    from tests.helpers import job_client

    filter_ = f'labels.{LABEL_MANAGED_BY}="{MANAGED_BY}"'
    request = {"parent": PARENT, "filter": filter_}
    jobs_client = job_client(vertex_url)
    pipelines = PipelineServiceClient(
        transport="rest", client_options={"api_endpoint": vertex_url}, credentials=AnonymousCredentials()
    )
    jobs: list[dict[str, Any]] = []
    for pager in (
        jobs_client.list_custom_jobs(request=request),
        pipelines.list_pipeline_jobs(request=request),
        jobs_client.list_batch_prediction_jobs(request=request),
    ):
        jobs += [json_format.MessageToDict(type(j).pb(j)) for j in pager]
    return jobs


def gather(vertex_url: str, status: Any) -> World:
    """`status(run_id) -> Response` (retried by the caller); lists the connector's jobs through the real clients."""
    jobs = list_connector_jobs(vertex_url)
    records = {}
    for job in jobs:
        r = status(job["name"])
        records[job["name"]] = (r.status, r.body if isinstance(r.body, dict) else {})
    return World(jobs, records)


def check(outcomes: list[Outcome], events: list[dict[str, Any]], world: World) -> tuple[dict[str, Any], list[str]]:
    violations: list[str] = []
    jobs = world.jobs
    by_name = {j["name"]: j for j in jobs}
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        by_key[(job.get("labels") or {}).get(LABEL_REQUEST, "")].append(job)

    # Per requestId: exactly one job is its run (recorded), at most one job is live, every other job was cancelled
    # as a duplicate; no job without a record otherwise (an orphan).
    one_run = live_ok = 0
    duplicates_cancelled = duplicates_ended = orphans = 0
    keys = {request_key(o.plan.request_id): o for o in outcomes}
    for key, o in keys.items():
        found = by_key.get(key, [])
        recorded = [j for j in found if world.recorded(j)]
        # A duplicate of a recorded run that ended on its own (FAILED / SUCCEEDED) before any tick could cancel it
        # (a late create of a job shorter than the poll interval) cannot be cancelled any more: counted, not live.
        ended = [j for j in found if recorded and j not in recorded and j.get("state") in ENDED_STATES]
        live = [j for j in found if j.get("state") not in CANCELLED_STATES and j not in ended]
        for job in found:
            if job in recorded:
                continue
            if recorded and job.get("state") in CANCELLED_STATES:
                duplicates_cancelled += 1
            elif job in ended:
                duplicates_ended += 1
            else:
                orphans += 1
                status, body = world.records.get(job["name"], (0, {}))
                violations.append(
                    f"orphan job {job['name']} ({job.get('state')}) of {o.plan.request_id}: no run record holds it "
                    f"and it was not cancelled as a duplicate (status answered {status} {body})"
                )
        if len(recorded) == 1:
            one_run += 1
        else:
            violations.append(f"{o.plan.request_id}: {len(recorded)} recorded jobs {[j['name'] for j in recorded]}")
        if len(live) <= 1:
            live_ok += 1
        else:
            violations.append(f"{o.plan.request_id}: {len(live)} live jobs {[j['name'] for j in live]}")
        if o.run_id and recorded and recorded[0]["name"] != o.run_id:
            violations.append(f"{o.plan.request_id}: answered run {o.run_id} but its recorded job is {recorded[0]}")
    foreign = sorted(set(by_key) - set(keys))
    violations += [f"job(s) of an unknown requestId key {k}: {[j['name'] for j in by_key[k]]}" for k in foreign]

    # Every run recorded with its job's true final state (and the one the scenario or the cancel asked for).
    true_final = expected = 0
    for o in outcomes:
        if not o.run_id:
            continue
        true_state = (by_name.get(o.run_id) or {}).get("state")
        rec = o.record
        if rec.get("vertexState") == true_state and rec.get("status") == polysync_status(str(true_state)):
            true_final += 1
        else:
            violations.append(
                f"{o.run_id}: recorded {rec.get('status')}/{rec.get('vertexState')}, Vertex AI says {true_state}"
            )
        if true_state == expected_state(o.plan):
            expected += 1
        else:
            violations.append(f"{o.run_id}: ended {true_state}, the plan was {o.plan.outcome}")
        if rec.get("jobType", o.plan.job_type) != o.plan.job_type:
            violations.append(f"{o.run_id}: recorded jobType {rec.get('jobType')}, submitted as {o.plan.job_type}")

    event_counts = _check_events(outcomes, events, violations)
    results_ok, results_checked = _check_results(outcomes, events, violations)
    per_type = Counter(o.plan.job_type for o in outcomes)
    counts = {
        "jobs": len(jobs),
        "one_run_per_request": f"{one_run}/{len(outcomes)}",
        "at_most_one_live": f"{live_ok}/{len(outcomes)}",
        "duplicates_cancelled": duplicates_cancelled,
        "duplicates_ended": duplicates_ended,
        "foreign_jobs": sum(len(by_key[k]) for k in foreign),
        "orphans": orphans,
        "true_final": f"{true_final}/{len(outcomes)}",
        "expected_final": f"{expected}/{len(outcomes)}",
        **event_counts,
        "types": "/".join(f"{SHORT_TYPE[t]}:{per_type[t]}" for t in JOB_TYPES if per_type[t]),
        "outputs_ok": f"{results_ok}/{results_checked}",
    }
    return counts, violations


def _terminal_data(run_id: str, events: list[dict[str, Any]]) -> dict[str, Any] | None:
    for e in events:
        attrs = e["attributes"]
        if attrs.get("ce-type") == STATUS_CHANGED and attrs.get("ce-subject") == run_id:
            data = e.get("data") or {}
            if data.get("status") in FINAL_STATUSES:
                return dict(data)
    return None


def _check_results(outcomes: list[Outcome], events: list[dict[str, Any]], violations: list[str]) -> tuple[int, int]:
    """What a final Pipeline Job or Batch Prediction Job run carries, in its record and in its terminal event: a
    succeeded pipeline its Output value (from VERTEX_EMULATOR_OUTPUTS), a failed one `_error`; a succeeded batch
    prediction its outputInfo under the template's output prefix and its completionStats. Returns (ok, checked)."""
    ok = checked = 0
    for o in outcomes:
        plan, rec = o.plan, o.record
        if not o.run_id or plan.job_type not in (PIPELINE, BATCH) or not rec:
            continue
        checked += 1
        problems: list[str] = []
        terminal = _terminal_data(o.run_id, events)
        fields = ("outputs",) if plan.job_type == PIPELINE else ("outputInfo", "completionStats")
        if terminal is None:
            problems.append("no terminal event")
        else:
            problems += [
                f"terminal event's {f} {terminal.get(f)} != record's {rec.get(f)}"
                for f in fields
                if terminal.get(f) != rec.get(f)
            ]
        status = rec.get("status")
        if plan.job_type == PIPELINE:
            outputs = rec.get("outputs")
            if status == "Success" and outputs != plan.expect.get("outputs"):
                problems.append(f"outputs {outputs}, expected {plan.expect.get('outputs')}")
            if status == "Failed" and not (isinstance(outputs, dict) and outputs.get("_error")):
                problems.append(f"a failed pipeline's outputs carry no _error: {outputs}")
        elif status == "Success":
            info, stats = rec.get("outputInfo") or {}, rec.get("completionStats") or {}
            prefix = str(plan.expect.get("outputUriPrefix", ""))
            if not str(info.get("gcsOutputDirectory", "")).startswith(prefix + "/prediction-"):
                problems.append(f"outputInfo {info} is not under {prefix}")
            if stats.get("successfulCount") != plan.expect.get("successfulCount"):
                problems.append(f"completionStats {stats}, expected {plan.expect.get('successfulCount')} successful")
        if problems:
            violations.append(f"{o.run_id} ({plan.job_type}, {status}): " + "; ".join(problems))
        else:
            ok += 1
    return ok, checked


def _check_events(outcomes: list[Outcome], events: list[dict[str, Any]], violations: list[str]) -> dict[str, Any]:
    """Per run, in first-arrival order with duplicate ce-ids dropped: sequences in order, one ce-id per change,
    one terminal event and it is the last, no state going back in the lifecycle."""
    status_events = [e for e in events if e["attributes"].get("ce-type") == STATUS_CHANGED]
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in status_events:
        by_run[e["attributes"].get("ce-subject", "")].append(e)
    in_order = terminal_once = id_conflicts = regressions = duplicates = 0
    for o in outcomes:
        if not o.run_id:
            continue
        run_id, final_seq = o.run_id, int(o.record.get("sequence") or 0)
        first: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        conflict = False
        for e in by_run.get(run_id, []):
            ce_id = e["attributes"]["ce-id"]
            if ce_id in first:
                duplicates += 1
                if first[ce_id]["data"] != e["data"] or first[ce_id]["attributes"] != e["attributes"]:
                    conflict = True
                continue
            first[ce_id] = e
            order.append(ce_id)
        seqs = [first[c]["data"].get("sequence") for c in order]
        ids_ok = all(c == f"{run_id}/{first[c]['data'].get('sequence')}" for c in order)
        if any(n > 1 for n in Counter(seqs).values()):
            conflict = True  # two different ce-ids for one sequence
        if conflict:
            id_conflicts += 1
            violations.append(f"{run_id}: copies of one change differ or one sequence has two ce-ids")
        chain = all(
            first[b]["data"].get("previousVertexState") == first[a]["data"].get("vertexState")
            for a, b in zip(order, order[1:], strict=False)
        )
        # Sequence 1 is the state recorded at submit: published only when the job had already ended by then (or
        # the run was adopted by the poller, whose events start at sequence 1).
        expected_seqs = list(range(1 if seqs[:1] == [1] else 2, final_seq + 1))
        if seqs == expected_seqs and ids_ok and chain:
            in_order += 1
        else:
            violations.append(f"{run_id}: sequences in arrival order {seqs}, record at {final_seq}, chain {chain}")
        terminals = [c for c in order if first[c]["data"].get("status") in FINAL_STATUSES]
        if len(terminals) == 1 and terminals[0] == order[-1]:
            terminal_once += 1
        else:
            violations.append(f"{run_id}: terminal ce-ids {terminals} (last {order[-1:] if order else None})")
        states = [first[c]["data"].get("vertexState") for c in order]
        ranks = [STATE_RANK.get(str(s), 9) for s in states]
        if any(b < a for a, b in zip(ranks, ranks[1:], strict=False)):
            regressions += 1
            violations.append(f"{run_id}: published states go back in the lifecycle: {states}")
    return {
        "events": len(status_events),
        "duplicates": duplicates,
        "in_order": f"{in_order}/{len(outcomes)}",
        "ce_id_conflicts": id_conflicts,
        "terminal_once": f"{terminal_once}/{len(outcomes)}",
        "regressions": regressions,
    }


HINT_FIELDS = ("entries", "malformed", "overBudget", "getFailed", "changes", "eventsPublished")


def check_hints(
    batches: list[dict[str, Any]], routed: int, duplicated: int, dropped: int, *, storm: bool, loss: bool
) -> tuple[dict[str, Any], list[str]]:
    """Hints did work during the run, and the storm and the loss happened: `batches` are the hint function's
    `hint batch` summaries (services/poll/hints.py), `routed` / `duplicated` / `dropped` the log router's counters
    (messages published, copies beyond the first, entries dropped). The other invariants (`check`) show that the
    storm and the loss changed nothing that was published; this shows hints were not silently doing nothing."""
    violations: list[str] = []
    sums = {f: sum(int(b.get(f) or 0) for b in batches) for f in HINT_FIELDS}
    working = sum(1 for b in batches if int(b.get("changes") or 0) > 0)
    if not working:
        violations.append(
            f"hints did no work: no hint batch recorded a change ({len(batches)} batches, {routed} entries routed)"
        )
    if sums["malformed"]:
        violations.append(f"{sums['malformed']} hint entries were malformed: the router routes only sink entries")
    if storm and not duplicated:
        violations.append("the hint storm duplicated no entry")
    if loss and not dropped:
        violations.append("the hint loss dropped no entry")
    counts = {
        "hints": f"routed:{routed}/copies:{duplicated}/dropped:{dropped}/batches:{len(batches)}/"
        f"with_changes:{working}/changes:{sums['changes']}/events:{sums['eventsPublished']}/"
        f"overBudget:{sums['overBudget']}/getFailed:{sums['getFailed']}"
    }
    return counts, violations
