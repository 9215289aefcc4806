"""Concurrent first requests in a fresh function process: one App, and every Vertex AI client (job and pipeline
services) can be built — no half-initialised import left behind (found by the chaos run: Pipeline Job calls failed
for the life of the process after a burst of first requests). A subprocess, since imports are per process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import os, sys, threading
sys.path.insert(0, "functions")
os.environ.update(PSV_VERTEX_ENDPOINT="http://127.0.0.1:9", PSV_PROJECT="local-project",
                  FIRESTORE_EMULATOR_HOST="127.0.0.1:9", GOOGLE_CLOUD_PROJECT="local-project")
from polysync_vertex import bootstrap
apps, errors = [], []
barrier = threading.Barrier(8)
def first_request(i):
    barrier.wait()
    try:
        app = bootstrap.app()
        apps.append(id(app))
        app.vertex._client("us-central1", "pipeline" if i % 2 else "job")
    except Exception as exc:
        errors.append(repr(exc)[:200])
threads = [threading.Thread(target=first_request, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
bootstrap.app().vertex._clients.clear()
bootstrap.app().vertex._client("us-central1", "pipeline")
bootstrap.app().vertex._client("us-central1", "job")
print("apps", len(set(apps)), "errors", len(errors), errors[:1])
"""


def test_concurrent_first_requests_build_one_app_and_working_clients() -> None:
    for _ in range(3):  # the race it guards against broke 8 runs out of 8 before the fix
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
        ).stdout
        assert out.strip() == "apps 1 errors 0 []", out
