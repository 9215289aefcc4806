"""--execute: a job's container command as a local process."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from google.cloud import aiplatform_v1 as v1

from vertex_emulator import AdminClient, EmulatorServer

from .support import (
    create,
    job_id,
    wait_for,
    wait_state,
)

pytestmark = pytest.mark.timeout(120)


# -- --execute ------------------------------------------------------------------------------------------
SCRIPT = (
    "import os, sys; print('ARGS=' + ' '.join(sys.argv[1:])); print('GREETING=' + os.environ['GREETING']); "
    "print('JOB=' + os.environ['CLOUD_ML_JOB_ID']); sys.exit(int(os.environ['CODE']))"
)


def test_execute_success_with_args_and_env(
    exec_client: v1.JobServiceClient, exec_emulator: EmulatorServer, parent: str
) -> None:
    job = create(
        exec_client,
        parent,
        command=[sys.executable, "-c", SCRIPT],
        args=["--epochs", "3"],
        env={"CODE": "0", "GREETING": "hello world"},
        scenario="PENDING:1,RUNNING:0,FAILED",
    )
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == v1.JobState.JOB_STATE_SUCCEEDED, done.error  # the exit code wins over the scenario
    assert done.start_time and done.end_time >= done.start_time
    log = AdminClient(exec_emulator.url).logs(job.name)
    assert "ARGS=--epochs 3" in log
    assert "GREETING=hello world" in log
    assert f"JOB={job_id(job)}" in log


def test_execute_failure_reports_exit_code(exec_client: v1.JobServiceClient, parent: str) -> None:
    job = create(exec_client, parent, command=[sys.executable, "-c", SCRIPT], env={"CODE": "3", "GREETING": "x"})
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == v1.JobState.JOB_STATE_FAILED
    assert done.error.code == 13 and "non-zero status of 3" in done.error.message


def test_execute_missing_program_fails(exec_client: v1.JobServiceClient, parent: str) -> None:
    job = create(exec_client, parent, command=["/nonexistent/program-xyz"])
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == v1.JobState.JOB_STATE_FAILED and "could not start" in done.error.message


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_execute_cancel_terminates_process(exec_client: v1.JobServiceClient, tmp_path: Path, parent: str) -> None:
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    job = create(exec_client, parent, command=[sys.executable, "-c", script])
    wait_for(exec_client, job.name, lambda j: pid_file.exists() and pid_file.read_text() != "")
    pid = int(pid_file.read_text())
    assert exec_client.get_custom_job(name=job.name).state == v1.JobState.JOB_STATE_RUNNING
    exec_client.cancel_custom_job(name=job.name)
    cancelled = wait_state(exec_client, job.name, v1.JobState.JOB_STATE_CANCELLED)
    assert cancelled.error.code == 1
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


def test_execute_timeout_kills_process(exec_client: v1.JobServiceClient, parent: str) -> None:
    job = create(exec_client, parent, command=[sys.executable, "-c", "import time; time.sleep(120)"], timeout_s=5)
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == v1.JobState.JOB_STATE_FAILED and "timeout" in done.error.message


def test_execute_job_without_command_follows_scenario(exec_client: v1.JobServiceClient, parent: str) -> None:
    job = create(exec_client, parent, scenario="RUNNING:0,FAILED")
    assert wait_for(exec_client, job.name, lambda j: bool(j.end_time)).state == v1.JobState.JOB_STATE_FAILED


def test_command_is_ignored_without_execute(client: v1.JobServiceClient, parent: str) -> None:
    job = create(
        client, parent, command=[sys.executable, "-c", "import sys; sys.exit(3)"], scenario="RUNNING:0,SUCCEEDED"
    )
    assert wait_for(client, job.name, lambda j: bool(j.end_time)).state == v1.JobState.JOB_STATE_SUCCEEDED
