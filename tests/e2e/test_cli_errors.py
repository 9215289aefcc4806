"""The CLI against parts that are not there (issue 29, items 2 and 5), as a user runs it: a subprocess, no stack.

An endpoints file naming closed ports stands for a stack that was stopped (or a stale file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from polysync_local import processes

CLI = [sys.executable, "-m", "polysync_local.cli"]


def _stale_endpoints(tmp_path: Path) -> Path:
    closed = processes.free_port()
    path = tmp_path / "endpoints.json"
    path.write_text(
        json.dumps(
            {
                "project": "local-project",
                "location": "us-central1",
                "functions": {"status": f"http://127.0.0.1:{closed}/"},
                "pubsubHost": f"127.0.0.1:{closed}",
                "statusSubscription": "projects/local-project/subscriptions/polysync-vertex-status-polysync",
                "webhookSecret": "s" * 64,
            }
        )
    )
    return path


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PUBSUB_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_events_against_a_stopped_pubsub_exit_4_with_one_line(tmp_path: Path) -> None:
    endpoints = _stale_endpoints(tmp_path)
    once = _run("events", "--endpoints-file", str(endpoints))
    follow = _run("events", "--follow", "--retry-seconds", "2", "--endpoints-file", str(endpoints))
    # --subscription in the local project: the endpoints file's emulator host, not real Pub/Sub and its credentials
    named = _run(
        "events", "--subscription", "projects/local-project/subscriptions/x", "--endpoints-file", str(endpoints)
    )
    for result in (once, follow, named):
        assert result.returncode == 4, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "unreachable" in lines[0] and "is the stack running?" in lines[0], result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert "for 2 s" in follow.stderr


def test_output_into_a_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    """`polysync-vertex ... | head`: the reader leaves before the CLI writes."""
    endpoints = _stale_endpoints(tmp_path)
    proc = subprocess.Popen(
        [*CLI, "status", "projects/local-project/locations/us-central1/customJobs/1", "--json"]
        + ["--endpoints-file", str(endpoints)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # before the interpreter has even started: its first write meets a closed pipe
    _, err = proc.communicate(timeout=60)
    assert "BrokenPipeError" not in err and "Traceback" not in err, err
    assert proc.returncode == 0
