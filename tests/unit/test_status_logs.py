"""`status?runId=...&logs=N` decisions against in-memory fakes (tests/fakes.py): which jobs' lines a run's logs
read, what each kind costs in Vertex AI calls, and page tokens when a pipeline's tasks change between pages.

A Pipeline Job's tasks run as CustomJobs named only in GetPipelineJob's `jobDetail.taskDetails` (v1
PipelineTaskDetail.executor_detail: PipelineTaskExecutorDetail.ContainerDetail.main_job / failed_main_jobs,
CustomJobDetail.job / failed_jobs; google/cloud/aiplatform_v1/types/pipeline_job.py), so its logs cost one GET."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from polysync_vertex.config import Settings
from polysync_vertex.core import diagnostics, kinds, logpage
from polysync_vertex.core.errors import ApiError
from polysync_vertex.services.status_cancel import RunService
from tests.fakes import FakeLogs, FakeStore, FakeVertex

PARENT = "projects/my-proj/locations/us-central1"
SETTINGS = Settings(
    project="my-proj", allowed_projects=("my-proj",), allowed_locations=("us-central1",), request_budget_seconds=1.0
)
CREATED = "2026-12-01T10:00:00Z"


def custom_job(job_id: str) -> str:
    return f"{PARENT}/customJobs/{job_id}"


def task(name: str, state: str, *, main: str = "", failed: tuple[str, ...] = (), custom: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"taskName": name, "state": state, "taskId": str(abs(hash(name)) % 10**9)}
    if main or failed:
        out["executorDetail"] = {"containerDetail": {"mainJob": main, "failedMainJobs": list(failed)}}
    if custom:
        out["executorDetail"] = {"customJobDetail": {"job": custom}}
    return out


def entry(job_id: str, text: str, when: str, task_name: str = "workerpool0-0") -> dict[str, Any]:
    return {
        "resource": {"type": "ml_job", "labels": {"job_id": job_id, "task_name": task_name}},
        "timestamp": when,
        "severity": "INFO",
        "textPayload": text,
    }


class World:
    def __init__(self) -> None:
        self.vertex, self.store, self.logs = FakeVertex(), FakeStore(), FakeLogs()
        self.service = RunService(SETTINGS, self.vertex, self.store, self.logs)

    def run(self, kind: kinds.JobKind, job: dict[str, Any], **record: Any) -> str:
        """A job on Vertex AI and the connector's record of it (Running, as the last tick saw it)."""
        created = self.vertex.add(kind, PARENT, job)
        run_id = created["name"]
        name = kinds.parse_run_name(run_id, "runId")[1]
        stored = {
            "runId": run_id,
            "jobType": kind.job_type,
            "vertexState": kind.states.non_final[0],
            "status": "Running",
            "active": True,
            "createTime": CREATED,
            **record,
        }
        self.store._put(self.store.runs, kinds.run_doc_id(name), stored)
        return str(run_id)

    def logs_of(self, run_id: str, count: int = 5, token: str | None = None) -> dict[str, Any]:
        code, body = self.service.status(run_id, logs=str(count), page_token=token)
        assert code == 200
        return dict(body["logs"])


def running_pipeline(world: World) -> str:
    """A running pipeline: `prep` done (retried once), `train` running, `evaluate` waiting (no job yet)."""
    detail = {
        "taskDetails": [
            task("psv-root", "RUNNING"),
            task("prep", "SUCCEEDED", main=custom_job("111"), failed=(custom_job("110"),)),
            task("train", "RUNNING", custom=custom_job("222")),
            task("evaluate", "PENDING"),
        ]
    }
    return world.run(kinds.PIPELINE, {"state": "PIPELINE_STATE_RUNNING", "jobDetail": detail})


def test_a_running_pipelines_logs_read_every_tasks_custom_job_with_one_get() -> None:
    world = World()
    run_id = running_pipeline(world)
    world.logs.entries = [entry("222", "epoch 1 loss 0.5", "2026-12-01T10:05:00Z")]
    world.vertex.calls.clear()
    logs = world.logs_of(run_id)
    assert world.vertex.calls == {"get": 1} and world.logs.calls["list_entries"] == 1
    (filter_,) = world.logs.filters
    for job_id in ("110", "111", "222"):
        assert f'resource.labels.job_id="{job_id}"' in filter_
    job_id = run_id.rsplit("/", 1)[-1]
    assert f'resource.labels.pipeline_job_id="{job_id}"' in filter_ and f'timestamp>="{CREATED}"' in filter_
    line = {"time": "2026-12-01T10:05:00Z", "severity": "INFO", "source": "train/workerpool0-0"}
    assert logs["lines"] == [{**line, "text": "epoch 1 loss 0.5"}]


def test_without_the_get_a_pipeline_shows_only_what_its_record_names() -> None:
    """The old view, kept as the fallback: the record's failedTasks only (here none: the pipeline's events)."""
    world = World()
    run_id = running_pipeline(world)
    world.vertex.fail("get", "UNAVAILABLE")
    logs = world.logs_of(run_id)
    assert logs == {"lines": [], "nextPageToken": ""}
    (filter_,) = world.logs.filters
    assert "ml_job" not in filter_ and "pipeline_job_id" in filter_


@pytest.mark.parametrize("code", ["UNAVAILABLE", "PERMISSION_DENIED", "NOT_FOUND", "DEADLINE_EXCEEDED"])
def test_a_failed_get_falls_back_to_the_records_tasks_with_a_warning(
    code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    world = World()
    failed = [{"name": "train", "state": "FAILED", "error": "boom", "customJob": custom_job("444")}]
    run_id = running_pipeline(world)
    world.store.runs[next(iter(world.store.runs))][0]["diagnostics"] = {"failedTasks": failed}
    world.vertex.fail("get", code)
    world.logs.entries = [entry("444", "Traceback", "2026-12-01T10:06:00Z")]
    logs = world.logs_of(run_id)
    assert [line["source"] for line in logs["lines"]] == ["train/workerpool0-0"]
    (filter_,) = world.logs.filters
    assert 'job_id="444"' in filter_ and 'job_id="222"' not in filter_
    warnings = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"WARNING"' in x]
    assert [(w["severity"], w["code"], w["runId"]) for w in warnings] == [("WARNING", code, run_id)]


@pytest.mark.parametrize(
    ("kind", "job", "reads"),
    [
        (kinds.DEFAULT, {"state": "JOB_STATE_RUNNING"}, 1),
        (kinds.BATCH, {"state": "JOB_STATE_RUNNING"}, 0),
    ],
)
def test_custom_and_batch_logs_cost_no_vertex_call(kind: kinds.JobKind, job: dict[str, Any], reads: int) -> None:
    world = World()
    run_id = world.run(kind, job)
    world.logs.next_token = "up-1"
    world.vertex.calls.clear()
    first = world.logs_of(run_id)
    if reads:
        world.logs_of(run_id, token=first["nextPageToken"])
    assert sum(world.vertex.calls.values()) == 0
    assert world.logs.calls["list_entries"] == 2 * reads
    assert not kind.logs_need_job


def test_paging_keeps_the_first_pages_jobs_when_a_task_starts_between_pages() -> None:
    """Cloud Logging's page token is valid only with the filter it came from (entries.list: "The values of other
    method parameters should be identical to those in the previous call"): page 2 re-uses page 1's jobs."""
    world = World()
    run_id = running_pipeline(world)
    world.logs.next_token = "up-1"
    first = world.logs_of(run_id)
    assert first["nextPageToken"]
    detail = world.vertex.jobs[run_id]["jobDetail"]["taskDetails"]
    detail[-1] = task("evaluate", "RUNNING", main=custom_job("333"))  # a task starts between the pages
    world.vertex.calls.clear()
    world.logs.next_token = ""
    second = world.logs_of(run_id, token=first["nextPageToken"])
    assert world.vertex.calls == {"get": 1} and second["nextPageToken"] == ""
    assert world.logs.page_tokens == ["", "up-1"] and world.logs.filters[1] == world.logs.filters[0]
    third = world.logs_of(run_id)  # a new first page names the new task's job
    assert third["nextPageToken"] == "" and 'job_id="333"' in world.logs.filters[2]


def test_a_later_page_still_works_when_the_get_fails_for_a_token_of_the_records_view() -> None:
    world = World()
    run_id = running_pipeline(world)
    world.vertex.fail("get", "UNAVAILABLE", "UNAVAILABLE")
    world.logs.next_token = "up-1"
    first = world.logs_of(run_id)
    second = world.logs_of(run_id, token=first["nextPageToken"])
    assert world.logs.page_tokens == ["", "up-1"] and world.logs.filters[1] == world.logs.filters[0]
    assert second["nextPageToken"]  # the next page again


def forged(upstream: str, filter_: str, jobs: Any) -> str:
    """A token as a client could make one: the digest of `filter_` (no secret in it) and the job ids `jobs`."""
    ours = logpage.encode_token(upstream, filter_)
    data = json.loads(base64.urlsafe_b64decode(ours + "=" * (-len(ours) % 4)))
    raw = json.dumps({**data, "j": jobs}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def status_filter(run_id: str, ids: list[str]) -> str:
    """The filter a token naming `ids` would be bound to: anyone can compute it (the digest is no secret)."""
    kind, name = kinds.parse_run_name(run_id, "runId")
    return diagnostics.combined_filter([kind.run_log_filter(name, ids)], since=CREATED)


@pytest.mark.parametrize(
    "make",
    [
        # a job that is not one of the pipeline's tasks', with a digest matching the filter it asks for
        lambda run_id, other: forged("up-1", status_filter(run_id, ["999"]), ["999"]),
        lambda run_id, other: forged("up-1", status_filter(run_id, ["111", "999"]), ["111", "999"]),
        # the pipeline's own jobs but a digest of another filter
        lambda run_id, other: forged("up-1", status_filter(run_id, ["110"]), ["111"]),
        # another run's token (same task ids are not enough: the filter names the pipeline)
        lambda run_id, other: forged("up-1", status_filter(other, ["111"]), ["111"]),
        lambda run_id, other: forged("up-1", status_filter(run_id, []), "111"),
        lambda run_id, other: forged("up-1", status_filter(run_id, []), [111]),
        lambda run_id, other: forged("up-1", status_filter(run_id, []), [{"x": 1}]),
        lambda run_id, other: base64.urlsafe_b64encode(b'["t"]').decode(),
    ],
)
def test_forged_tokens_are_400_and_read_no_logs(make: Any) -> None:
    world = World()
    run_id, other = running_pipeline(world), running_pipeline(world)
    with pytest.raises(ApiError) as caught:
        world.logs_of(run_id, token=make(run_id, other))
    assert (caught.value.status, caught.value.field) == ("INVALID_ARGUMENT", "pageToken")
    assert world.logs.calls["list_entries"] == 0


def test_a_token_of_the_full_view_is_refused_while_the_get_fails() -> None:
    """Its jobs cannot be checked against the record's: 400 'ask again without it', never a 500."""
    world = World()
    run_id = running_pipeline(world)
    world.logs.next_token = "up-1"
    token = world.logs_of(run_id)["nextPageToken"]
    world.vertex.fail("get", "UNAVAILABLE")
    with pytest.raises(ApiError) as caught:
        world.logs_of(run_id, token=token)
    assert caught.value.field == "pageToken" and world.logs.calls["list_entries"] == 1


def test_a_first_page_names_at_most_the_newest_max_jobs() -> None:
    world = World()
    many = [task(f"t{i}", "SUCCEEDED", main=custom_job(str(1000 + i))) for i in range(logpage.MAX_JOBS + 5)]
    run_id = world.run(kinds.PIPELINE, {"state": "PIPELINE_STATE_RUNNING", "jobDetail": {"taskDetails": many}})
    world.logs.next_token = "up-1"
    token = world.logs_of(run_id)["nextPageToken"]
    (filter_,) = world.logs.filters
    assert 'job_id="1004"' not in filter_ and 'job_id="1005"' in filter_ and 'job_id="1104"' in filter_
    assert len(filter_) < 20_000  # Cloud Logging's filter limit (entries.list `filter`)
    world.logs_of(run_id, token=token)
    assert world.logs.filters[1] == filter_
