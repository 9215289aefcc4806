"""Fixtures of the live suite: the target (the emulator, started here, or Vertex AI), the jobs it creates within the
budget (cleaned up at the end, whatever happens), and the few shared jobs most facts look at."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from .support import REPORT, Jobs, custom_job, labels, pipeline_job
from .target import Target, configured, cost_estimate, resolve


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    server = None
    if not configured():
        from vertex_emulator import EmulatorServer

        # Like tests/conftest.py's vertex_server: jobs 50x faster than scripted; CANCELLING lasts 1 s.
        server = EmulatorServer(host="127.0.0.1", port=0, time_factor=0.02, cancel_delay=50).start()
    try:
        resolved = resolve(emulator_url=server.url if server else "")
        REPORT.target = resolved
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and resolved.live:
            budget = int(request.config.getoption("--live-budget"))
            batch = bool(request.config.getoption("--live-batch-model"))
            reporter.write_line(resolved.describe())
            reporter.write_line(cost_estimate(budget, batch=batch))
        yield resolved
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="session")
def jobs(target: Target, request: pytest.FixtureRequest) -> Iterator[Jobs]:
    made = Jobs(target, int(request.config.getoption("--live-budget")))
    try:
        yield made
    finally:
        REPORT.left_behind = made.cleanup()


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Any:
    """record(**values): what this fact observed, for the report (keyed by the test's `fact` marker or name)."""
    marker = request.node.get_closest_marker("fact")
    fact = marker.args[0] if marker else request.node.name

    def do(**values: Any) -> None:
        REPORT.record(fact, **values)

    return do


@pytest.fixture(scope="session")
def succeeded_job(target: Target, jobs: Jobs) -> Any:
    """A CustomJob that ran for seconds and SUCCEEDED, with the connector's labels."""
    job_labels = labels(target, f"live-{target.session}-ok", "psv-live-ok")
    body = custom_job(target, "psv-live-ok", seconds=5, scenario="PENDING:1,RUNNING:2,SUCCEEDED", job_labels=job_labels)
    created = jobs.create(lambda: jobs.jobs.create_custom_job(parent=target.parent, custom_job=body))
    job = jobs.wait(created.name, lambda j: j.state.name == "JOB_STATE_SUCCEEDED" or _ended(j), "SUCCEEDED")
    return _as_expected(job, "JOB_STATE_SUCCEEDED", target)


@pytest.fixture(scope="session")
def running_job(target: Target, jobs: Jobs) -> Any:
    """A CustomJob that runs for 10 minutes unless cancelled, once it is RUNNING."""
    job_labels = labels(target, f"live-{target.session}-cancel", "psv-live-cancel")
    body = custom_job(
        target, "psv-live-cancel", seconds=600, scenario="PENDING:1,RUNNING:100000,SUCCEEDED", job_labels=job_labels
    )
    created = jobs.create(lambda: jobs.jobs.create_custom_job(parent=target.parent, custom_job=body))
    job = jobs.wait(created.name, lambda j: j.state.name == "JOB_STATE_RUNNING" or _ended(j), "RUNNING")
    return _as_expected(job, "JOB_STATE_RUNNING", target)


@pytest.fixture(scope="session")
def pipeline_id(target: Target) -> str:
    return f"psv-live-{target.session}-{secrets.token_hex(2)}"


@pytest.fixture(scope="session")
def succeeded_pipeline(target: Target, jobs: Jobs, pipeline_id: str) -> tuple[Any, Any]:
    """(the PipelineJob as sent, as it is once SUCCEEDED): the one-step pipeline returning a number."""
    if target.live and not target.pipeline_root:
        pytest.fail("set PSV_LIVE_PIPELINE_ROOT=gs://BUCKET/DIR (a pipeline writes its outputs there)")
    job_labels = labels(target, f"live-{target.session}-pipeline", "psv-live-pipeline")
    sent = pipeline_job(target, "psv-live-pipeline", job_labels=job_labels, scenario="PENDING:1,RUNNING:2,SUCCEEDED")
    created = jobs.create(
        lambda: jobs.pipelines.create_pipeline_job(parent=target.parent, pipeline_job=sent, pipeline_job_id=pipeline_id)
    )
    done = jobs.wait(created.name, lambda j: j.state.name.endswith(("SUCCEEDED", "FAILED", "CANCELLED")), "an end")
    return sent, done


def _as_expected(job: Any, state: str, target: Target) -> Any:
    """The shared job, or a failure that says why the facts depending on it cannot be checked."""
    if job.state.name != state:
        pytest.fail(
            f"the suite's tiny CustomJob {job.name} is {job.state.name}, not {state}: {job.error.message} "
            f"(image {target.image} on {target.machine_type}; PSV_LIVE_IMAGE / PSV_LIVE_MACHINE_TYPE choose others)"
        )
    return job


def _ended(job: Any) -> bool:
    return job.state.name.endswith(("_FAILED", "_CANCELLED", "_EXPIRED"))
