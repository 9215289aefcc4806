"""The command line: start, serve, shut down."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from google.cloud import aiplatform_v1 as v1

import vertex_emulator
from vertex_emulator import AdminClient, EmulatorServer

from .support import (
    PROJECT,
    create,
    make_client,
    wait_state,
)

pytestmark = pytest.mark.timeout(120)


# -- the command line -----------------------------------------------------------------------------------
def _start_cli(*extra: str) -> tuple[subprocess.Popen[str], str]:
    package_root = str(Path(vertex_emulator.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vertex_emulator", "--host", "127.0.0.1", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    reader.join(30)
    if not lines or not lines[0]:
        _kill(proc)
        pytest.fail(f"no port line from the emulator; stderr: {proc.stderr.read() if proc.stderr else ''}")
    match = re.fullmatch(r"vertex-emulator listening on (http://127\.0\.0\.1:(\d+))\n", lines[0])
    assert match, lines[0]
    return proc, match.group(1)


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_cli_starts_serves_and_shuts_down() -> None:
    proc, url = _start_cli("--time-factor", "0.01")
    try:
        admin = AdminClient(url)
        assert admin.health()["ok"] is True
        cli_client = make_client(url)
        job = create(cli_client, f"projects/{PROJECT}/locations/us-central1")
        assert wait_state(cli_client, job.name, v1.JobState.JOB_STATE_SUCCEEDED).end_time
        admin.shutdown()
        assert proc.wait(20) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/emulator/health", timeout=5)
    finally:
        _kill(proc)


def test_cli_stops_on_sigterm() -> None:
    proc, url = _start_cli("--verbose")
    try:
        assert requests.get(url + "/emulator/health", timeout=5).json()["ok"] is True
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
        assert proc.stderr is not None and "/emulator/health" in proc.stderr.read()
    finally:
        _kill(proc)


def test_health_and_json_error_for_admin(emulator: EmulatorServer) -> None:
    response = requests.post(emulator.url + "/emulator/faults", data=b"{bad", timeout=10)
    assert response.status_code == 400
    assert json.loads(response.text)["error"]["status"] == "INVALID_ARGUMENT"
    assert requests.get(emulator.url + "/emulator/health", timeout=10).json()["ok"] is True
