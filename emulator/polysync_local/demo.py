"""`polysync-vertex demo`: the whole product on this machine in well under two minutes, then everything stops.

1. starts the local stack (stack.py) in this process;
2. creates two CustomJobs in the Vertex AI emulator with the official aiplatform_v1 client (REST): a container job
   and a distributed Python-package job with links (service account, network, output bucket, KMS key, packages);
3. imports them through the `templates` function, as Polysync would;
4. submits three runs through `submit`: one succeeds, one fails, one is cancelled once it is RUNNING. Each run's
   path through the Vertex AI states is scripted by the parameter VERTEX_EMULATOR_SCENARIO (parameters become
   environment variables of the job, and the emulator reads that one from worker pool 0);
5. prints the status events as the poller publishes them, then a table of the runs, and stops the stack.

With --execute, the succeeding run executes examples/train_tiny.py in the emulator (EPOCHS and LEARNING_RATE
arrive as environment variables) and its training log is shown.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .client import Connector, EventReader, duration_seconds, format_event, table
from .stack import LocalStack, Shutdown, StackConfig, critical, signals_raise

TRAIN_SCRIPT = Path(__file__).resolve().parent / "examples" / "train_tiny.py"
FINAL_STATUSES = ("Success", "Failed", "Cancelled", "Unknown")
RUN_DEADLINE_SECONDS = 75.0


@dataclass
class DemoRun:
    label: str
    expected: str
    body: dict[str, Any]
    run_id: str = ""
    status: str = ""
    vertex_state: str = ""
    events: int = 0
    cancel_requested: bool = False
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def cancel_when_running(self) -> bool:
        return self.expected == "Cancelled"


def container_template(project: str) -> dict[str, Any]:
    bucket = f"gs://{project}-demo"
    return {
        "displayName": "demo-train-tiny",
        "labels": {"team": "ml-platform", "purpose": "polysync-demo"},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 100},
                    "containerSpec": {
                        "imageUri": f"us-docker.pkg.dev/{project}/training/train-tiny:1.0",
                        # Only `--execute` runs it (locally, in the emulator); the image is never pulled.
                        "command": ["python3", str(TRAIN_SCRIPT)],
                        "env": [{"name": "EPOCHS", "value": "200"}, {"name": "LEARNING_RATE", "value": "0.05"}],
                    },
                }
            ],
            "baseOutputDirectory": {"outputUriPrefix": f"{bucket}/train-tiny/"},
            "scheduling": {"timeout": "3600s"},
        },
    }


def distributed_template(project: str, location: str) -> dict[str, Any]:
    bucket = f"gs://{project}-demo"
    package = {
        "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-1.py310:latest",
        "packageUris": [f"{bucket}/packages/trainer-0.3.tar.gz"],
        "pythonModule": "trainer.task",
        "args": [f"--train-data={bucket}/data/train.csv", "--epochs=20"],
    }
    return {
        "displayName": "demo-distributed-trainer",
        "labels": {"team": "ml-platform", "purpose": "polysync-demo"},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {
                        "machineType": "n1-standard-8",
                        "acceleratorType": "NVIDIA_TESLA_T4",
                        "acceleratorCount": 1,
                    },
                    "replicaCount": "1",
                    "pythonPackageSpec": package,
                },
                {
                    "machineSpec": {
                        "machineType": "n1-standard-8",
                        "acceleratorType": "NVIDIA_TESLA_T4",
                        "acceleratorCount": 1,
                    },
                    "replicaCount": "2",
                    "pythonPackageSpec": package,
                },
            ],
            "serviceAccount": f"vertex-trainer@{project}.iam.gserviceaccount.com",
            "network": "projects/123456789012/global/networks/ml-vpc",
            "baseOutputDirectory": {"outputUriPrefix": f"{bucket}/distributed/"},
            "scheduling": {"timeout": "7200s", "restartJobOnWorkerRestart": True},
        },
        "encryptionSpec": {
            "kmsKeyName": f"projects/{project}/locations/{location}/keyRings/ml/cryptoKeys/training",
        },
    }


def create_templates(vertex_endpoint: str, project: str, location: str) -> list[tuple[str, str]]:
    """The two demo CustomJobs, created with the official client against the emulator: [(name, kind)]."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient
    from google.cloud.aiplatform_v1.types import CustomJob

    client = JobServiceClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": vertex_endpoint}
    )
    parent = f"projects/{project}/locations/{location}"
    created = []
    for spec, kind in (
        (container_template(project), "container job"),
        (distributed_template(project, location), "distributed Python-package job"),
    ):
        job = client.create_custom_job(parent=parent, custom_job=CustomJob.from_json(json.dumps(spec)))
        created.append((job.name, kind))
    return created


def demo_runs(container: str, distributed: str) -> list[DemoRun]:
    succeed_params: list[dict[str, Any]] = [
        {"name": "EPOCHS", "direction": "Input", "type": "Number", "value": 2000},
        {"name": "LEARNING_RATE", "direction": "Input", "type": "Number", "value": 0.1},
        {"name": "SCORE", "direction": "Output", "type": "Number"},
        # With --execute the emulator cuts the scenario at RUNNING: the training process decides how it ends.
        _scenario("PENDING:5,QUEUED:5,RUNNING:20,SUCCEEDED"),
    ]
    return [
        DemoRun(
            "train-tiny",
            "Success",
            {"jobName": "demo-train-tiny", "externalId": container, "parameters": succeed_params},
        ),
        DemoRun(
            "distributed",
            "Failed",
            {
                "jobName": "demo-distributed",
                "externalId": distributed,
                "attributes": {"machineType": "n1-standard-16"},
                "parameters": [
                    {"name": "MODE", "direction": "Input", "type": "String", "value": "full"},
                    _scenario("PENDING:5,QUEUED:5,RUNNING:15,FAILED"),
                ],
            },
        ),
        DemoRun(
            "adhoc-cancel",
            "Cancelled",
            {
                "jobName": "demo-adhoc",
                "attributes": {
                    "machineType": "n1-standard-4",
                    "containerImageUri": "us-docker.pkg.dev/local-project/training/batch-score:2.1",
                    "timeout": "1800s",
                },
                "parameters": [_scenario("PENDING:5,QUEUED:5,RUNNING:600,SUCCEEDED")],
            },
        ),
    ]


def _scenario(text: str) -> dict[str, Any]:
    return {"name": "VERTEX_EMULATOR_SCENARIO", "direction": "Input", "type": "String", "value": text}


class Demo:
    def __init__(self, stack: LocalStack, out: TextIO, execute: bool) -> None:
        self.stack = stack
        self.out = out
        self.execute = execute
        self.started = time.monotonic()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def clock(self) -> str:
        return f"[{time.monotonic() - self.started:5.1f}s]"

    def run(self) -> int:
        e = self.stack.endpoints
        project, location = e["project"], e["location"]
        connector = Connector.from_endpoints(e)

        self.say(f"\n== 1. two templates created in the Vertex AI emulator ({e['vertexEndpoint']})")
        created = create_templates(e["vertexEndpoint"], project, location)
        for name, kind in created:
            self.say(f"  {kind:<32} {name}")

        self.say("\n== 2. imported through the templates function (what Polysync sees)")
        self.import_templates(connector, project, location, [name for name, _ in created])

        self.say("\n== 3. three runs submitted")
        runs = demo_runs(created[0][0], created[1][0])
        for i, run in enumerate(runs, 1):
            run.body["requestId"] = f"demo-{int(time.time())}-{i}"
            resp = connector.submit(run.body)
            if not resp.ok:
                self.say(f"  {run.label}: submit failed: {resp.describe_error()}")
                return 1
            run.run_id = resp.body["runId"]
            run.status, run.vertex_state = resp.body.get("status", ""), resp.body.get("vertexState", "")
            warn = f"  warnings: {'; '.join(resp.body['warnings'])}" if resp.body.get("warnings") else ""
            self.say(f"  {run.label:<13} expect {run.expected:<9} -> {run.run_id} [{run.vertex_state}]{warn}")

        self.say("\n== 4. status events, as the poller publishes them (sequence 1 is the submit itself)")
        self.follow(connector, runs)

        self.say("\n== 5. result")
        ok = self.summary(connector, runs)
        if self.execute:
            self.training_log(runs[0])
        return 0 if ok else 1

    def import_templates(self, connector: Connector, project: str, location: str, names: list[str]) -> None:
        listed = connector.templates(project=project, location=location)
        if not listed.ok:
            self.say(f"  (template import unavailable: {listed.describe_error()}; the runs use the ids above)")
            return
        found = {t.get("externalId"): t for t in listed.body.get("templates") or []}
        self.say(f"  list: {len(found)} template(s) in {project}/{location}")
        for name in names:
            one = connector.templates(external_id=name)
            template = one.body if one.ok else found.get(name)
            if not template:
                self.say(f"  {name}: not returned ({one.describe_error()})")
                continue
            attrs = template.get("attributes") or {}
            self.say(
                f"  {template.get('displayName')}: {template.get('jobType')}, {template.get('workerPools')} pool(s), "
                f"{attrs.get('machineType')}, {attrs.get('containerImageUri')}"
            )
            for link in template.get("links") or []:
                self.say(f"      {link.get('type', ''):<36} {link.get('name', '')}")

    def follow(self, connector: Connector, runs: list[DemoRun]) -> None:
        by_id = {r.run_id: r for r in runs}
        reader = EventReader(self.stack.endpoints["statusSubscription"], self.stack.endpoints["pubsubHost"])
        deadline = time.monotonic() + RUN_DEADLINE_SECONDS
        try:
            while time.monotonic() < deadline and any(r.status not in FINAL_STATUSES for r in runs):
                for event in reader.pull(timeout=1.0):
                    data = event.get("data") if isinstance(event.get("data"), dict) else {}
                    run = by_id.get(str(data.get("runId", "")))
                    if run is None:
                        continue
                    run.events += 1
                    if event["attributes"].get("ce-type", "").endswith("status_changed"):
                        run.status, run.vertex_state = data.get("status", ""), data.get("vertexState", "")
                    self.say(f"  {self.clock()} {run.label:<13} {format_event(event, clock=False, run=False)}")
                for run in runs:
                    if run.cancel_when_running and not run.cancel_requested and run.vertex_state == "JOB_STATE_RUNNING":
                        resp = connector.cancel(run.run_id)
                        run.cancel_requested = True
                        state = resp.body.get("vertexState") if resp.ok else resp.describe_error()
                        self.say(f"  {self.clock()} {run.label:<13} cancel requested: HTTP {resp.status} {state}")
        finally:
            reader.close()
        late = [r.label for r in runs if r.status not in FINAL_STATUSES]
        if late:
            self.say(f"  (gave up waiting after {RUN_DEADLINE_SECONDS:.0f} s for: {', '.join(late)})")

    def summary(self, connector: Connector, runs: list[DemoRun]) -> bool:
        rows = []
        ok = True
        for run in runs:
            resp = connector.status(run.run_id)
            record = resp.body if resp.ok else {}
            run.record = record
            status = record.get("status") or run.status or "?"
            duration = duration_seconds(record)
            good = status == run.expected
            ok &= good
            rows.append(
                [
                    run.label,
                    run.expected,
                    status + ("" if good else "  (!)"),
                    str(record.get("vertexState") or run.vertex_state),
                    f"{duration:.1f}s" if duration is not None else "-",
                    str(run.events),
                    str(record.get("consoleUrl") or ""),
                ]
            )
        headers = ["RUN", "EXPECTED", "STATUS", "VERTEX STATE", "DURATION", "EVENTS", "CONSOLE URL"]
        self.say(table(rows, headers))
        self.say(
            "demo OK: each run ended as expected" if ok else "demo FAILED: a run did not end as expected (see above)"
        )
        return ok

    def training_log(self, run: DemoRun) -> None:
        from vertex_emulator.admin import AdminClient

        try:
            log = AdminClient(self.stack.endpoints["vertexEndpoint"]).logs(run.run_id)
        except Exception as exc:  # noqa: BLE001 - the log is a bonus
            self.say(f"(training log unavailable: {exc})")
            return
        self.say(f"\ntraining log of {run.label} (executed by the emulator, parameters as env vars):")
        lines = log.strip().splitlines()
        if len(lines) > 16:
            lines = [*lines[:2], "...", *lines[-8:]]
        for line in lines:
            self.say(f"  | {line}")


def run_demo(
    *,
    execute: bool = False,
    time_factor: float = 0.2,
    tick_seconds: float = 1.0,
    endpoints_file: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    tmp = None
    if endpoints_file is None:
        tmp = tempfile.TemporaryDirectory(prefix="polysync-vertex-demo-")
        endpoints_file = Path(tmp.name) / "local-endpoints.json"
    stack = LocalStack(
        StackConfig(endpoints_file=endpoints_file, time_factor=time_factor, tick_seconds=tick_seconds, execute=execute)
    )
    with signals_raise():
        try:
            print(
                "polysync-vertex demo: starting the local stack (Firestore and Pub/Sub emulators, Vertex AI emulator,"
                f" 6 functions; time factor {time_factor:g}{', --execute' if execute else ''}) ...",
                file=out,
                flush=True,
            )
            started = time.monotonic()
            stack.start()
            print(f"stack ready in {time.monotonic() - started:.1f} s (logs: {stack.log_dir})", file=out, flush=True)
            return Demo(stack, out, execute).run()
        except (KeyboardInterrupt, Shutdown):
            print("\ninterrupted", file=out, flush=True)
            return 130
        except Exception as exc:  # noqa: BLE001 - reported; the stack is stopped below
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
        finally:
            with critical(discard=True):
                print("\nstopping the stack ...", file=out, flush=True)
                stack.stop()
                print("stopped: nothing is left running.", file=out, flush=True)
                if tmp is not None:
                    tmp.cleanup()
