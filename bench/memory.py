"""Worst-case memory per function (issue 30, finding 3), against the functions' memory setting (512 MiB).

Each case runs in a fresh Python process (the function's own, as an instance would) that builds the app, does the
case's work against the emulators (started here, each in its own process), and reports its peak RSS (`ru_maxrss`)
and its RSS before the work (imports and clients). The emulators are seeded first:

- templates: 45 Pipeline Job templates with 2.2 MB specs (the finding), listed with `all=true`;
- poll: 6 Pipeline Job runs with 350 KB outputs each (700 KB records: outputs in the record and its terminal event),
  all finishing in one tick;
- status: those 6 runs read by `status` 5 times each (the version cache keeps what it reads), plus 30 more reads;
- submit: a 256 KiB body (7,000 ignored Output parameters);
- idle: the same process doing one Firestore read and one small list: what any instance takes once its clients run.

    .venv/bin/python -m bench.memory [--templates 45] [--spec-mb 2.2] [--runs 6] [--before]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from bench.common import PARENT, ROOT, Stack, log, new_prefix, stop_on_sigterm

CHILD = r"""
import json, resource, sys, time
from polysync_vertex import bootstrap
from polysync_vertex.config import Settings
case, arg = sys.argv[1], json.loads(sys.stdin.read())
app = bootstrap.build(Settings.from_env())
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
_ = app.vertex, app.store, app.publisher
app.vertex.accelerator_types()
before = rss()
if case in ("templates", "templates-whole"):
    from polysync_vertex.core import kinds
    if case == "templates-whole":  # as before issue 30: whole jobs listed, 100 a page
        for kind in kinds.KINDS:
            type(kind).template_read_mask = ()
            type(kind).template_by_get = False
    body = app.templates.list_templates(
        arg["project"], arg["location"], walk_all=True, only=kinds.by_type("Vertex AI Pipeline Job")
    )
    detail = {"templates": len(body["templates"])}
elif case == "poll":
    summary = app.poll.poll(None)
    detail = {"changes": summary["changes"], "eventsPublished": summary["eventsPublished"]}
elif case == "status":
    for _ in range(5):
        for run_id in arg["runIds"]:
            app.runs.status(run_id)
    detail = {"reads": 5 * len(arg["runIds"]), "cachedBytes": app.store.versions.bytes}
elif case == "idle":
    from polysync_vertex.core.errors import ApiError
    try:
        app.runs.status(arg["runId"])
    except ApiError:
        pass
    app.templates.list_templates(arg["project"], arg["location"], page_size=1)
    detail = {}
elif case == "submit":
    code, _ = app.submit.submit(arg["body"])
    detail = {"code": code}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"case": case, "beforeMiB": round(before, 1), "peakMiB": round(peak, 1), **detail}))
"""


def _child(stack: Stack, prefix: str, case: str, arg: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, **stack.env(prefix)}
    env["PYTHONPATH"] = f"{ROOT / 'functions'}:{ROOT / 'emulator'}:{ROOT}"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, case],
        input=json.dumps(arg),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{case} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _pipeline_template(spec_bytes: int, outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"VERTEX_EMULATOR_SCENARIO": "PENDING"}
    if outputs is not None:
        values["VERTEX_EMULATOR_OUTPUTS"] = json.dumps(outputs)
    # A big spec as KFP writes them: many components with their executors (here one long command each).
    components = {f"comp-{i}": {"executorLabel": f"exec-{i}"} for i in range(max(1, spec_bytes // 20_000))}
    executors = {
        f"exec-{i}": {"container": {"image": "python:3.11", "command": ["sh", "-c", "x" * 19_000]}}
        for i in range(len(components))
    }
    return {
        "displayName": "memory-template",
        "pipelineSpec": {
            "pipelineInfo": {"name": "memory-pipeline"},
            "schemaVersion": "2.1.0",
            "sdkVersion": "kfp-2.7.0",
            "components": components,
            "deploymentSpec": {"executors": executors},
            "root": {
                "dag": {"tasks": {"train": {"taskInfo": {"name": "train"}}}},
                "inputDefinitions": {
                    "parameters": {
                        "VERTEX_EMULATOR_SCENARIO": {"parameterType": "STRING", "isOptional": True},
                        "VERTEX_EMULATOR_OUTPUTS": {"parameterType": "STRING", "isOptional": True},
                    }
                },
                "outputDefinitions": {"parameters": {"accuracy": {"parameterType": "STRING"}}},
            },
        },
        "runtimeConfig": {"gcsOutputDirectory": "gs://memory/root", "parameterValues": values},
    }


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=45)
    parser.add_argument("--spec-mb", type=float, default=2.2)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--before", action="store_true", help="also list the templates whole, as before issue 30")
    args = parser.parse_args()
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import PipelineServiceClient
    from google.cloud.aiplatform_v1.types import PipelineJob

    results = []
    with Stack() as stack:
        prefix = new_prefix("memory")
        os.environ.update(stack.env(prefix))
        from bench.common import create_topic

        create_topic(f"{prefix}status", subscription=False)
        client = PipelineServiceClient(
            transport="rest", client_options={"api_endpoint": stack.vertex_url}, credentials=AnonymousCredentials()
        )
        log(f"seeding {args.templates} pipeline templates of {args.spec_mb} MB")
        big = _pipeline_template(int(args.spec_mb * 1_000_000))
        for _ in range(args.templates):
            client.create_pipeline_job(parent=PARENT, pipeline_job=PipelineJob.from_json(json.dumps(big)))
        where = {"project": "local-project", "location": "us-central1"}
        missing = "projects/local-project/locations/us-central1/customJobs/1"
        results.append(_child(stack, prefix, "idle", {**where, "runId": missing}))
        log(str(results[-1]))
        results.append(_child(stack, prefix, "templates", where))
        log(str(results[-1]))
        if args.before:
            results.append(_child(stack, prefix, "templates-whole", where))
            log(str(results[-1]))

        app = stack.build_app(prefix)
        run_ids = []
        for i in range(args.runs):
            template = client.create_pipeline_job(
                parent=PARENT,
                pipeline_job=PipelineJob.from_json(json.dumps(_pipeline_template(1, {"accuracy": "y" * 350_000}))),
            )
            body = {
                "requestId": f"memory-{prefix}-{i}",
                "jobName": "memory",
                "externalId": template.name,
                "parameters": [{"name": "accuracy", "direction": "Output", "type": "String"}],
            }
            run_ids.append(app.submit.submit(body)[1]["runId"])
        app.poll.poll(None)
        admin = stack.admin()
        for run_id in run_ids:
            admin.set_state(run_id, "PIPELINE_STATE_SUCCEEDED")
        results.append(_child(stack, prefix, "poll", {}))
        log(str(results[-1]))
        results.append(_child(stack, prefix, "status", {"runIds": run_ids}))
        log(str(results[-1]))
        body = {
            "requestId": f"memory-{prefix}-submit",
            "jobName": "memory",
            "attributes": {"machineType": "n1-standard-4", "containerImageUri": "us-docker.pkg.dev/p/r/i:1"},
            "parameters": [{"name": f"OUT_{i:05d}", "direction": "Output"} for i in range(7000)],
        }
        results.append(_child(stack, prefix, "submit", {"body": body}))
        log(str(results[-1]))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
