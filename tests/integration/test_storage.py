"""The Cloud Storage adapter (Custom Job outputs, issue 26) against the Cloud Storage emulator, through the official
client; and the cold start: importing the functions and building submit does not import the storage client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polysync_vertex.adapters.storage import ObjectStore
from polysync_vertex.core.errors import UpstreamError
from tests.conftest import OUTPUTS_BUCKET

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
MIB = 1024 * 1024


def put(name: str, data: bytes) -> str:
    from google.cloud import storage

    storage.Client(project="local-project").bucket(OUTPUTS_BUCKET).blob(name).upload_from_string(data)
    return f"gs://{OUTPUTS_BUCKET}/{name}"


def deadline(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


def test_reads_an_object_the_official_client_wrote(storage_emulator: str) -> None:
    uri = put("t/read/outputs.json", b'{"SCORE": 0.5}')
    store = ObjectStore("local-project")
    assert store.read(uri, MIB, deadline()) == b'{"SCORE": 0.5}'
    assert store.calls["storage.read"] == 1


def test_a_missing_object_or_bucket_is_none(storage_emulator: str) -> None:
    store = ObjectStore()
    assert store.read(f"gs://{OUTPUTS_BUCKET}/t/none/outputs.json", MIB, deadline()) is None
    assert store.read("gs://no-such-bucket-psv/x/outputs.json", MIB, deadline()) is None


def test_reads_at_most_one_byte_past_the_cap(storage_emulator: str) -> None:
    uri = put("t/big/outputs.json", b"x" * (2 * MIB))
    assert len(ObjectStore().read(uri, MIB, deadline()) or b"") == MIB + 1
    exact = put("t/exact/outputs.json", b"y" * MIB)
    assert len(ObjectStore().read(exact, MIB, deadline()) or b"") == MIB


def test_an_empty_object_is_empty_bytes(storage_emulator: str) -> None:
    assert ObjectStore().read(put("t/empty/outputs.json", b""), MIB, deadline()) == b""


def test_not_a_gs_uri_is_refused(storage_emulator: str) -> None:
    with pytest.raises(UpstreamError) as info:
        ObjectStore().read("/gcs/b/x", MIB, deadline())
    assert info.value.code == "INVALID_ARGUMENT"


def test_an_unreachable_service_is_an_upstream_error_within_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from polysync_local.processes import free_port

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    store = ObjectStore()
    with pytest.raises(UpstreamError) as info:
        store.read(f"gs://{OUTPUTS_BUCKET}/x/outputs.json", MIB, deadline(2.0))
    assert info.value.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), info.value
    with pytest.raises(UpstreamError) as info:
        store.read(f"gs://{OUTPUTS_BUCKET}/x/outputs.json", MIB, time.monotonic() - 1)
    assert info.value.code == "DEADLINE_EXCEEDED"


COLD_SUBMIT = r"""
import json, os, sys
os.environ.update(PSV_PROJECT="local-project", FIRESTORE_EMULATOR_HOST="127.0.0.1:9", PSV_VERTEX_ENDPOINT="http://127.0.0.1:9")
import main
from polysync_vertex import bootstrap
app = bootstrap.app()
app.submit, app.runs, app.templates
print(json.dumps({"storage": sorted(m for m in sys.modules if m.startswith("google.cloud.storage"))}))
"""

POLL_READ = r"""
import json, sys
from polysync_vertex.adapters.storage import ObjectStore
before = "google.cloud.storage" in sys.modules
store = ObjectStore()
after_build = "google.cloud.storage" in sys.modules
store._storage()
print(json.dumps({"before": before, "after_build": after_build, "after_read": "google.cloud.storage" in sys.modules}))
"""


def run(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=FUNCTIONS, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_cold_import_of_main_and_submit_do_not_import_the_storage_client() -> None:
    assert run(COLD_SUBMIT) == {"storage": []}


def test_the_storage_client_is_imported_on_the_first_read() -> None:
    assert run(POLL_READ) == {"before": False, "after_build": False, "after_read": True}
