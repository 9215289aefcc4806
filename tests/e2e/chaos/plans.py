"""What the clients will do: one plan per run (job type, outcome, scenario, copies, start time).

Most runs are Custom Jobs without a template; a share (`pipeline_share`, `batch_share`) are Pipeline Jobs and Batch
Prediction Jobs submitted from templates that `create_templates` puts into the emulator before the faults start.
Every run's path is scripted by its VERTEX_EMULATOR_SCENARIO parameter (a Custom Job's env, a Pipeline Job's
`runtimeConfig.parameterValues`, a Batch Prediction Job's `modelParameters`). A succeeding Pipeline Job reports an
output value of its own (VERTEX_EMULATOR_OUTPUTS, read back through its Output parameter `score`); a Batch
Prediction Job its own instance count (completionStats) and output location (outputInfo). `poison_runs` Pipeline
Jobs in the middle report an output Firestore cannot store natively (`POISON`), expected back exactly.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from .config import BATCH, CUSTOM, IMAGE, LOCATION, PIPELINE, PROJECT, ChaosConfig, Plan

PIPELINE_TEMPLATE_ID = "chaos-pipeline-template"
BATCH_OUTPUT_PREFIX = f"gs://{PROJECT}-chaos/predictions"


def pipeline_template() -> dict[str, Any]:
    """A KFP IR pipeline whose spec declares the emulator's control parameters (the connector refuses an undeclared
    pipeline parameter, as Vertex AI does), an integer input and the output `score`."""
    return {
        "displayName": "chaos-pipeline",
        "pipelineSpec": {
            "pipelineInfo": {"name": "chaos-pipeline"},
            "schemaVersion": "2.1.0",
            "sdkVersion": "kfp-2.7.0",
            "root": {
                "dag": {"tasks": {"train": {"taskInfo": {"name": "train"}}}},
                "inputDefinitions": {
                    "parameters": {
                        "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 1},
                        "config": {"parameterType": "STRUCT", "isOptional": True},
                        "VERTEX_EMULATOR_SCENARIO": {"parameterType": "STRING", "isOptional": True},
                        "VERTEX_EMULATOR_OUTPUTS": {"parameterType": "STRING", "isOptional": True},
                    }
                },
                "outputDefinitions": {"parameters": {"score": {"parameterType": "NUMBER_DOUBLE"}}},
            },
        },
        "runtimeConfig": {"gcsOutputDirectory": f"gs://{PROJECT}-chaos/pipeline-root"},
    }


def batch_template() -> dict[str, Any]:
    return {
        "displayName": "chaos-batch",
        "model": f"projects/{PROJECT}/locations/{LOCATION}/models/chaos-model",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"gs://{PROJECT}-chaos/in/a.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": BATCH_OUTPUT_PREFIX}},
        "dedicatedResources": {
            "machineSpec": {"machineType": "n1-standard-4"},
            "startingReplicaCount": 1,
            "maxReplicaCount": 2,
        },
        "modelParameters": {"temperature": 0.2},
    }


def create_templates(vertex_url: str) -> dict[str, str]:
    """The Pipeline Job and Batch Prediction Job templates, created with the official clients: {job type: name}."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import JobServiceClient, PipelineServiceClient
    from google.cloud.aiplatform_v1.types import BatchPredictionJob, PipelineJob

    options = {"api_endpoint": vertex_url}
    parent = f"projects/{PROJECT}/locations/{LOCATION}"
    pipelines = PipelineServiceClient(transport="rest", client_options=options, credentials=AnonymousCredentials())
    jobs = JobServiceClient(transport="rest", client_options=options, credentials=AnonymousCredentials())
    pipeline = pipelines.create_pipeline_job(
        parent=parent,
        pipeline_job=PipelineJob.from_json(json.dumps(pipeline_template())),
        pipeline_job_id=PIPELINE_TEMPLATE_ID,
    )
    batch = jobs.create_batch_prediction_job(
        parent=parent, batch_prediction_job=BatchPredictionJob.from_json(json.dumps(batch_template()))
    )
    return {PIPELINE: pipeline.name, BATCH: batch.name}


def _param(name: str, ptype: str, value: Any, direction: str = "Input") -> dict[str, Any]:
    return {"name": name, "direction": direction, "type": ptype, "value": value}


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


# Outputs a pipeline may well produce and Firestore refuses in native maps and arrays (issue 30, finding 1).
POISON: list[Any] = [[[50, 2], [3, 45]], _nested(25), {"__a__": 1, "m": [[1], [2]]}]


def poison_indexes(config: ChaosConfig) -> set[int]:
    """The runs (in the middle of the submit window) whose output is poison."""
    middle = config.runs // 2
    return set(range(middle, min(config.runs, middle + config.poison_runs)))


def make_plans(config: ChaosConfig, rng: random.Random, templates: dict[str, str] | None = None) -> list[Plan]:
    session = uuid.uuid4().hex[:8]
    plans = []
    poison = poison_indexes(config) if templates else set()
    for i in range(config.runs):
        roll = rng.random()
        outcome = "SUCCEEDED" if roll < 0.5 else "FAILED" if roll < 0.8 else "CANCEL"
        type_roll = rng.random()
        job_type = CUSTOM
        if i in poison:
            job_type, outcome = PIPELINE, "SUCCEEDED"
        elif templates and type_roll < config.pipeline_share:
            job_type = PIPELINE
        elif templates and type_roll < config.pipeline_share + config.batch_share:
            job_type = BATCH
        # Durations are scaled by the time factor (0.05: 20 -> 1 s).
        pending, queued = rng.choice([0, 5, 10, 20]), rng.choice([2, 10, 30])
        if outcome == "CANCEL":
            scenario = f"PENDING:{pending},QUEUED:{queued},RUNNING:6000,SUCCEEDED"
        else:
            scenario = f"PENDING:{pending},QUEUED:{queued},RUNNING:{rng.choice([10, 40, 80, 160])},{outcome}"
        request_id = f"chaos-{session}-{i:04d}"
        short = {CUSTOM: "", PIPELINE: "pipeline-", BATCH: "batch-"}[job_type]
        body: dict[str, Any] = {"requestId": request_id, "jobName": f"chaos-{short}{outcome.lower()}-{i}"}
        expect: dict[str, Any] = {}
        scenario_param = _param("VERTEX_EMULATOR_SCENARIO", "String", scenario)
        if job_type == CUSTOM:
            parameters: list[dict[str, Any]] = [scenario_param, _param("EPOCHS", "Number", i)]
            if outcome == "CANCEL" and rng.random() < 0.5:  # CANCELLING lasts 2 s instead of 0.05 s
                parameters.append(_param("VERTEX_EMULATOR_CANCEL_DELAY", "Number", 40))
            body["attributes"] = {"machineType": "n1-standard-4", "containerImageUri": IMAGE}
        elif job_type == PIPELINE:
            assert templates is not None
            score: Any = i + 0.25  # not a whole number: Vertex AI's Struct doubles would hide an int/float mix-up
            if i in poison:
                score = POISON[(i - min(poison)) % len(POISON)]
            parameters = [
                scenario_param,
                _param("epochs", "Number", i),
                _param("config", "JSON", {"run": i, "tags": ["chaos"]}),
                _param("VERTEX_EMULATOR_OUTPUTS", "String", json.dumps({"score": score})),
                {"name": "score", "direction": "Output", "type": "Number"},
            ]
            body["externalId"] = templates[PIPELINE]
            expect = {"outputs": {"score": score}}
        else:
            assert templates is not None
            count = 10 + i
            parameters = [
                scenario_param,
                _param("temperature", "Number", round(rng.uniform(0, 1), 2)),
                _param("VERTEX_EMULATOR_INSTANCE_COUNT", "Number", count),
            ]
            body["externalId"] = templates[BATCH]
            expect = {"successfulCount": str(count), "outputUriPrefix": BATCH_OUTPUT_PREFIX}
        body["parameters"] = parameters
        sends = rng.choice([1, 2, 2, 3])
        start_at = config.submit_window * i / max(1, config.runs) + rng.uniform(0, 0.3)
        concurrent = sends > 1 and rng.random() < 0.5
        plans.append(Plan(i, request_id, outcome, sends, concurrent, start_at, body, job_type, expect))
    return plans
