"""The three client snippets of the docs (issue 29, item 8) run against the emulator, exactly as written.

Each snippet sits after a marker `<!-- snippet:NAME -->` in README.md, docs/emulator.md and docs/emulator-apis.md
and must be identical in all three. The test runs it with one substitution: the documented address
`127.0.0.1:8789` becomes the test emulator's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vertex_emulator import EmulatorServer

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[3]
DOCS = ("README.md", "docs/emulator.md", "docs/emulator-apis.md")
ADDRESS = "127.0.0.1:8789"
BLOCK = re.compile(r"<!-- snippet:(\w+) -->\s*\n```(\w+)\n(.*?)\n```", re.S)


def snippets(doc: str) -> dict[str, tuple[str, str]]:
    return {name: (lang, code) for name, lang, code in BLOCK.findall((ROOT / doc).read_text())}


def test_the_snippets_are_identical_in_every_doc() -> None:
    found = {doc: snippets(doc) for doc in DOCS}
    for doc, blocks in found.items():
        assert set(blocks) == {"sdk", "rest", "gcloud"}, f"{doc}: {sorted(blocks)}"
        assert blocks == found[DOCS[0]], f"{doc} differs from {DOCS[0]}"
        for _, code in blocks.values():
            assert ADDRESS in code, "one documented address, with its scheme where the client needs one"


def _run(server: EmulatorServer, name: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    lang, code = snippets("README.md")[name]
    code = code.replace(ADDRESS, server.url.removeprefix("http://"))
    assert ADDRESS not in code
    env = {
        **os.environ,
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "TMPDIR": str(tmp_path),
    }
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    command = [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo", "pipefail", "-c", code]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)


def test_sdk_snippet(server: EmulatorServer, tmp_path: Path) -> None:
    done = _run(server, "sdk", tmp_path)
    assert done.returncode == 0, done.stderr
    name, state = done.stdout.split()[-2:]
    assert (
        name.startswith("projects/local-project/locations/us-central1/customJobs/") and state == "JOB_STATE_SUCCEEDED"
    )


def test_rest_snippet(server: EmulatorServer, tmp_path: Path) -> None:
    done = _run(server, "rest", tmp_path)
    assert done.returncode == 0, done.stderr
    name, state = done.stdout.split()
    assert name.startswith("projects/local-project/locations/us-central1/customJobs/")
    assert state.startswith("JOB_STATE_")


def test_gcloud_snippet(server: EmulatorServer, tmp_path: Path) -> None:
    done = _run(server, "gcloud", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "snippet-gcloud" in done.stdout and "JOB_STATE_" in done.stdout, done.stdout + done.stderr
