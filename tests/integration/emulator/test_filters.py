"""List filters (AIP-160) on customJobs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1

from vertex_emulator import AdminClient, EmulatorServer

from .support import (
    PROJECT,
    assert_bad_request,
    create,
    raw_get,
)

pytestmark = pytest.mark.timeout(120)


# -- list: filters --------------------------------------------------------------------------------------
FILTER_JOBS: list[dict[str, Any]] = [
    {"display_name": "alpha", "scenario": "SUCCEEDED", "labels": {"env": "prod", "team": "ml"}},
    {"display_name": "alpine", "scenario": "PENDING:0,FAILED", "labels": {"env": "dev"}},
    {"display_name": "beta", "scenario": "PENDING:0,FAILED", "labels": {"env": "prod"}},
    {"display_name": "delta", "scenario": "RUNNING", "labels": {"team": "data"}},
    {"display_name": "gamma ray", "scenario": "SUCCEEDED", "labels": {}},
    {"display_name": "my_job_1", "scenario": "PENDING", "labels": {"env": "prod", "team": "ml"}},
]
ALL_NAMES = {job["display_name"] for job in FILTER_JOBS}


@pytest.fixture(scope="module")
def filter_parent(client: v1.JobServiceClient) -> tuple[str, list[v1.CustomJob]]:
    parent = f"projects/{PROJECT}/locations/filters-1"
    jobs = []
    for spec in FILTER_JOBS:  # every scenario here reaches its (last) state at once
        jobs.append(create(client, parent, **spec))
        time.sleep(0.002)  # distinct create times
    return parent, jobs


def filtered(client: v1.JobServiceClient, parent: str, text: str) -> set[str]:
    return {job.display_name for job in client.list_custom_jobs(request={"parent": parent, "filter": text})}


FILTERS: dict[str, set[str]] = {
    'display_name="alpha"': {"alpha"},
    'displayName="alpha"': {"alpha"},
    "display_name=alpha": {"alpha"},
    'display_name="gamma ray"': {"gamma ray"},
    'display_name!="alpha"': ALL_NAMES - {"alpha"},
    'display_name:"al*"': {"alpha", "alpine"},
    'display_name:"*ta"': {"beta", "delta"},
    'display_name:"*a*a*"': {"alpha", "gamma ray"},
    'display_name:"my_job_*"': {"my_job_1"},
    'display_name:"alp"': set(),
    'display_name:"*"': ALL_NAMES,
    'state="JOB_STATE_SUCCEEDED"': {"alpha", "gamma ray"},
    "state=JOB_STATE_FAILED": {"alpine", "beta"},
    'state!="JOB_STATE_FAILED"': ALL_NAMES - {"alpine", "beta"},
    'state="JOB_STATE_RUNNING"': {"delta"},
    'labels.env="prod"': {"alpha", "beta", "my_job_1"},
    "labels.env=prod": {"alpha", "beta", "my_job_1"},
    'labels."env"="dev"': {"alpine"},
    'labels.env!="prod"': ALL_NAMES - {"alpha", "beta", "my_job_1"},
    "labels.team:*": {"alpha", "delta", "my_job_1"},
    'labels.team:"m*"': {"alpha", "my_job_1"},
    "NOT labels.team:*": ALL_NAMES - {"alpha", "delta", "my_job_1"},
    "-labels.env:*": {"delta", "gamma ray"},
    'state="JOB_STATE_SUCCEEDED" AND display_name:"al*"': {"alpha"},
    'state="JOB_STATE_FAILED" OR display_name="alpha"': {"alpha", "alpine", "beta"},
    'NOT display_name="alpha"': ALL_NAMES - {"alpha"},
    # AIP-160: OR binds tighter than AND, so these read (a OR b) AND c and a AND (b OR c).
    'state="JOB_STATE_FAILED" OR display_name="alpha" AND labels.team="ml"': {"alpha"},
    '(display_name="alpha" OR display_name="beta") AND state="JOB_STATE_FAILED"': {"beta"},
    'display_name="beta" AND state="JOB_STATE_FAILED" OR display_name="delta"': {"beta"},
    '(display_name="beta" AND state="JOB_STATE_FAILED") OR display_name="delta"': {"beta", "delta"},
    'labels.env="prod" display_name="beta" OR display_name="alpha"': {"alpha", "beta"},
    'NOT (labels.env="prod" OR labels.env="dev")': {"delta", "gamma ray"},
    'labels.env="prod" labels.team="ml"': {"alpha", "my_job_1"},
    '((state="JOB_STATE_FAILED"))': {"alpine", "beta"},
    "": ALL_NAMES,
}


@pytest.mark.parametrize("text", list(FILTERS))
def test_filters(client: v1.JobServiceClient, filter_parent: tuple[str, list[v1.CustomJob]], text: str) -> None:
    parent, _ = filter_parent
    assert filtered(client, parent, text) == FILTERS[text]


def test_create_time_filters(
    client: v1.JobServiceClient, emulator: EmulatorServer, filter_parent: tuple[str, list[v1.CustomJob]]
) -> None:
    parent, jobs = filter_parent
    names = [job.display_name for job in jobs]
    middle = raw_get(emulator.url, f"/v1/{jobs[3].name}").json()["createTime"]
    assert middle.endswith("Z")
    assert filtered(client, parent, f'create_time="{middle}"') == {names[3]}
    assert filtered(client, parent, f'createTime!="{middle}"') == set(names) - {names[3]}
    assert filtered(client, parent, f'create_time<"{middle}"') == set(names[:3])
    assert filtered(client, parent, f'create_time<="{middle}"') == set(names[:4])
    assert filtered(client, parent, f'create_time>"{middle}"') == set(names[4:])
    assert filtered(client, parent, f'create_time>="{middle}"') == set(names[3:])
    assert filtered(client, parent, f"create_time>={middle}") == set(names[3:])
    assert filtered(client, parent, 'create_time>"2000-01-01T00:00:00Z"') == set(names)
    assert filtered(client, parent, 'create_time<"2000-01-01T00:00:00+02:00"') == set()
    shifted = middle.replace("Z", "+00:00")
    assert filtered(client, parent, f'create_time>="{shifted}" AND state="JOB_STATE_PENDING"') == {"my_job_1"}


@pytest.mark.parametrize(
    "text",
    [
        "display_name=",
        'display_name="alpha" AND',
        '(display_name="alpha"',
        'display_name="alpha")',
        'foo="bar"',
        'state="RUNNING"',
        'state>"JOB_STATE_RUNNING"',
        'display_name<"x"',
        'create_time>"yesterday"',
        'create_time:"2020-01-01T00:00:00Z"',
        'display_name="unterminated',
        'labels.a.b="x"',
        "AND",
        'display_name="a" OR OR display_name="b"',
        "NOT",
        'display_name "alpha"',
        "labels=x",
    ],
)
def test_bad_filters_are_invalid_argument(
    client: v1.JobServiceClient, filter_parent: tuple[str, list[v1.CustomJob]], text: str
) -> None:
    parent, _ = filter_parent
    with pytest.raises(gexc.BadRequest) as exc:
        list(client.list_custom_jobs(request={"parent": parent, "filter": text}))
    assert_bad_request(exc, "INVALID_ARGUMENT", "filter")


def test_filtered_pagination(client: v1.JobServiceClient, parent: str) -> None:
    names = [create(client, parent, display_name=f"even-{i}" if i % 2 == 0 else f"odd-{i}").name for i in range(40)]
    listed = [
        job.name
        for job in client.list_custom_jobs(
            request={"parent": parent, "page_size": 3, "filter": 'display_name:"even-*"'}
        )
    ]
    assert listed == names[::2]


def test_connector_filter_shapes_and_a_long_or(client: v1.JobServiceClient, admin: AdminClient, parent: str) -> None:
    keys = [f"req-{i:03d}-" + "k" * 50 for i in range(60)]
    for i, key in enumerate(keys):
        labels = {"managed-by": "polysync-vertex", "polysync-request": key, "polysync-shard": f"{i % 16:02d}"}
        create(client, parent, display_name=f"c{i}", labels=labels, scenario="PENDING")
    create(client, parent, display_name="foreign", labels={"polysync-request": keys[0]}, scenario="PENDING")
    long_or = " OR ".join(f'labels.polysync-request="{key}"' for key in keys[:50])
    assert len(long_or) > 4000  # a URL of a few KiB (about 4.4 KB as the connector sends)
    admin.reset_calls()
    assert len(filtered(client, parent, long_or)) == 51
    assert admin.calls()["ListCustomJobs"] == 1
    managed = 'labels.managed-by="polysync-vertex"'
    shards = "(" + " OR ".join(f'labels.polysync-shard="{i:02d}"' for i in range(2)) + ")"
    states = '(state="JOB_STATE_PENDING" OR state="JOB_STATE_RUNNING")'
    assert len(filtered(client, parent, f"{managed} AND {states} AND {shards}")) == 8
    assert filtered(client, parent, f'labels.polysync-request="{keys[5]}"') == {"c5"}
    assert filtered(client, parent, f"(labels.polysync-request:*) AND NOT {managed}") == {"foreign"}
    assert len(filtered(client, parent, f'{managed} AND update_time>="2000-01-01T00:00:00Z"')) == 60
    assert filtered(client, parent, f'{managed} AND update_time>="2999-01-01T00:00:00Z"') == set()
