"""List facts the poller relies on: label OR filters, state filters, readMask, page sizes, update_time, list views."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud.aiplatform_v1 import types
from google.protobuf import field_mask_pb2

from polysync_vertex.core import kinds
from polysync_vertex.core.labels import LABEL_REQUEST, request_key
from polysync_vertex.services.poll import FINISHED_BATCH, LIST_PAGE_SIZE

from .support import Jobs
from .target import RUN_LABEL, Target, facts

pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]
FACTS = facts()


def _list(jobs: Jobs, target: Target, filter_: str, **kw: Any) -> tuple[list[Any], str]:
    """One page of customJobs.list (exactly one request), and its next page token."""
    request = types.ListCustomJobsRequest(parent=target.parent, filter=filter_, **kw)
    page = next(iter(jobs.jobs.list_custom_jobs(request=request).pages))
    return list(page.custom_jobs), page.next_page_token


def _session(target: Target) -> str:
    return f'labels.{RUN_LABEL}="{target.session}"'


def _label_or(keys: list[str]) -> str:
    """The poller's filter for finished runs (services/poll/observe.py, `Observer`): an OR of request labels."""
    return " OR ".join(f'labels.{LABEL_REQUEST}="{k}"' for k in keys)


def _longest_keys(count: int, salt: str) -> list[str]:
    """Request keys of the longest requestIds (128 characters): the longest label values the poller sends."""
    return [request_key(f"{salt}-{i:04d}-".ljust(128, "x")) for i in range(count)]


@pytest.mark.fact("filter_label_or")
def test_an_or_of_50_label_equalities_is_accepted_and_matches(
    target: Target, jobs: Jobs, succeeded_job: Any, record: Any
) -> None:
    fact = FACTS["filter_label_or"]
    assert FINISHED_BATCH == fact["equalities"], "the poller's batch and the fact must name the same number"
    keys = _longest_keys(fact["equalities"] - 1, target.session) + [succeeded_job.labels[LABEL_REQUEST]]
    assert max(len(k) for k in keys) == fact["label_value_chars"]
    filter_ = _label_or(keys)
    found, _ = _list(jobs, target, filter_, page_size=LIST_PAGE_SIZE)
    record(equalities=len(keys), filter_chars=len(filter_), matched=[j.name for j in found])
    assert [j.name for j in found] == [succeeded_job.name]


@pytest.mark.fact("filter_label_or")
def test_longest_accepted_label_or_filter(target: Target, jobs: Jobs, record: Any) -> None:
    """Probes growing ORs (nothing matches them): the longest one accepted is recorded; the poller's worst case
    (50 equalities at the longest label values) must be inside it."""
    fact = FACTS["filter_label_or"]
    worst_case = len(_label_or(_longest_keys(fact["equalities"], "worst")))
    accepted = 0
    refused: dict[str, Any] = {}
    for count in fact["probe_equalities"]:
        filter_ = _label_or(_longest_keys(count, f"{target.session}-probe"))
        try:
            found, _ = _list(jobs, target, filter_, page_size=1)
        except gexc.GoogleAPICallError as exc:
            refused = {"equalities": count, "chars": len(filter_), "http": exc.code, "message": str(exc.message)[:300]}
            break
        assert found == []
        accepted = len(filter_)
    record(worst_case_chars=worst_case, longest_accepted_chars=accepted, first_refused=refused or None)
    assert accepted >= worst_case, f"the poller's {worst_case}-character filter is longer than any accepted"


@pytest.mark.fact("list_read_mask")
def test_read_mask_on_lists_returns_only_the_masked_fields(
    target: Target, jobs: Jobs, succeeded_job: Any, record: Any
) -> None:
    mask = kinds.BY_COLLECTION["customJobs"].read_mask  # the poller's own
    found, _ = _list(
        jobs,
        target,
        f'{_session(target)} AND labels.{LABEL_REQUEST}="{succeeded_job.labels[LABEL_REQUEST]}"',
        read_mask=field_mask_pb2.FieldMask(paths=list(mask)),
    )
    assert [j.name for j in found] == [succeeded_job.name]
    job = types.CustomJob.to_dict(found[0], use_integers_for_enums=False, preserving_proto_field_name=False)
    present = sorted(k for k, v in job.items() if v not in (None, "", {}, [], 0))
    record(mask=list(mask), present=present)
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["labels"] == dict(succeeded_job.labels)
    for absent in FACTS["list_read_mask"]["absent_when_masked"]:
        assert absent not in present, f"{absent} came back although the read mask leaves it out"


@pytest.mark.fact("list_state_filter")
def test_state_filters_select_by_state(
    target: Target, jobs: Jobs, succeeded_job: Any, running_job: Any, record: Any
) -> None:
    states = kinds.BY_COLLECTION["customJobs"].states
    non_final = "(" + " OR ".join(f'state="{s}"' for s in states.non_final) + ")"  # the poller's walk
    final = FACTS["list_state_filter"]["final_state"]
    walked, _ = _list(jobs, target, f"{_session(target)} AND {non_final}", page_size=LIST_PAGE_SIZE)
    ended, _ = _list(jobs, target, f'{_session(target)} AND state="{final}"', page_size=LIST_PAGE_SIZE)
    others, _ = _list(jobs, target, f'{_session(target)} AND state!="{final}"', page_size=LIST_PAGE_SIZE)
    record(
        non_final=[j.name for j in walked], succeeded=[j.name for j in ended], not_succeeded=[j.name for j in others]
    )
    assert running_job.name in {j.name for j in walked} and succeeded_job.name not in {j.name for j in walked}
    assert [j.name for j in ended] == [succeeded_job.name]
    assert succeeded_job.name not in {j.name for j in others} and running_job.name in {j.name for j in others}


@pytest.mark.fact("page_size")
def test_page_sizes_and_tokens(target: Target, jobs: Jobs, succeeded_job: Any, running_job: Any, record: Any) -> None:
    fact = FACTS["page_size"]
    assert fact["connector_page_size"] == LIST_PAGE_SIZE
    first, token = _list(jobs, target, _session(target), page_size=1)
    assert len(first) == 1 and token, "a page of one with more jobs behind it carries a next page token"
    second, _ = _list(jobs, target, _session(target), page_size=1, page_token=token)
    walked = [j.name for j in first + second]
    full, _ = _list(jobs, target, _session(target), page_size=LIST_PAGE_SIZE)
    oversized, _ = _list(jobs, target, _session(target), page_size=fact["oversized_request"])
    record(page_of_one=walked, full=len(full), oversized_accepted=True)
    assert len(set(walked)) == 2 and set(walked) <= {j.name for j in full}
    assert {succeeded_job.name, running_job.name} <= {j.name for j in full}
    assert [j.name for j in oversized] == [j.name for j in full]


@pytest.mark.fact("pipeline_update_time_filter")
def test_pipeline_jobs_list_filters_on_update_time(
    target: Target, jobs: Jobs, succeeded_pipeline: tuple[Any, Any], record: Any
) -> None:
    _, done = succeeded_pipeline
    updated = done.update_time
    at = updated.isoformat().replace("+00:00", "Z")
    after = (updated + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")

    def names(filter_: str) -> list[str]:
        request = types.ListPipelineJobsRequest(parent=target.parent, filter=filter_, page_size=LIST_PAGE_SIZE)
        return [j.name for j in next(iter(jobs.pipelines.list_pipeline_jobs(request=request).pages)).pipeline_jobs]

    since_update = names(f'{_session(target)} AND update_time>="{at}"')
    since_later = names(f'{_session(target)} AND update_time>="{after}"')
    record(update_time=at, matched_at=since_update, matched_after=since_later)
    assert since_update == [done.name]
    assert since_later == []


@pytest.mark.fact("pipeline_job_detail_in_list")
def test_job_detail_is_absent_from_pipeline_lists(
    target: Target, jobs: Jobs, succeeded_pipeline: tuple[Any, Any], record: Any
) -> None:
    _, done = succeeded_pipeline
    request = types.ListPipelineJobsRequest(parent=target.parent, filter=_session(target))
    listed = list(next(iter(jobs.pipelines.list_pipeline_jobs(request=request).pages)).pipeline_jobs)
    assert [j.name for j in listed] == [done.name]
    in_list = types.PipelineJob.pb(listed[0]).HasField("job_detail")
    in_get = types.PipelineJob.pb(jobs.get(done.name)).HasField("job_detail")
    record(job_detail_in_list=in_list, job_detail_in_get=in_get)
    assert in_list is FACTS["pipeline_job_detail_in_list"]["present"]
    assert in_get, "a GET carries jobDetail"
