"""End to end: the `polysync-vertex` CLI against `polysync-vertex dev` running as a subprocess.

The dev stack runs with jobs 20x faster than scripted (--time-factor 0.05) and a poll tick every second. The tests
submit, follow status events to the final state, cancel, list templates, check the exit codes, stop a stack with
SIGTERM and prove that nothing of it is left, and run the demo.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from polysync_local import processes
from polysync_local.stack import HTTP_FUNCTIONS, defined_functions, port_open

pytestmark = pytest.mark.timeout(300)

CLI = [sys.executable, "-m", "polysync_local.cli"]
PROJECT, LOCATION = "local-project", "us-central1"
STATUS_CHANGED = "com.polysync.vertex.run.status_changed"
IMAGE = "us-docker.pkg.dev/local-project/e2e/trainer:1"


# -- helpers -------------------------------------------------------------------------------------------------
def run_cli(*args: str, endpoints: Path | None = None, timeout: float = 60, env: dict[str, str] | None = None) -> Any:
    cmd = [*CLI, *args]
    if endpoints is not None:
        cmd += ["--endpoints-file", str(endpoints)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (by parent links in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def pgid_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class DevStack:
    proc: subprocess.Popen[bytes]
    endpoints_file: Path
    log_path: Path
    endpoints: dict[str, Any] = field(default_factory=dict)
    groups: set[int] = field(default_factory=set)  # process groups seen under the dev process

    def scan(self) -> list[int]:
        """The dev process's live descendants; remembers their process groups for the clean-up."""
        children = descendants(self.proc.pid)
        self.groups |= {g for g in (pgid_of(p) for p in children) if g is not None}
        return children

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def ports(self) -> list[int]:
        e = self.endpoints
        urls = [*e["functions"].values(), e["vertexEndpoint"]]
        ports = [int(u.rstrip("/").rsplit(":", 1)[1]) for u in urls]
        ports += [int(e["firestoreHost"].rsplit(":", 1)[1]), int(e["pubsubHost"].rsplit(":", 1)[1])]
        return ports

    def kill_everything(self) -> None:
        """Last-resort clean-up (not an assertion): SIGKILL the dev process and every group it started."""
        if self.proc.poll() is None:
            self.scan()
        for group in self.groups | {self.proc.pid}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def start_dev(tmp: Path, *extra: str, env: dict[str, str] | None = None) -> DevStack:
    processes.check_prerequisites()
    endpoints = tmp / "endpoints.json"
    log_path = tmp / "dev.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                *CLI,
                "dev",
                "--endpoints-file",
                str(endpoints),
                "--time-factor",
                "0.05",
                "--tick-seconds",
                "1",
                "--log-dir",
                str(tmp / "logs"),
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    stack = DevStack(proc, endpoints, log_path)
    deadline = time.monotonic() + 150
    while not endpoints.exists():
        if proc.poll() is not None:
            pytest.fail(f"polysync-vertex dev exited with {proc.returncode} before writing endpoints:\n{stack.log()}")
        if time.monotonic() > deadline:
            stack.kill_everything()
            pytest.fail(f"polysync-vertex dev wrote no endpoints file within 150 s:\n{stack.log()}")
        time.sleep(0.2)
    stack.endpoints = json.loads(endpoints.read_text())
    stack.scan()
    return stack


def stop_dev(stack: DevStack) -> None:
    if stack.proc.poll() is None:
        stack.scan()
        stack.proc.send_signal(signal.SIGTERM)
        try:
            stack.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    stack.kill_everything()


class EventFollower:
    """`polysync-vertex events --follow --json` in the background; lines are collected by a reader thread."""

    def __init__(self, endpoints: Path) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "events", "--follow", "--json", "--endpoints-file", str(endpoints)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["attributes"].get("ce-subject") == run_id]

    def wait_for(self, run_id: str, predicate: Any, timeout: float = 60) -> list[dict[str, Any]]:
        """Collect events until one of `run_id` satisfies `predicate(data)`; returns that run's events so far."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.of_run(run_id):
                if predicate(event["data"]):
                    return self.of_run(run_id)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
                pytest.fail(f"no matching event for {run_id} within {timeout} s; got {self.of_run(run_id)} {err}")
            with contextlib.suppress(queue.Empty):
                self.events.append(json.loads(self.lines.get(timeout=min(remaining, 1.0))))

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def submit(endpoints: Path, job_name: str, scenario: str, *extra: str) -> dict[str, Any]:
    result = run_cli(
        "submit",
        "--json",
        "--job-name",
        job_name,
        "--attr",
        "machineType=n1-standard-4",
        "--attr",
        f"containerImageUri={IMAGE}",
        "--param",
        f"VERTEX_EMULATOR_SCENARIO={scenario}",
        *extra,
        endpoints=endpoints,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def check_event_chain(run_id: str, job_name: str, events: list[dict[str, Any]]) -> None:
    """Contract: sequences 2, 3, ... (1 is the submit), ce-id = runId/sequence, attributes, ordering key, and
    each event's previous state is the one before it."""
    assert events, "no events"
    sequences = [e["data"]["sequence"] for e in events]
    assert sequences == list(range(2, 2 + len(events))), sequences
    previous_state = "JOB_STATE_PENDING"
    for event in events:
        attrs, data = event["attributes"], event["data"]
        assert attrs["ce-specversion"] == "1.0"
        assert attrs["ce-type"] == STATUS_CHANGED
        assert attrs["ce-source"] == f"//polysync-vertex/{PROJECT}/{LOCATION}"
        assert attrs["ce-subject"] == run_id
        assert attrs["ce-id"] == f"{run_id}/{data['sequence']}"
        assert attrs["ce-time"]
        assert attrs["content-type"] == "application/json"
        assert attrs["status"] == data["status"]
        assert attrs["jobName"] == job_name == data["jobName"]
        assert event["orderingKey"] == run_id
        assert data["runId"] == run_id
        assert data["previousVertexState"] == previous_state
        previous_state = data["vertexState"]
    finals = [e for e in events if e["data"]["status"] in ("Success", "Failed", "Cancelled")]
    assert finals == events[-1:], "exactly one terminal event, and it is the last"


# -- the dev stack -------------------------------------------------------------------------------------------
class TestDevStack:
    @pytest.fixture(scope="class")
    def stack(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
        # --execute: jobs whose template has a container command run it locally (the demo's trainer).
        stack = start_dev(tmp_path_factory.mktemp("dev"), "--execute")
        try:
            yield stack
        finally:
            stop_dev(stack)

    @pytest.fixture(scope="class")
    def templates(self, stack: DevStack) -> list[str]:
        from polysync_local.demo import create_templates

        return [name for name, _ in create_templates(stack.endpoints["vertexEndpoint"], PROJECT, LOCATION)]

    @pytest.fixture(scope="class")
    def events(self, stack: DevStack) -> Iterator[EventFollower]:
        follower = EventFollower(stack.endpoints_file)
        try:
            yield follower
        finally:
            follower.stop()

    def test_endpoints_file(self, stack: DevStack) -> None:
        e = stack.endpoints
        assert set(e) == {
            "project",
            "location",
            "functions",
            "vertexEndpoint",
            "firestoreHost",
            "pubsubHost",
            "statusTopic",
            "statusSubscription",
            "webhookSecret",
        }
        # health joins once functions/main.py defines it (the stack serves what main.py has).
        assert set(e["functions"]) == {n for n in HTTP_FUNCTIONS if n in defined_functions()}
        assert {"submit", "cancel", "status", "templates"} <= set(e["functions"])
        assert e["project"] == PROJECT and e["location"] == LOCATION
        assert e["statusTopic"].startswith(f"projects/{PROJECT}/topics/")
        assert e["statusSubscription"].startswith(f"projects/{PROJECT}/subscriptions/")
        assert len(e["webhookSecret"]) >= 32
        assert all(u.startswith("http://127.0.0.1:") for u in e["functions"].values())
        assert stack.endpoints_file.stat().st_mode & 0o077 == 0, "the endpoints file holds the secret"
        assert "submit" in stack.log() and str(stack.endpoints_file.resolve()) in stack.log()

    def test_submit_until_success(self, stack: DevStack, events: EventFollower) -> None:
        scenario = "PENDING:10,QUEUED:20,RUNNING:40,SUCCEEDED"  # 0.5 s, 1 s, 2 s at time factor 0.05
        run = submit(stack.endpoints_file, "e2e-success", scenario, "--request-id", "e2e-success-1")
        run_id = run["runId"]
        assert run_id.startswith(f"projects/{PROJECT}/locations/{LOCATION}/customJobs/")
        assert run["requestId"] == "e2e-success-1"
        assert run["status"] == "Running" and run["vertexState"] == "JOB_STATE_PENDING"

        again = submit(stack.endpoints_file, "e2e-success", scenario, "--request-id", "e2e-success-1")
        assert again["runId"] == run_id, "the same requestId and body answer the same run"

        got = events.wait_for(run_id, lambda d: d["status"] == "Success")
        check_event_chain(run_id, "e2e-success", got)
        assert got[-1]["data"]["vertexState"] == "JOB_STATE_SUCCEEDED"
        assert got[-1]["data"]["previousStatus"] == "Running"

        status = run_cli("status", run_id, "--json", endpoints=stack.endpoints_file)
        assert status.returncode == 0, status.stderr
        record = json.loads(status.stdout)
        assert record["status"] == "Success"
        assert record["sequence"] == got[-1]["data"]["sequence"]
        assert record["endTime"] and record["consoleUrl"].startswith("https://console.cloud.google.com/")

        human = run_cli("status", run_id, endpoints=stack.endpoints_file)
        assert human.returncode == 0
        assert "run Success" in human.stdout and "JOB_STATE_SUCCEEDED" in human.stdout

    def test_cancel_running_run(self, stack: DevStack, events: EventFollower) -> None:
        run = submit(stack.endpoints_file, "e2e-cancel", "PENDING:10,RUNNING:4000,SUCCEEDED")
        run_id = run["runId"]
        events.wait_for(run_id, lambda d: d["vertexState"] == "JOB_STATE_RUNNING")

        cancel = run_cli("cancel", run_id, endpoints=stack.endpoints_file)
        assert cancel.returncode == 0, cancel.stderr
        assert "cancel requested [HTTP 202]" in cancel.stdout and "JOB_STATE_CANCELLING" in cancel.stdout

        got = events.wait_for(run_id, lambda d: d["status"] == "Cancelled")
        check_event_chain(run_id, "e2e-cancel", got)
        assert got[-1]["data"]["vertexState"] == "JOB_STATE_CANCELLED"

        repeat = run_cli("cancel", run_id, "--json", endpoints=stack.endpoints_file)
        assert repeat.returncode == 0, repeat.stderr
        assert json.loads(repeat.stdout)["status"] == "Cancelled", "a repeated cancel is harmless"

    def test_templates(self, stack: DevStack, templates: list[str]) -> None:
        created = templates
        listed = run_cli("templates", "--all", "--json", endpoints=stack.endpoints_file)
        assert listed.returncode == 0, listed.stderr
        by_id = {t["externalId"]: t for t in json.loads(listed.stdout)["templates"]}
        assert set(created) <= set(by_id)
        assert [by_id[name]["jobType"] for name in created] == [
            "Vertex AI Custom Job",
            "Vertex AI Custom Job",
            "Vertex AI Pipeline Job",
            "Vertex AI Batch Prediction Job",
        ]
        pipeline_params = {p["name"]: p for p in by_id[created[2]]["parameters"]}
        assert pipeline_params["optimizer"]["type"] == "JSON" and pipeline_params["score"]["direction"] == "Output"
        assert {link["type"] for link in by_id[created[3]]["links"]} >= {"gcp-ai-platform-model", "gcp-storage-bucket"}

        one = run_cli("templates", "--external-id", created[1], "--json", endpoints=stack.endpoints_file)
        assert one.returncode == 0, one.stderr
        template = json.loads(one.stdout)
        assert template["workerPools"] == 2
        link_types = {link["type"] for link in template["links"]}
        assert {
            "gcp-iam-service-account",
            "gcp-compute-network",
            "gcp-storage-bucket",
            "gcp-cloud-kms-crypto-key",
            "gcp-artifact-registry-docker-image",
        } <= link_types

        human = run_cli("templates", endpoints=stack.endpoints_file)
        assert human.returncode == 0
        assert "DISPLAY NAME" in human.stdout and "demo-distributed-trainer" in human.stdout

    def test_template_run_executes_trainer(self, stack: DevStack, events: EventFollower, templates: list[str]) -> None:
        from vertex_emulator.admin import AdminClient

        run = submit(
            stack.endpoints_file,
            "e2e-train",
            "PENDING:10,RUNNING:4000,SUCCEEDED",  # under --execute the process decides how RUNNING ends
            "--template",
            templates[0],
            "--param",
            "EPOCHS=150:Number",
            "--param",
            "LEARNING_RATE=0.2:Number",
        )
        got = events.wait_for(run["runId"], lambda d: d["status"] in ("Success", "Failed"))
        log = AdminClient(stack.endpoints["vertexEndpoint"]).logs(run["runId"])
        assert got[-1]["data"]["status"] == "Success", log
        assert "EPOCHS=150 LEARNING_RATE=0.2" in log, "parameters arrive as environment variables"
        assert "epoch   150/150" in log and "final loss" in log

    def test_cli_logs_tail_and_follow_a_failing_run(self, stack: DevStack) -> None:
        """Issue 25: `polysync-vertex logs RUN_ID [--tail N] [--follow]` through status?logs=N."""
        lines = json.dumps(["step one", "step two", "ERROR: MemoryError while batching"])
        run = submit(
            stack.endpoints_file,
            "e2e-logs",
            "PENDING:2,RUNNING:3,FAILED",
            "--param",
            f"VERTEX_EMULATOR_LOGS={lines}:String",
        )
        followed = run_cli("logs", run["runId"], "--follow", "--interval", "0.5", endpoints=stack.endpoints_file)
        assert followed.returncode == 0, followed.stderr + followed.stdout
        out = followed.stdout.splitlines()
        assert any(line.endswith("workerpool0-0    ERROR: MemoryError while batching") for line in out), out
        assert "Job is running." in followed.stdout and "exited with a non-zero status" in out[-1]
        assert len(out) == len(set(out)), "each line once, however often it was polled"
        assert "run ended: Failed" in followed.stderr
        tail = run_cli("logs", run["runId"], "--tail", "2", "--json", endpoints=stack.endpoints_file)
        assert tail.returncode == 0, tail.stderr
        parsed = [json.loads(line) for line in tail.stdout.splitlines()]
        assert len(parsed) == 2 and parsed[-1]["source"] == "service" and parsed[-1]["severity"] == "ERROR"
        bad = run_cli("logs", run["runId"], "--tail", "500", endpoints=stack.endpoints_file)
        assert bad.returncode == 2

    def test_cli_pipeline_run_with_typed_parameters_and_outputs(
        self, stack: DevStack, events: EventFollower, templates: list[str]
    ) -> None:
        """Issue 14's CLI line: --param NAME=VALUE:Type incl. JSON on a Pipeline Job template; outputs shown."""
        result = run_cli(
            "submit",
            "--json",
            "--job-name",
            "e2e-pipeline",
            "--template",
            templates[2],
            "--param",
            "epochs=7:Number",
            "--param",
            'optimizer={"name":"sgd","momentum":0.9}:JSON',
            "--param",
            "VERTEX_EMULATOR_SCENARIO=PENDING:10,RUNNING:20,SUCCEEDED",
            "--param",
            'VERTEX_EMULATOR_OUTPUTS={"score":0.5,"model_uri":"gs://b/m"}',
            endpoints=stack.endpoints_file,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        run = json.loads(result.stdout)
        assert run["jobType"] == "Vertex AI Pipeline Job" and "/pipelineJobs/psv-" in run["runId"]
        got = events.wait_for(run["runId"], lambda d: d["status"] in ("Success", "Failed"))
        assert got[-1]["data"]["status"] == "Success"
        assert got[-1]["attributes"].get("jobType") == "Vertex AI Pipeline Job"
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.aiplatform_v1 import PipelineServiceClient

        client = PipelineServiceClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": stack.endpoints["vertexEndpoint"]},
        )
        values = dict(client.get_pipeline_job(name=run["runId"]).runtime_config.parameter_values)
        assert values["epochs"] == 7 and dict(values["optimizer"]) == {"name": "sgd", "momentum": 0.9}
        # Only InputOutput / Output parameters become outputs; none were named here.
        human = run_cli("status", run["runId"], endpoints=stack.endpoints_file)
        assert human.returncode == 0 and "Vertex AI Pipeline Job" in human.stdout, human.stdout

    def test_cli_batch_prediction_run_shows_output_info(
        self, stack: DevStack, events: EventFollower, templates: list[str]
    ) -> None:
        """Issue 15's CLI line: --param temperature=0.5:Number on a Batch Prediction Job template."""
        result = run_cli(
            "submit",
            "--json",
            "--job-name",
            "e2e-batch",
            "--template",
            templates[3],
            "--param",
            "temperature=0.5:Number",
            "--param",
            "VERTEX_EMULATOR_SCENARIO=PENDING:10,RUNNING:20,SUCCEEDED",
            endpoints=stack.endpoints_file,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        run = json.loads(result.stdout)
        assert run["jobType"] == "Vertex AI Batch Prediction Job"
        got = events.wait_for(run["runId"], lambda d: d["status"] in ("Success", "Failed"))
        assert got[-1]["data"]["status"] == "Success"
        assert got[-1]["data"]["outputInfo"]["gcsOutputDirectory"].startswith("gs://local-project-demo/predictions/")
        human = run_cli("status", run["runId"], endpoints=stack.endpoints_file)
        assert human.returncode == 0, human.stderr
        assert "outputInfo" in human.stdout and "gcsOutputDirectory" in human.stdout
        assert "completionStats" in human.stdout

    def test_doctor(self, stack: DevStack) -> None:
        """`polysync-vertex doctor` shows health's checks as a table; a denied permission fails it (exit 1)."""
        assert "health" in stack.endpoints["functions"], "functions/main.py defines no health function yet"
        human = run_cli("doctor", "--stack", str(stack.endpoints_file))
        assert human.returncode == 0, human.stdout + human.stderr
        assert "CHECK" in human.stdout and "RESULT" in human.stdout and "healthy" in human.stdout
        assert "FAILED" not in human.stdout

        deep = run_cli("doctor", "--deep", "--json", endpoints=stack.endpoints_file)
        assert deep.returncode == 0, deep.stdout + deep.stderr
        body = json.loads(deep.stdout)
        assert body["ok"] is True and body["checks"], body
        assert all({"name", "ok", "message"} <= set(c) for c in body["checks"])
        assert all(c["ok"] or c.get("skipped") for c in body["checks"])
        # The stack configures hints (PSV_HINT_SINK): their sink cannot be checked here, and says so.
        (sink,) = [c for c in body["checks"] if c["name"] == f"hint-sink:{PROJECT}"]
        assert sink["skipped"] is True and sink["ok"] is False and "no Cloud Logging sinks API" in sink["message"]

        by_url = run_cli(
            "doctor",
            "--url",
            stack.endpoints["functions"]["health"],
            "--secret",
            stack.endpoints["webhookSecret"],
        )
        assert by_url.returncode == 0, by_url.stdout + by_url.stderr

        wrong = run_cli("doctor", "--secret", "wrong", endpoints=stack.endpoints_file)
        assert wrong.returncode == 3 and "UNAUTHENTICATED" in wrong.stderr

        vertex = stack.endpoints["vertexEndpoint"]
        _admin_post(vertex, "/emulator/iam:deny", {"project": PROJECT, "permissions": ["aiplatform.customJobs.create"]})
        try:
            denied = run_cli("doctor", endpoints=stack.endpoints_file)
        finally:
            _admin_post(vertex, "/emulator/iam:reset", {})
        assert denied.returncode == 1, denied.stdout + denied.stderr
        assert "FAILED" in denied.stdout and "aiplatform.customJobs.create" in denied.stdout
        assert "UNHEALTHY" in denied.stdout

    def test_a_failed_second_dev_leaves_the_running_stacks_endpoints_file(
        self, stack: DevStack, tmp_path: Path
    ) -> None:
        """Issue 29 (1): the endpoints file holds the running stack's only copy of its secret."""
        before = stack.endpoints_file.read_text()
        busy_base = str(int(stack.endpoints["firestoreHost"].rsplit(":", 1)[1]))
        same_file = run_cli("dev", "--port-base", busy_base, endpoints=stack.endpoints_file, timeout=120)
        assert same_file.returncode == 1, same_file.stdout + same_file.stderr
        assert "belongs to a running stack" in same_file.stderr
        other = tmp_path / "other.json"
        same_ports = run_cli("dev", "--port-base", busy_base, endpoints=other, timeout=120)
        assert same_ports.returncode == 1 and "in use" in same_ports.stderr, same_ports.stdout + same_ports.stderr
        assert not other.exists()
        assert stack.endpoints_file.read_text() == before, "the live stack's endpoints file is untouched"
        still = run_cli("doctor", endpoints=stack.endpoints_file)
        assert still.returncode == 0, "the live stack is still usable with its file"

    def test_cli_reaches_what_the_api_can(self, stack: DevStack, templates: list[str]) -> None:
        """Issue 29 (4): --job-type, JSON --attr, --output, a type from the template, templates by type."""
        bucket = "gs://local-project-demo"
        batch = run_cli(
            "submit",
            "--json",
            "--job-name",
            "e2e-adhoc-batch",
            "--job-type",
            "batch",
            "--attr",
            f"model=projects/{PROJECT}/locations/{LOCATION}/models/sentiment",
            "--attr",
            f'inputConfig={{"instancesFormat":"jsonl","gcsSource":{{"uris":["{bucket}/in.jsonl"]}}}}',
            "--attr",
            f'outputConfig={{"predictionsFormat":"jsonl","gcsDestination":{{"outputUriPrefix":"{bucket}/out"}}}}',
            "--output",
            "SCORE:Number",
            endpoints=stack.endpoints_file,
        )
        assert batch.returncode == 0, batch.stdout + batch.stderr
        run = json.loads(batch.stdout)
        assert run["jobType"] == "Vertex AI Batch Prediction Job" and "/batchPredictionJobs/" in run["runId"]
        assert any("SCORE" in w for w in run["warnings"]), "the declared Output reached the connector"

        no_type = run_cli(
            "submit", "--job-name", "x", "--attr", f"model=projects/{PROJECT}/locations/{LOCATION}/models/m",
            endpoints=stack.endpoints_file,
        )  # fmt: skip
        assert no_type.returncode == 3 and "--job-type batch" in no_type.stderr, no_type.stderr

        pipeline = run_cli(
            "submit", "--json", "--job-name", "e2e-untyped", "--template", templates[2], "--param", "epochs=7",
            "--output", "score", endpoints=stack.endpoints_file,
        )  # fmt: skip
        assert pipeline.returncode == 0, pipeline.stdout + pipeline.stderr
        assert json.loads(pipeline.stdout)["jobType"] == "Vertex AI Pipeline Job"

        only = run_cli("templates", "--job-type", "pipeline", "--json", endpoints=stack.endpoints_file)
        assert only.returncode == 0, only.stderr
        kinds = {t["jobType"] for t in json.loads(only.stdout)["templates"]}
        assert kinds == {"Vertex AI Pipeline Job"}
        human = run_cli("templates", "--job-type", "pipeline", endpoints=stack.endpoints_file)
        header = human.stdout.splitlines()[0].split()
        assert header[:2] == ["TYPE", "DISPLAY"] and "PARAMETERS" in header, human.stdout
        assert human.stdout.splitlines()[1].startswith("pipeline "), human.stdout
        assert "dataset:String, epochs:Number" in human.stdout, human.stdout
        one = run_cli("templates", "--external-id", templates[3], endpoints=stack.endpoints_file)
        assert "worker pool" not in one.stdout and "temperature" in one.stdout, one.stdout

    def test_exit_codes(self, stack: DevStack, tmp_path: Path) -> None:
        unknown = f"projects/{PROJECT}/locations/{LOCATION}/customJobs/123"
        not_found = run_cli("status", unknown, "--json", endpoints=stack.endpoints_file)
        assert not_found.returncode == 3
        assert json.loads(not_found.stdout)["error"]["status"] == "NOT_FOUND"

        bad_secret = run_cli("status", unknown, "--secret", "wrong", endpoints=stack.endpoints_file)
        assert bad_secret.returncode == 3 and "UNAUTHENTICATED" in bad_secret.stderr
        assert "secret (--secret) is not one the connector holds" in bad_secret.stderr

        env = {**os.environ, "POLYSYNC_VERTEX_SECRET": stack.endpoints["webhookSecret"]}
        by_env = run_cli("status", unknown, "--url", stack.endpoints["functions"]["status"], env=env)
        assert by_env.returncode == 3 and "NOT_FOUND" in by_env.stderr, "URL and secret from flag and environment"

        closed = processes.free_port()
        unreachable = run_cli(
            "status", unknown, "--json", "--url", f"http://127.0.0.1:{closed}/", endpoints=stack.endpoints_file
        )
        assert unreachable.returncode == 4 and "unreachable" in unreachable.stderr
        assert json.loads(unreachable.stdout)["error"]["status"] == "UNAVAILABLE", "--json says it as JSON too"

        no_name = run_cli("submit", "--attr", "machineType=n1-standard-4", endpoints=stack.endpoints_file)
        assert no_name.returncode == 2 and "--job-name" in no_name.stderr

        missing = run_cli("status", unknown, endpoints=tmp_path / "nowhere.json")
        assert missing.returncode == 2 and "polysync-vertex dev" in missing.stderr

        invalid = run_cli(
            "submit", "--job-name", "x", "--attr", "machineType=n1-standard-4", endpoints=stack.endpoints_file
        )
        assert invalid.returncode == 3 and "INVALID_ARGUMENT" in invalid.stderr


def test_fan_out_then_sigterm_leaves_nothing_running(tmp_path: Path) -> None:
    # PSV_* settings in the environment reach the functions: with at most one run per poll, two active runs make
    # poll fan out to the shard topic, whose messages the stack delivers to poll_shard.
    stack = start_dev(tmp_path, env={"PSV_POLL_INLINE_MAX": "1"})
    try:
        runs = [
            submit(stack.endpoints_file, f"e2e-shard-{i}", "PENDING:10,RUNNING:4000,SUCCEEDED")["runId"] for i in (1, 2)
        ]
        got = run_cli("events", "--follow", "--json", "--max", "2", endpoints=stack.endpoints_file, timeout=60)
        assert got.returncode == 0, got.stderr
        seen = {json.loads(line)["attributes"]["ce-id"] for line in got.stdout.splitlines()}
        assert seen == {f"{run_id}/2" for run_id in runs}
        shard_ticks = [
            json.loads(line)
            for line in (tmp_path / "logs" / "poll_shard.log").read_text().splitlines()
            if '"poll tick"' in line
        ]
        assert any(t["shardRange"] and t["changes"] for t in shard_ticks), "poll_shard recorded the changes"

        children = stack.scan()
        groups = {g for g in (pgid_of(p) for p in children) if g is not None}
        # firestore, pubsub, vertex and six functions, each in its own process group
        assert len(groups - {stack.proc.pid}) >= 9, (groups, stack.log())
        ports = stack.ports()
        assert all(port_open(p) for p in ports)

        stack.proc.send_signal(signal.SIGTERM)
        assert stack.proc.wait(timeout=60) == 0, stack.log()

        assert processes.group_members(stack.proc.pid) == []
        for group in groups:
            assert processes.group_members(group) == [], f"process group {group} outlived the stack"
        assert [p for p in children if alive(p)] == []
        assert [p for p in ports if port_open(p)] == []
        assert not stack.endpoints_file.exists(), "the endpoints file is removed on stop"
        assert "stopped" in stack.log()
    finally:
        stop_dev(stack)


def test_hints_deliver_a_change_long_before_the_next_tick(tmp_path: Path) -> None:
    # A 600 s tick: its first pass runs at start, before the submit; the change arrives through the log-router
    # stand-in (emulator/polysync_local/log_router.py) and `hint`, within seconds.
    stack = start_dev(tmp_path, "--tick-seconds", "600")
    try:
        run_id = submit(stack.endpoints_file, "e2e-hint", "PENDING:10,RUNNING:4000,SUCCEEDED")["runId"]
        got = run_cli("events", "--follow", "--json", "--max", "1", endpoints=stack.endpoints_file, timeout=60)
        assert got.returncode == 0, (got.stderr, stack.log())
        assert [json.loads(line)["attributes"]["ce-id"] for line in got.stdout.splitlines()] == [f"{run_id}/2"]
        batches = [
            json.loads(line)
            for line in (tmp_path / "logs" / "hint.log").read_text().splitlines()
            if '"hint batch"' in line
        ]
        assert any(b["changes"] for b in batches), "hint recorded the change"
    finally:
        stop_dev(stack)


def test_demo(tmp_path: Path) -> None:
    processes.check_prerequisites()
    started = time.monotonic()
    result = subprocess.run(
        [*CLI, "demo", "--time-factor", "0.05"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        start_new_session=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert time.monotonic() - started < 120, "the demo must finish well under two minutes (a minute unloaded)"
    table_start = result.stdout.index("RUN ")
    lines = result.stdout[table_start:].splitlines()
    assert lines[0].split()[:3] == ["RUN", "TYPE", "EXPECTED"], output
    rows = {line.split()[0]: line.split() for line in lines[1:6]}
    # RUN TYPE EXPECTED STATUS VERTEX-STATE DURATION EVENTS RESULT CONSOLE-URL
    assert rows["train-tiny"][1:4] == ["custom", "Success", "Success"], output
    assert rows["distributed"][1:4] == ["custom", "Failed", "Failed"], output
    assert rows["adhoc-cancel"][1:4] == ["custom", "Cancelled", "Cancelled"], output
    assert rows["pipeline"][1:5] == ["pipeline", "Success", "Success", "PIPELINE_STATE_SUCCEEDED"], output
    assert rows["batch"][1:5] == ["batch", "Success", "Success", "JOB_STATE_SUCCEEDED"], output
    console = "https://console.cloud.google.com/vertex-ai/locations/us-central1/"
    for label in ("train-tiny", "distributed", "adhoc-cancel"):
        assert rows[label][-1].startswith(console + "training/"), output
    assert rows["adhoc-cancel"][-2] == "-", output
    # Why the failed run failed, in its RESULT (its log's error line) and under the table (summary and hint).
    distributed = next(line for line in lines[1:6] if line.startswith("distributed "))
    assert "ERROR: MemoryError: unable to allocate" in distributed, output
    assert "  distributed failed: Vertex AI Custom Job " in result.stdout, output
    assert "  distributed hint: The workload ran out of memory" in result.stdout, output
    # The Custom Job's Output parameter, from the object the job (the emulator's script) wrote to the outputs bucket.
    assert rows["train-tiny"][-2] == "FINAL_LOSS=0.0104", output
    assert json.loads(result.stdout.split("  train-tiny outputs: ", 1)[1].splitlines()[0]) == {"FINAL_LOSS": 0.0104}
    assert rows["pipeline"][-1].startswith(console + "pipelines/runs/psv-"), output
    assert rows["batch"][-1].startswith(console + "batch-predictions/"), output
    for row in rows.values():
        assert row[5].endswith("s") and float(row[5][:-1]) > 0, "duration"
    # The pipeline's Output parameters: VERTEX_EMULATOR_OUTPUTS on its root task (jobDetail), read with one GET.
    assert rows["pipeline"][-2] == "model_uri=gs://local-project-demo/pipeline-root/model,score=0.93", output
    outputs = json.loads(result.stdout.split("  pipeline outputs: ", 1)[1].splitlines()[0])
    assert outputs == {"score": 0.93, "model_uri": "gs://local-project-demo/pipeline-root/model"}, output
    # The batch prediction's output location, derived by Vertex AI (the emulator) from the template's outputConfig.
    assert rows["batch"][-2].startswith("gs://local-project-demo/predictions/prediction-sentiment-"), output
    info = json.loads(result.stdout.split("  batch outputInfo: ", 1)[1].splitlines()[0])
    assert info == {"gcsOutputDirectory": rows["batch"][-2]}, output
    stats = json.loads(result.stdout.split("  batch completionStats: ", 1)[1].splitlines()[0])
    assert stats == {"successfulCount": "250"}, output
    # The import shows every type with its parameter schema and links.
    assert "demo-train-eval: Vertex AI Pipeline Job" in result.stdout, output
    assert "optimizer (JSON, Input)" in result.stdout and "score (Number, Output)" in result.stdout, output
    assert "demo-score-reviews: Vertex AI Batch Prediction Job" in result.stdout, output
    assert "gcp-ai-platform-model" in result.stdout and "temperature (Number, Input, default 0.2)" in result.stdout
    assert "cancel requested: HTTP 202" in result.stdout
    assert "demo OK" in result.stdout and "stopped" in result.stdout
    assert not list(tmp_path.iterdir()), "the demo writes nothing into the working directory"


def _admin_post(vertex_url: str, path: str, body: dict[str, Any]) -> None:
    import urllib.request

    request = urllib.request.Request(
        vertex_url + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _free_range(count: int) -> int:
    """A base port whose `count` consecutive ports are free (no listener, nothing in TIME_WAIT either), below the
    kernel's ephemeral range, so no outgoing connection of another process can take one of them meanwhile."""
    import random
    import socket

    for _ in range(50):
        base = random.randrange(20000, 32000)
        if base + count >= 65535:
            continue
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise AssertionError(f"no {count} consecutive free ports found")


def _time_wait_on(port: int) -> None:
    """Leave a TIME_WAIT socket on `port`: a server there closes an accepted connection first, then stops."""
    import socket

    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        conn, _ = listener.accept()
        conn.close()  # the active closer (the server side, on `port`) goes to TIME_WAIT
        client.recv(1)
        client.close()


def test_port_probe_ignores_time_wait_but_not_listeners() -> None:
    import socket

    from polysync_local.addresses import allocate, port_free

    base = _free_range(10)
    _time_wait_on(base)
    with socket.socket() as plain:  # what the probe did before: bind without SO_REUSEADDR fails in TIME_WAIT
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", base))
    assert port_free(base), "a port in TIME_WAIT is free for a server that binds with SO_REUSEADDR"
    ports = allocate(base, ["a", "b", "c", "d", "e", "f", "g"])
    assert ports.firestore == base
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", base + 4))
        listener.listen(1)
        assert not port_free(base + 4), "a listener makes the port busy"
        with pytest.raises(RuntimeError, match=str(base + 4)):
            allocate(base, ["a", "b", "c", "d", "e", "f", "g"])


def test_restart_on_the_same_port_base_right_after_a_stop(tmp_path: Path) -> None:
    base = _free_range(10)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = start_dev(tmp_path / "first", "--port-base", str(base))
    try:
        status_url = first.endpoints["functions"]["status"]
        assert status_url == f"http://127.0.0.1:{base + 5}/"
        for _ in range(3):  # connections the servers close first leave TIME_WAIT sockets on the stack's ports
            run_cli("status", f"projects/{PROJECT}/locations/{LOCATION}/customJobs/1", endpoints=first.endpoints_file)
    finally:
        stop_dev(first)
    second = start_dev(tmp_path / "second", "--port-base", str(base))
    try:
        assert second.endpoints["functions"]["status"] == status_url
    finally:
        stop_dev(second)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("EPOCHS=10:Number", {"type": "Number", "value": 10}),
        ("temperature=0.5:Number", {"type": "Number", "value": 0.5}),
        ('CONFIG={"a":1}:JSON', {"type": "JSON", "value": {"a": 1}}),
        ("LIST=[1, 2]:json", {"type": "JSON", "value": [1, 2]}),
        ("FLAG=true:Boolean", {"type": "Boolean", "value": True}),
        ("DAY=2026-11-22:Date", {"type": "Date", "value": "2026-11-22"}),
        ("AT=2026-11-22T08:15:00Z:DateTime", {"type": "DateTime", "value": "2026-11-22T08:15:00Z"}),
        ("URL=gs://bucket/a:b", {"type": "String", "value": "gs://bucket/a:b"}),
        ("MODE=fast", {"type": "String", "value": "fast"}),
    ],
)
def test_typed_parameters(text: str, expected: dict[str, Any]) -> None:
    from polysync_local.cli import parse_param

    assert parse_param(text) == {"name": text.split("=")[0], "direction": "Input", **expected}


@pytest.mark.parametrize("text", ["C=1:JSON", "C={:JSON", "N=ten:Number", "B=yes:Boolean", "=1", "novalue"])
def test_bad_typed_parameters_are_usage_errors(text: str) -> None:
    import argparse

    from polysync_local.cli import parse_param

    with pytest.raises(argparse.ArgumentTypeError):
        parse_param(text)


def test_run_table_shows_job_type_outputs_and_output_info(capsys: pytest.CaptureFixture[str]) -> None:
    from polysync_local.cli import _print_run

    _print_run(
        {
            "runId": f"projects/{PROJECT}/locations/{LOCATION}/pipelineJobs/p-1",
            "jobType": "Vertex AI Pipeline Job",
            "status": "Success",
            "outputs": {"SCORE": 0.93},
            "outputInfo": {"gcsOutputDirectory": "gs://b/out"},
        },
        "run Success",
    )
    out = capsys.readouterr().out
    assert "jobType" in out and "Vertex AI Pipeline Job" in out
    assert 'outputs     {"SCORE": 0.93}' in out
    assert '"gcsOutputDirectory": "gs://b/out"' in out


def test_emulators_do_not_outlive_a_killed_starter(tmp_path: Path) -> None:
    """SIGKILL of the process that started an emulator (no cleanup can run) still takes its Java server down."""

    from polysync_local.processes import group_members

    out = tmp_path / "started.json"
    script = (
        "import json, sys, time\n"
        "from polysync_local import processes\n"
        "e = processes.start_pubsub()\n"
        f"open({str(out)!r}, 'w').write(json.dumps({{'pgid': e.process.pid}}))\n"
        "time.sleep(600)\n"
    )
    starter = subprocess.Popen([sys.executable, "-c", script])
    try:
        _wait_until(out.exists, 90)
        pgid = json.loads(out.read_text())["pgid"]
        java = [p for p in _descendants(pgid) if "java" in _cmdline(p)]
        assert java, "the Pub/Sub emulator's Java server should be running"
        starter.send_signal(signal.SIGKILL)
        starter.wait(10)
        _wait_until(lambda: not group_members(pgid) and not any(_alive(p) for p in java), 20)
        assert not group_members(pgid) and not any(_alive(p) for p in java)
    finally:
        if starter.poll() is None:
            starter.kill()


def _wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def test_a_process_left_in_the_group_by_its_exited_parent_dies_with_a_killed_starter(tmp_path: Path) -> None:
    """A function server's worker that outlives its master (or ignores SIGTERM) stays in the supervisor's own
    process group: when the starter is SIGKILLed, the supervisor takes that down too, not only the command."""
    from polysync_local.processes import group_members

    out = tmp_path / "started.json"
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    command = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {stubborn!r}]); time.sleep(600)"
    script = (
        "import json, sys, time\n"
        "from polysync_local import processes\n"
        f"p = processes.ManagedProcess('stubborn', [sys.executable, '-c', {command!r}]).start()\n"
        f"open({str(out)!r}, 'w').write(json.dumps({{'pgid': p.proc.pid}}))\n"
        "time.sleep(600)\n"
    )
    starter = subprocess.Popen([sys.executable, "-c", script])
    try:
        _wait_until(out.exists, 30)
        pgid = json.loads(out.read_text())["pgid"]
        _wait_until(lambda: len(group_members(pgid)) >= 3, 30)  # supervisor, command, stubborn child
        assert len(group_members(pgid)) >= 3
        starter.send_signal(signal.SIGKILL)
        starter.wait(10)
        _wait_until(lambda: not group_members(pgid), 30)  # the supervisor's grace (10 s) and then SIGKILL
        assert not group_members(pgid)
    finally:
        if starter.poll() is None:
            starter.kill()
