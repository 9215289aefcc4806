"""The chaos run's invariant checker (tests/e2e/chaos/invariants.py) on synthetic outcomes: a clean run passes,
and each broken guarantee is reported (so a chaos run that passes means the guarantees held)."""

from __future__ import annotations

from typing import Any

import pytest

from polysync_vertex.core.labels import LABEL_REQUEST, request_key
from tests.e2e.chaos.config import PARENT, STATUS_CHANGED, Outcome, Plan
from tests.e2e.chaos.invariants import World, check, check_hints

FINAL = {"SUCCEEDED": "JOB_STATE_SUCCEEDED", "FAILED": "JOB_STATE_FAILED", "CANCEL": "JOB_STATE_CANCELLED"}
STATUS = {"JOB_STATE_SUCCEEDED": "Success", "JOB_STATE_FAILED": "Failed", "JOB_STATE_CANCELLED": "Cancelled"}
PATHS = {
    "SUCCEEDED": ["JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"],
    "FAILED": ["JOB_STATE_RUNNING", "JOB_STATE_FAILED"],
    "CANCEL": ["JOB_STATE_RUNNING", "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"],
}


def job(name: str, request_id: str, state: str) -> dict[str, Any]:
    return {"name": f"{PARENT}/customJobs/{name}", "state": state, "labels": {LABEL_REQUEST: request_key(request_id)}}


def event(run_id: str, sequence: int, state: str, previous: str) -> dict[str, Any]:
    status = STATUS.get(state, "Running")
    return {
        "attributes": {"ce-type": STATUS_CHANGED, "ce-subject": run_id, "ce-id": f"{run_id}/{sequence}"},
        "data": {"sequence": sequence, "vertexState": state, "previousVertexState": previous, "status": status},
    }


def scenario(*outcomes: str) -> tuple[list[Outcome], list[dict[str, Any]], World]:
    """One clean run per outcome: one job, its record, its events 2..n in order."""
    results, events, jobs, records = [], [], [], {}
    for i, planned in enumerate(outcomes):
        request_id = f"req-{i}"
        plan = Plan(i, request_id, planned, 1, False, 0.0, {"requestId": request_id})
        j = job(str(100 + i), request_id, FINAL[planned])
        previous = "JOB_STATE_PENDING"
        for seq, state in enumerate(PATHS[planned], start=2):
            events.append(event(j["name"], seq, state, previous))
            previous = state
        final_seq = 1 + len(PATHS[planned])
        record = {"runId": j["name"], "vertexState": j["state"], "status": STATUS[j["state"]], "sequence": final_seq}
        results.append(Outcome(plan, run_id=j["name"], record=record))
        jobs.append(j)
        records[j["name"]] = (200, record)
    return results, events, World(jobs, records)


def violations_of(outcomes: list[Outcome], events: list[dict[str, Any]], world: World) -> list[str]:
    return check(outcomes, events, world)[1]


def test_a_clean_run_has_no_violation() -> None:
    outcomes, events, world = scenario("SUCCEEDED", "FAILED", "CANCEL")
    counts, violations = check(outcomes, events, world)
    assert violations == []
    assert counts["one_run_per_request"] == "3/3" and counts["at_most_one_live"] == "3/3"
    assert counts["in_order"] == "3/3" and counts["terminal_once"] == "3/3"
    assert counts["orphans"] == 0 and counts["duplicates_cancelled"] == 0


def test_duplicate_copies_of_an_event_are_fine() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    counts, violations = check(outcomes, [events[0], *events, events[-1]], world)
    assert violations == [] and counts["duplicates"] == 2


def test_a_late_duplicate_cancelled_by_the_poller_is_fine() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    world.jobs.append(job("999", "req-0", "JOB_STATE_CANCELLED"))
    world.records[world.jobs[-1]["name"]] = (404, {"error": {"status": "NOT_FOUND"}})
    counts, violations = check(outcomes, events, world)
    assert violations == [] and counts["duplicates_cancelled"] == 1


def test_a_late_duplicate_that_ended_before_any_tick_is_counted_not_a_violation() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    world.jobs.append(job("999", "req-0", "JOB_STATE_FAILED"))
    world.records[world.jobs[-1]["name"]] = (404, {"error": {"status": "NOT_FOUND"}})
    counts, violations = check(outcomes, events, world)
    assert violations == [] and counts["duplicates_ended"] == 1 and counts["orphans"] == 0


def test_an_ended_job_without_a_recorded_run_is_still_an_orphan() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    world.jobs.append(job("998", "req-unrecorded", "JOB_STATE_SUCCEEDED"))
    counts, violations = check(outcomes, events, world)
    assert violations  # an unknown request's job, or an orphan: never silently accepted


def test_a_late_job_not_cancelled_is_an_orphan_and_a_second_live_job() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    late = job("999", "req-0", "JOB_STATE_RUNNING")
    world.jobs.append(late)
    counts, violations = check(outcomes, events, world)
    assert counts["orphans"] == 1 and counts["at_most_one_live"] == "0/1"
    assert any(v.startswith(f"orphan job {late['name']}") for v in violations)
    assert any("2 live jobs" in v for v in violations)


def test_a_cancelled_job_is_an_orphan_when_its_request_has_no_run() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    world.records.clear()  # the request's only job has no record
    counts, violations = check(outcomes, events, world)
    assert counts["orphans"] == 1 and counts["one_run_per_request"] == "0/1"
    assert any("0 recorded jobs" in v for v in violations)


def test_two_recorded_jobs_for_one_request() -> None:
    outcomes, events, world = scenario("CANCEL")
    other = job("998", "req-0", "JOB_STATE_CANCELLED")
    world.jobs.append(other)
    world.records[other["name"]] = (200, {"runId": other["name"]})
    assert any("2 recorded jobs" in v for v in violations_of(outcomes, events, world))


def test_answered_run_differs_from_the_recorded_job() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    outcomes[0].run_id = f"{PARENT}/customJobs/555"
    assert any("answered run" in v for v in violations_of(outcomes, events, world))


def test_record_that_is_not_the_jobs_true_state() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    outcomes[0].record["vertexState"] = "JOB_STATE_RUNNING"
    assert any("Vertex AI says JOB_STATE_SUCCEEDED" in v for v in violations_of(outcomes, events, world))


def test_a_run_that_ended_other_than_planned() -> None:
    outcomes, events, world = scenario("FAILED")
    outcomes[0].plan.outcome = "SUCCEEDED"
    assert any("the plan was SUCCEEDED" in v for v in violations_of(outcomes, events, world))


def test_a_job_of_an_unknown_request() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    world.jobs.append(job("777", "someone-else", "JOB_STATE_RUNNING"))
    assert any("unknown requestId key" in v for v in violations_of(outcomes, events, world))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda ev: [ev[1], ev[0], ev[2]], "sequences in arrival order [3, 2, 4]"),
        (lambda ev: ev[:-1], "terminal ce-ids []"),
        (lambda ev: [ev[0], ev[2]], "sequences in arrival order [2, 4]"),
    ],
)
def test_events_out_of_order_missing_or_without_terminal(mutate: Any, expected: str) -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    assert any(expected in v for v in violations_of(outcomes, mutate(events), world))


def test_copies_that_differ_are_a_ce_id_conflict() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    copy = {"attributes": dict(events[0]["attributes"]), "data": {**events[0]["data"], "status": "Unknown"}}
    counts, violations = check(outcomes, [*events, copy], world)
    assert counts["ce_id_conflicts"] == 1 and any("copies of one change differ" in v for v in violations)


def test_two_terminal_events_and_a_regression() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    run_id = outcomes[0].run_id
    extra = [event(run_id, 5, "JOB_STATE_QUEUED", "JOB_STATE_SUCCEEDED"), event(run_id, 6, "JOB_STATE_SUCCEEDED", "")]
    outcomes[0].record["sequence"] = 6
    counts, violations = check(outcomes, [*events, *extra], world)
    assert counts["regressions"] == 1 and counts["terminal_once"] == "0/1"


def test_an_adopted_run_publishes_from_sequence_one() -> None:
    outcomes, events, world = scenario("SUCCEEDED")
    run_id = outcomes[0].run_id
    adopted = [event(run_id, 1, "JOB_STATE_PENDING", ""), *events]
    adopted[1]["data"]["previousVertexState"] = "JOB_STATE_PENDING"
    assert violations_of(outcomes, adopted, world) == []


def hint_batch(changes: int = 0, **fields: int) -> dict[str, Any]:
    return {
        "message": "hint batch",
        "entries": 1,
        "malformed": 0,
        "changes": changes,
        "eventsPublished": changes,
        "overBudget": 0,
        "getFailed": 0,
        **fields,
    }


def test_hints_that_recorded_changes_in_a_storm_and_a_loss_pass() -> None:
    counts, violations = check_hints(
        [hint_batch(), hint_batch(1), hint_batch(overBudget=1)], 30, 20, 5, storm=True, loss=True
    )
    assert violations == []
    assert counts["hints"] == (
        "routed:30/copies:20/dropped:5/batches:3/with_changes:1/changes:1/events:1/overBudget:1/getFailed:0"
    )


@pytest.mark.parametrize(
    ("batches", "duplicated", "dropped", "wanted"),
    [
        ([], 20, 5, "hints did no work"),  # the hint function never ran
        ([hint_batch(), hint_batch(getFailed=1)], 20, 5, "hints did no work"),  # it ran but recorded nothing
        ([hint_batch(1, malformed=1)], 20, 5, "malformed"),
        ([hint_batch(1)], 0, 5, "storm duplicated no entry"),
        ([hint_batch(1)], 20, 0, "loss dropped no entry"),
    ],
)
def test_hints_that_did_nothing_or_phases_that_did_not_happen_are_violations(
    batches: list[dict[str, Any]], duplicated: int, dropped: int, wanted: str
) -> None:
    _, violations = check_hints(batches, 30, duplicated, dropped, storm=True, loss=True)
    assert len(violations) == 1 and wanted in violations[0]
