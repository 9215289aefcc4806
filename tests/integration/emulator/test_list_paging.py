"""List: pagination, scoping, page tokens, read masks."""

from __future__ import annotations

import threading

import pytest
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from vertex_emulator import EmulatorServer

from .support import (
    assert_bad_request,
    create,
    make_client,
    raw_get,
)

pytestmark = pytest.mark.timeout(120)


# -- list: pagination -----------------------------------------------------------------------------------
def test_empty_list(client: v1.JobServiceClient, emulator: EmulatorServer, parent: str) -> None:
    assert list(client.list_custom_jobs(parent=parent)) == []
    assert raw_get(emulator.url, f"/v1/{parent}/customJobs").json() == {}


def test_pagination_over_260_jobs(client: v1.JobServiceClient, parent: str) -> None:
    names = [create(client, parent, display_name=f"job-{i}").name for i in range(260)]
    pages = list(client.list_custom_jobs(request={"parent": parent, "page_size": 100}).pages)
    assert [len(page.custom_jobs) for page in pages] == [100, 100, 60]
    listed = [job.name for page in pages for job in page.custom_jobs]
    assert listed == names  # ascending ids: every job exactly once, in creation order
    default = client.list_custom_jobs(request={"parent": parent})
    assert len(next(iter(default.pages)).custom_jobs) == 100  # default page size
    clamped = client.list_custom_jobs(request={"parent": parent, "page_size": 1000})
    first = next(iter(clamped.pages))
    assert len(first.custom_jobs) == 100 and first.next_page_token  # larger sizes are clamped
    small = [job.name for job in client.list_custom_jobs(request={"parent": parent, "page_size": 7})]
    assert small == names


def test_pagination_with_creates_between_pages(client: v1.JobServiceClient, parent: str) -> None:
    before = [create(client, parent, display_name=f"b{i}").name for i in range(30)]
    seen: list[str] = []
    token = ""
    added: list[str] = []
    while True:
        page = client.list_custom_jobs(request={"parent": parent, "page_size": 8, "page_token": token})
        response = next(iter(page.pages))
        seen += [job.name for job in response.custom_jobs]
        added += [create(client, parent, display_name=f"new{len(added)}").name for _ in range(2)]
        token = response.next_page_token
        if not token or len(added) > 100:
            break
    assert len(seen) == len(set(seen)), "a job was listed twice"
    assert set(before) <= set(seen), "a job that existed before listing was skipped"
    assert set(seen) <= set(before) | set(added)


def test_pagination_under_concurrent_creates(emulator: EmulatorServer, parent: str) -> None:
    lister = make_client(emulator.url)
    existing = {create(lister, parent, display_name=f"e{i}").name for i in range(120)}
    stop = threading.Event()
    created: list[str] = []

    def creator() -> None:
        mine = make_client(emulator.url)
        while not stop.is_set() and len(created) < 400:
            created.append(create(mine, parent, display_name="concurrent").name)

    threads = [threading.Thread(target=creator) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        listed = [job.name for job in lister.list_custom_jobs(request={"parent": parent, "page_size": 10})]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(listed) == len(set(listed))
    assert existing <= set(listed)
    assert set(listed) <= existing | set(created)
    assert [int(n.rsplit("/", 1)[1]) for n in listed] == sorted(int(n.rsplit("/", 1)[1]) for n in listed)


def test_list_is_scoped_to_its_location(client: v1.JobServiceClient, parent: str) -> None:
    mine = create(client, parent)
    create(client, parent + "-other")
    assert [job.name for job in client.list_custom_jobs(parent=parent)] == [mine.name]


def test_page_token_is_bound_to_its_filter(client: v1.JobServiceClient, parent: str) -> None:
    for i in range(5):
        create(client, parent, display_name=f"t{i}")
    first = next(iter(client.list_custom_jobs(request={"parent": parent, "page_size": 2}).pages))
    assert first.next_page_token
    with pytest.raises(gexc.BadRequest) as exc:
        client.list_custom_jobs(
            request={
                "parent": parent,
                "page_size": 2,
                "page_token": first.next_page_token,
                "filter": 'display_name="t1"',
            }
        )
    assert_bad_request(exc, "INVALID_ARGUMENT", "page_token")
    with pytest.raises(gexc.BadRequest) as garbage:
        client.list_custom_jobs(request={"parent": parent, "page_token": "not-a-token"})
    assert_bad_request(garbage, "INVALID_ARGUMENT", "page_token")
    with pytest.raises(gexc.BadRequest) as negative:
        client.list_custom_jobs(request={"parent": parent, "page_size": -1})
    assert_bad_request(negative, "INVALID_ARGUMENT", "page_size")


def test_read_mask(client: v1.JobServiceClient, parent: str) -> None:
    create(client, parent, display_name="masked", labels={"a": "b"}, timeout_s=60, scenario="PENDING")
    mask = field_mask_pb2.FieldMask(paths=["display_name", "state", "labels", "job_spec.scheduling"])
    [job] = list(client.list_custom_jobs(request={"parent": parent, "read_mask": mask}))
    assert job.display_name == "masked" and dict(job.labels) == {"a": "b"}
    assert job.state == v1.JobState.JOB_STATE_PENDING
    assert job.job_spec.scheduling.timeout.total_seconds() == 60
    assert not job.job_spec.worker_pool_specs and not job.name and not job.create_time
    with pytest.raises(gexc.BadRequest) as exc:
        list(client.list_custom_jobs(request={"parent": parent, "read_mask": {"paths": ["bogus_field"]}}))
    assert_bad_request(exc, "INVALID_ARGUMENT", "read_mask")


def test_label_filters_page_exactly_like_a_full_scan(client: v1.JobServiceClient, parent: str) -> None:
    """A filter on label equalities is answered from the emulator's label index (the jobs carrying them only);
    the pages are the same as a scan over every job, also after deletes."""
    jobs = [
        create(client, parent, display_name=f"j-{i}", scenario="SUCCEEDED", labels={"shard": f"{i % 6:02d}"})
        for i in range(90)
    ]
    for job in jobs[3:30:6]:  # five of shard 03
        client.delete_custom_job(name=job.name).result()

    def walk(text: str) -> list[list[str]]:
        request = {"parent": parent, "filter": text, "page_size": 7}
        return [[job.name for job in page.custom_jobs] for page in client.list_custom_jobs(request=request).pages]

    # The same condition in a form the index cannot serve (an OR with another field): a scan of every job.
    cases = {
        'labels.shard="03"': '(labels.shard="03" OR display_name="none")',
        'labels.shard="03" OR labels.shard="04"': '(labels.shard="03" OR labels.shard="04" OR display_name="none")',
        'labels.shard="03" AND state="JOB_STATE_SUCCEEDED"': (
            '(labels.shard="03" OR display_name="none") AND state="JOB_STATE_SUCCEEDED"'
        ),
        'labels.shard="99"': '(labels.shard="99" OR display_name="none")',
    }
    for narrowed, scanned in cases.items():
        assert walk(narrowed) == walk(scanned), narrowed
    assert sum(len(p) for p in walk('labels.shard="03"')) == 15 - 5
    assert sum(len(p) for p in walk('labels.shard="03" OR labels.shard="04"')) == 25
