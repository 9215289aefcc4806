"""The emulator's Cloud Storage side (issue 26): objects a Custom Job writes reach the Cloud Storage emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import OUTPUTS_BUCKET
from vertex_emulator import gcs


def read(uri: str) -> bytes:
    from google.cloud import storage

    bucket, name = gcs.split(uri) or ("", "")
    return bytes(storage.Client(project="local-project").bucket(bucket).blob(name).download_as_bytes())


def test_write_puts_the_object_in_the_storage_emulator(storage_emulator: str) -> None:
    uri = f"gs://{OUTPUTS_BUCKET}/gcs-test/write/outputs.json"
    assert gcs.write(uri, b'{"A": 1}') is None
    assert read(uri) == b'{"A": 1}'


def test_write_says_why_it_wrote_nothing(storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "not a gs://" in (gcs.write("/gcs/b/x", b"") or "")
    assert "no-such-bucket" in (gcs.write("gs://no-such-bucket-psv/x.json", b"{}") or "")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    assert "STORAGE_EMULATOR_HOST is not set" in (gcs.write(f"gs://{OUTPUTS_BUCKET}/x.json", b"{}") or "")


def test_mount_rewrites_gcs_paths_and_uploads_what_was_written(storage_emulator: str, tmp_path: Path) -> None:
    mount = gcs.GcsMount(tmp_path / "gcs")
    path = f"/gcs/{OUTPUTS_BUCKET}/gcs-test/mount/k/outputs.json"
    argv, env = mount.rewrite(["python", "--out", path, "/gcsx/no"], {"P": path, "HOME": "/root"})
    local = str(tmp_path / "gcs" / OUTPUTS_BUCKET / "gcs-test/mount/k/outputs.json")
    assert argv == ["python", "--out", local, "/gcsx/no"] and env == {"P": local, "HOME": "/root"}
    assert (tmp_path / "gcs" / OUTPUTS_BUCKET).is_dir() and not Path(local).parent.exists()
    Path(local).parent.mkdir(parents=True)
    Path(local).write_text('{"LOSS": 0.1}')
    lines = mount.upload()
    assert lines == [f"vertex-emulator: uploaded {path} to gs://{OUTPUTS_BUCKET}/gcs-test/mount/k/outputs.json"]
    assert read(f"gs://{OUTPUTS_BUCKET}/gcs-test/mount/k/outputs.json") == b'{"LOSS": 0.1}'
