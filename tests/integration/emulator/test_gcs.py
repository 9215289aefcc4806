"""The emulator's Cloud Storage side (issue 26): objects a Custom Job writes reach the Cloud Storage emulator."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from google.cloud import aiplatform_v1 as v1

from tests.conftest import OUTPUTS_BUCKET
from vertex_emulator import AdminClient, EmulatorServer, gcs

from .support import TIME_FACTOR, create, wait_for, wait_state

pytestmark = pytest.mark.timeout(120)


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
    assert mount.upload() == []
    assert read(f"gs://{OUTPUTS_BUCKET}/gcs-test/mount/k/outputs.json") == b'{"LOSS": 0.1}'


# -- through the emulator's API ---------------------------------------------------------------------------------
def outputs_env(key: str, text: str | None = None) -> dict[str, str]:
    env = {
        "POLYSYNC_OUTPUTS_PATH": f"/gcs/{OUTPUTS_BUCKET}/emu/{key}/outputs.json",
        "POLYSYNC_OUTPUTS_URI": f"gs://{OUTPUTS_BUCKET}/emu/{key}/outputs.json",
    }
    if text is not None:
        env["VERTEX_EMULATOR_OUTPUTS"] = text
    return env


def exists(uri: str) -> bool:
    from google.cloud import storage

    bucket, name = gcs.split(uri) or ("", "")
    return bool(storage.Client(project="local-project").bucket(bucket).blob(name).exists())


@pytest.mark.parametrize("end", ["SUCCEEDED", "FAILED"])
def test_scripted_outputs_are_written_while_the_job_runs(
    storage_emulator: str, client: v1.JobServiceClient, parent: str, end: str
) -> None:
    env = outputs_env(f"scripted-{end}", '{"SCORE": 0.9, "x": [1]}')
    job = create(client, parent, env=env, scenario=f"PENDING:1,RUNNING:2,{end}")
    assert not exists(env["POLYSYNC_OUTPUTS_URI"])
    wait_state(client, job.name, v1.JobState[f"JOB_STATE_{end}"])
    assert read(env["POLYSYNC_OUTPUTS_URI"]) == b'{"SCORE": 0.9, "x": [1]}'  # verbatim


def test_scripted_outputs_are_verbatim_even_when_not_json(
    storage_emulator: str, client: v1.JobServiceClient, parent: str
) -> None:
    env = outputs_env("scripted-bad", "{not json")
    job = create(client, parent, env=env, scenario="RUNNING:1,SUCCEEDED")
    wait_state(client, job.name, v1.JobState.JOB_STATE_SUCCEEDED)
    assert read(env["POLYSYNC_OUTPUTS_URI"]) == b"{not json"


def test_nothing_is_written_without_a_script_or_when_cancelled_before_running(
    storage_emulator: str, client: v1.JobServiceClient, parent: str
) -> None:
    plain = outputs_env("unscripted")
    job = create(client, parent, env=plain, scenario="RUNNING:1,SUCCEEDED")
    wait_state(client, job.name, v1.JobState.JOB_STATE_SUCCEEDED)
    assert not exists(plain["POLYSYNC_OUTPUTS_URI"])
    cancelled = outputs_env("cancelled", '{"A": 1}')
    job = create(client, parent, env=cancelled, scenario="PENDING:5,RUNNING:1,SUCCEEDED")
    client.cancel_custom_job(name=job.name)
    wait_state(client, job.name, v1.JobState.JOB_STATE_CANCELLED)
    time.sleep(6 * TIME_FACTOR)  # past the time it would have run
    assert not exists(cancelled["POLYSYNC_OUTPUTS_URI"])


def test_a_job_set_to_succeeded_has_written_its_outputs(
    storage_emulator: str, client: v1.JobServiceClient, emulator: EmulatorServer, parent: str
) -> None:
    env = outputs_env("set-state", '{"A": 2}')
    job = create(client, parent, env=env, scenario="PENDING:500,RUNNING:1,SUCCEEDED")
    AdminClient(emulator.url).set_state(job.name, "SUCCEEDED")
    assert read(env["POLYSYNC_OUTPUTS_URI"]) == b'{"A": 2}'


WRITER = (
    "import json, os; p = os.environ['POLYSYNC_OUTPUTS_PATH']; os.makedirs(os.path.dirname(p), exist_ok=True); "
    "json.dump({'LOSS': 0.25}, open(p, 'w')); print('wrote ' + p); raise SystemExit(int(os.environ['CODE']))"
)


@pytest.mark.parametrize("code", [0, 3])
def test_execute_maps_gcs_to_the_storage_emulator(
    storage_emulator: str, exec_client: v1.JobServiceClient, exec_emulator: EmulatorServer, parent: str, code: int
) -> None:
    env = {**outputs_env(f"exec-{code}"), "CODE": str(code)}
    job = create(exec_client, parent, command=[sys.executable, "-c", WRITER], env=env)
    done = wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    assert done.state == (v1.JobState.JOB_STATE_SUCCEEDED if code == 0 else v1.JobState.JOB_STATE_FAILED)
    assert json.loads(read(env["POLYSYNC_OUTPUTS_URI"])) == {"LOSS": 0.25}  # there when the job ended
    log = AdminClient(exec_emulator.url).logs(job.name)
    assert "wrote /" in log and "/gcs/" not in log.split("wrote ", 1)[1].split()[0]  # a local directory


def test_execute_says_in_the_job_log_when_it_could_not_upload(
    storage_emulator: str, exec_client: v1.JobServiceClient, exec_emulator: EmulatorServer, parent: str
) -> None:
    env = {
        "POLYSYNC_OUTPUTS_PATH": "/gcs/no-such-bucket-psv/x/outputs.json",
        "CODE": "0",
    }
    job = create(exec_client, parent, command=[sys.executable, "-c", WRITER], env=env)
    wait_for(exec_client, job.name, lambda j: bool(j.end_time))
    log = AdminClient(exec_emulator.url).logs(job.name)
    assert "vertex-emulator: writing gs://no-such-bucket-psv/x/outputs.json failed" in log
