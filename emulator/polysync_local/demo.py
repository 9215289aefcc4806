"""`polysync-vertex demo`: the whole product on this machine in well under a minute, then everything stops.

1. starts the local stack (stack.py) in this process;
2. creates four templates in the Vertex AI emulator with the official aiplatform_v1 clients (REST), one per job
   type and two Custom Jobs: a container job; a distributed Python-package job with links (service account,
   network, output bucket, KMS key, packages); a Pipeline Job (PipelineServiceClient, client-chosen
   `pipelineJobId`) whose KFP spec declares typed inputs incl. a STRUCT and two outputs; a Batch Prediction Job
   (JobServiceClient) over GCS files with a model, machine, replicas and modelParameters;
3. imports them through the `templates` function, as Polysync would: attributes, parameter schema, links;
4. submits five runs through `submit`: a Custom Job that succeeds, one that fails, one that is cancelled once it is
   RUNNING, a Pipeline Job that succeeds with output values (typed parameters: Number, JSON, String) and a Batch
   Prediction Job that succeeds. Each run's path through the Vertex AI states is scripted by the parameter
   VERTEX_EMULATOR_SCENARIO, which the emulator reads wherever the job type puts parameters (pool 0's env,
   `runtimeConfig.parameterValues`, `modelParameters`); the pipeline's output values by VERTEX_EMULATOR_OUTPUTS.
   The connector refuses a pipeline parameter its spec does not declare, so the demo pipeline declares both;
5. prints the status events as the poller publishes them, then a table of the runs (with the Custom Job's and the
   pipeline's outputs   and the batch prediction's output location), and stops the stack.

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
from .stack import LocalStack, Shutdown, StackConfig, critical, defined_functions, signals_raise

TRAIN_SCRIPT = Path(__file__).resolve().parent / "examples" / "train_tiny.py"
FINAL_STATUSES = ("Success", "Failed", "Cancelled", "Unknown")
RUN_DEADLINE_SECONDS = 75.0
CUSTOM, PIPELINE, BATCH = "Vertex AI Custom Job", "Vertex AI Pipeline Job", "Vertex AI Batch Prediction Job"
SHORT_TYPE = {CUSTOM: "custom", PIPELINE: "pipeline", BATCH: "batch"}
PIPELINE_TEMPLATE_ID = "demo-train-eval-template"
# What the demo pipeline run reports on success (through the emulator's VERTEX_EMULATOR_OUTPUTS).
PIPELINE_OUTPUTS = {"score": 0.93, "model_uri": "gs://local-project-demo/pipeline-root/model"}
# Parameters that script the emulator, not the workload; the demo pipeline declares them only so that the connector,
# which refuses a parameter a pipeline does not declare (as Vertex AI does), passes them on.
EMULATOR_CONTROLS = "VERTEX_EMULATOR_"
# The succeeding Custom Job's Output parameter: the trainer writes it to POLYSYNC_OUTPUTS_PATH (with --execute), or
# the emulator writes the scripted value (VERTEX_EMULATOR_OUTPUTS); the run's `outputs` once it ends. Without an
# outputs bucket (PSV_OUTPUTS_BUCKET=) the connector ignores it with a warning.
DECLARED_OUTPUT = "FINAL_LOSS"
SCRIPTED_LOSS = 0.0104


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
    job_type: str = CUSTOM

    @property
    def cancel_when_running(self) -> bool:
        return self.expected == "Cancelled"

    def result(self) -> str:
        """The run's result column: why a failed run failed (its diagnostics' first error line), a pipeline's or
        Custom Job's outputs, a batch prediction's output location."""
        diagnostics = self.record.get("diagnostics") or {}
        if diagnostics:
            errors = [x["text"] for x in diagnostics.get("logTail") or [] if x.get("severity") == "ERROR"]
            reason = errors[0] if errors else str(diagnostics.get("summary") or "")
            return reason if len(reason) <= 72 else reason[:71] + "…"
        if self.job_type == PIPELINE or (self.job_type == CUSTOM and self.record.get("outputs")):
            outputs = self.record.get("outputs") or {}
            return ",".join(f"{k}={_compact(v)}" for k, v in sorted(outputs.items())) or "-"
        if self.job_type == BATCH:
            info = self.record.get("outputInfo") or {}
            where = (
                info.get("gcsOutputDirectory") or info.get("bigqueryOutputTable") or info.get("bigqueryOutputDataset")
            )
            return str(where or "-")
        return "-"

    def result_ok(self) -> bool:
        """A succeeded pipeline run carries its output values; a succeeded batch prediction its output location."""
        if self.expected != "Success":
            return True
        if self.job_type == PIPELINE:
            return (self.record.get("outputs") or {}) == PIPELINE_OUTPUTS
        if self.job_type == BATCH:
            return bool(self.record.get("outputInfo"))
        outputs = self.record.get("outputs")  # a Custom Job's, when the stack has an outputs bucket
        return outputs is None or (isinstance(outputs.get(DECLARED_OUTPUT), int | float) and "_error" not in outputs)


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


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


def pipeline_spec() -> dict[str, Any]:
    """A KFP IR pipeline (schemaVersion 2.1.0): typed inputs, two outputs. VERTEX_EMULATOR_SCENARIO and
    VERTEX_EMULATOR_OUTPUTS are declared as STRING inputs: the emulator takes them undeclared, but the connector
    refuses a parameter the pipeline does not declare (as Vertex AI would)."""
    return {
        "pipelineInfo": {"name": "demo-train-eval"},
        "schemaVersion": "2.1.0",
        "sdkVersion": "kfp-2.7.0",
        "root": {
            "dag": {
                "tasks": {
                    "train": {"taskInfo": {"name": "train"}},
                    "evaluate": {"taskInfo": {"name": "evaluate"}, "dependentTasks": ["train"]},
                }
            },
            "inputDefinitions": {
                "parameters": {
                    "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 5},
                    "learning_rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.05},
                    "dataset": {"parameterType": "STRING", "defaultValue": "gs://local-project-demo/data/train.csv"},
                    "optimizer": {"parameterType": "STRUCT", "isOptional": True},
                    "VERTEX_EMULATOR_SCENARIO": {"parameterType": "STRING", "isOptional": True},
                    "VERTEX_EMULATOR_OUTPUTS": {"parameterType": "STRING", "isOptional": True},
                }
            },
            "outputDefinitions": {
                "parameters": {
                    "score": {"parameterType": "NUMBER_DOUBLE"},
                    "model_uri": {"parameterType": "STRING"},
                }
            },
        },
    }


def pipeline_template(project: str, location: str) -> dict[str, Any]:
    bucket = f"gs://{project}-demo"
    return {
        "displayName": "demo-train-eval",
        "labels": {"team": "ml-platform", "purpose": "polysync-demo"},
        "pipelineSpec": pipeline_spec(),
        "runtimeConfig": {
            "gcsOutputDirectory": f"{bucket}/pipeline-root",
            "parameterValues": {"epochs": 10, "learning_rate": 0.05},
            "failurePolicy": "PIPELINE_FAILURE_POLICY_FAIL_FAST",
        },
        "serviceAccount": f"vertex-pipelines@{project}.iam.gserviceaccount.com",
        "network": "projects/123456789012/global/networks/ml-vpc",
        "encryptionSpec": {
            "kmsKeyName": f"projects/{project}/locations/{location}/keyRings/ml/cryptoKeys/pipelines",
        },
    }


def batch_template(project: str, location: str) -> dict[str, Any]:
    bucket = f"gs://{project}-demo"
    return {
        "displayName": "demo-score-reviews",
        "labels": {"team": "ml-platform", "purpose": "polysync-demo"},
        "model": f"projects/{project}/locations/{location}/models/sentiment",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"{bucket}/reviews/batch-01.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": f"{bucket}/predictions"},
        },
        "dedicatedResources": {
            "machineSpec": {"machineType": "n1-standard-4"},
            "startingReplicaCount": 1,
            "maxReplicaCount": 4,
        },
        "manualBatchTuningParameters": {"batchSize": 32},
        "modelParameters": {"temperature": 0.2, "maxOutputTokens": 64},
        "serviceAccount": f"vertex-batch@{project}.iam.gserviceaccount.com",
    }


def create_templates(vertex_endpoint: str, project: str, location: str) -> list[tuple[str, str]]:
    """The demo templates, created with the official clients against the emulator: [(name, kind)] — two
    CustomJobs, a PipelineJob (client-chosen id) and a BatchPredictionJob, in that order."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient
    from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient
    from google.cloud.aiplatform_v1.types import BatchPredictionJob, CustomJob, PipelineJob

    options = {"api_endpoint": vertex_endpoint}
    jobs = JobServiceClient(transport="rest", credentials=AnonymousCredentials(), client_options=options)
    pipelines = PipelineServiceClient(transport="rest", credentials=AnonymousCredentials(), client_options=options)
    parent = f"projects/{project}/locations/{location}"
    created = []
    for spec, kind in (
        (container_template(project), "container job"),
        (distributed_template(project, location), "distributed Python-package job"),
    ):
        job = jobs.create_custom_job(parent=parent, custom_job=CustomJob.from_json(json.dumps(spec)))
        created.append((job.name, kind))
    pipeline = pipelines.create_pipeline_job(
        parent=parent,
        pipeline_job=PipelineJob.from_json(json.dumps(pipeline_template(project, location))),
        pipeline_job_id=PIPELINE_TEMPLATE_ID,
    )
    created.append((pipeline.name, "pipeline job"))
    batch = jobs.create_batch_prediction_job(
        parent=parent,
        batch_prediction_job=BatchPredictionJob.from_json(json.dumps(batch_template(project, location))),
    )
    created.append((batch.name, "batch prediction job"))
    return created


def demo_runs(container: str, distributed: str, pipeline: str = "", batch: str = "") -> list[DemoRun]:
    succeed_params: list[dict[str, Any]] = [
        {"name": "EPOCHS", "direction": "Input", "type": "Number", "value": 2000},
        {"name": "LEARNING_RATE", "direction": "Input", "type": "Number", "value": 0.1},
        {"name": DECLARED_OUTPUT, "direction": "Output", "type": "Number"},
        {"name": "VERTEX_EMULATOR_OUTPUTS", "type": "String", "value": json.dumps({DECLARED_OUTPUT: SCRIPTED_LOSS})},
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
                    # The workload's log lines (the emulator writes them to Cloud Logging when the job runs).
                    {
                        "name": "VERTEX_EMULATOR_LOGS",
                        "direction": "Input",
                        "type": "String",
                        "value": '["loading 16 shards", "ERROR: MemoryError: unable to allocate 12.0 GiB for the '
                        'embedding table"]',
                    },
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
        *([pipeline_run(pipeline)] if pipeline else []),
        *([batch_run(batch)] if batch else []),
    ]


def pipeline_run(template: str) -> DemoRun:
    """Typed parameters become runtimeConfig.parameterValues: Number -> number, JSON -> the object, String as is.
    `score` and `model_uri` are Output parameters: the run's `outputs` once it ends."""
    return DemoRun(
        "pipeline",
        "Success",
        {
            "jobName": "demo-train-eval",
            "externalId": template,
            "parameters": [
                {"name": "epochs", "direction": "Input", "type": "Number", "value": 20},
                {"name": "learning_rate", "direction": "Input", "type": "Number", "value": 0.1},
                {
                    "name": "optimizer",
                    "direction": "Input",
                    "type": "JSON",
                    "value": {"name": "adam", "betas": [0.9, 0.999], "warmup": True},
                },
                {"name": "score", "direction": "Output", "type": "Number"},
                {"name": "model_uri", "direction": "Output", "type": "String"},
                _scenario("PENDING:5,QUEUED:5,RUNNING:20,SUCCEEDED"),
                {
                    "name": "VERTEX_EMULATOR_OUTPUTS",
                    "direction": "Input",
                    "type": "String",
                    "value": json.dumps(PIPELINE_OUTPUTS),
                },
            ],
        },
        job_type=PIPELINE,
    )


def batch_run(template: str) -> DemoRun:
    """Typed parameters become modelParameters entries, merged over the template's."""
    return DemoRun(
        "batch",
        "Success",
        {
            "jobName": "demo-score-reviews",
            "externalId": template,
            "attributes": {"startingReplicaCount": 2},
            "parameters": [
                {"name": "temperature", "direction": "Input", "type": "Number", "value": 0.5},
                {"name": "VERTEX_EMULATOR_INSTANCE_COUNT", "direction": "Input", "type": "Number", "value": 250},
                _scenario("PENDING:5,QUEUED:5,RUNNING:20,SUCCEEDED"),
            ],
        },
        job_type=BATCH,
    )


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
        """Seconds since the first submit, as `[+ 12.3s]`."""
        return f"[+{time.monotonic() - self.started:5.1f}s]"

    def run(self) -> int:
        e = self.stack.endpoints
        project, location = e["project"], e["location"]
        connector = Connector.from_endpoints(e)

        self.say(f"\n== 1. four templates created in the Vertex AI emulator ({e['vertexEndpoint']})")
        created = create_templates(e["vertexEndpoint"], project, location)
        for name, kind in created:
            self.say(f"  {kind:<32} {name}")

        self.say("\n== 2. imported through the templates function (what Polysync sees)")
        self.import_templates(connector, project, location, [name for name, _ in created])

        runs = demo_runs(*(name for name, _ in created))
        self.say(f"\n== 3. {len(runs)} runs submitted")
        self.started = time.monotonic()
        for i, run in enumerate(runs, 1):
            run.body["requestId"] = f"demo-{int(time.time())}-{i}"
            resp = connector.submit(run.body)
            if not resp.ok:
                self.say(f"  {run.label}: submit failed: {resp.describe_error()}")
                return 1
            run.run_id = resp.body["runId"]
            run.job_type = resp.body.get("jobType") or run.job_type
            run.status, run.vertex_state = resp.body.get("status", ""), resp.body.get("vertexState", "")
            self.say(f"  {run.label:<13} expect {run.expected:<9} -> {run.run_id} [{run.vertex_state}]")
            for warning in resp.body.get("warnings") or []:
                expected = f"parameter {DECLARED_OUTPUT} " in warning
                self.say(f"    {'note (declared on purpose)' if expected else 'WARNING'}: {warning}")

        self.say(
            "\n== 4. status events, as the poller publishes them (sequence 1 is the submit itself; "
            "[+s] = seconds since the first submit)"
        )
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
        kinds = sorted({SHORT_TYPE.get(str(t.get("jobType")), str(t.get("jobType"))) for t in found.values()})
        self.say(f"  list: {len(found)} template(s) in {project}/{location} ({', '.join(kinds)})")
        for name in names:
            one = connector.templates(external_id=name)
            template = one.body if one.ok else found.get(name)
            if not template:
                self.say(f"  {name}: not returned ({one.describe_error()})")
                continue
            pools = f", {template['workerPools']} pool(s)" if template.get("workerPools") else ""
            self.say(f"  {template.get('displayName')}: {template.get('jobType')}{pools}")
            attrs = template.get("attributes") or {}
            if attrs:
                self.say("    attributes: " + ", ".join(f"{k}={_compact(v)}" for k, v in attrs.items()))
            params = template.get("parameters") or []
            own = [p for p in params if not str(p.get("name")).startswith(EMULATOR_CONTROLS)]
            if own:
                self.say(
                    "    parameters: "
                    + ", ".join(
                        f"{p.get('name')} ({p.get('type')}, {p.get('direction')}"
                        + (f", default {_compact(p['default'])})" if p.get("default") is not None else ")")
                        for p in own
                    )
                )
            if len(own) < len(params):
                controls = ", ".join(str(p.get("name")) for p in params if p not in own)
                self.say(f"    emulator controls (declared so the connector passes them on): {controls}")
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
            good = status == run.expected and run.result_ok()
            ok &= good
            rows.append(
                [
                    run.label,
                    SHORT_TYPE.get(str(record.get("jobType") or run.job_type), "?"),
                    run.expected,
                    status + ("" if good else "  (!)"),
                    str(record.get("vertexState") or run.vertex_state),
                    f"{duration:.1f}s" if duration is not None else "-",
                    str(run.events),
                    run.result(),
                    str(record.get("consoleUrl") or ""),
                ]
            )
        headers = ["RUN", "TYPE", "EXPECTED", "STATUS", "VERTEX STATE", "DURATION", "EVENTS", "RESULT", "CONSOLE URL"]
        self.say(table(rows, headers))
        for run in runs:
            diagnostics = run.record.get("diagnostics") or {}
            if diagnostics:  # issue 25: why it failed, without opening anything else
                self.say(f"  {run.label} failed: {diagnostics.get('summary')}")
                if diagnostics.get("hint"):
                    self.say(f"  {run.label} hint: {diagnostics['hint']}")
            if run.job_type in (PIPELINE, CUSTOM) and run.record.get("outputs"):
                self.say(f"  {run.label} outputs: {json.dumps(run.record['outputs'])}")
            if run.job_type == BATCH and run.record.get("outputInfo"):
                self.say(f"  {run.label} outputInfo: {json.dumps(run.record['outputInfo'])}")
                if run.record.get("completionStats"):
                    self.say(f"  {run.label} completionStats: {json.dumps(run.record['completionStats'])}")
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
                f" {len(defined_functions())} functions; time factor {time_factor:g}"
                f"{', --execute' if execute else ''}) ...",
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
