"""What the clients will do: one plan per run (outcome, scenario, copies, start time)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from .config import IMAGE, ChaosConfig, Plan


def make_plans(config: ChaosConfig, rng: random.Random) -> list[Plan]:
    session = uuid.uuid4().hex[:8]
    plans = []
    for i in range(config.runs):
        roll = rng.random()
        outcome = "SUCCEEDED" if roll < 0.5 else "FAILED" if roll < 0.8 else "CANCEL"
        # Durations are scaled by the time factor (0.05: 20 -> 1 s).
        pending, queued = rng.choice([0, 5, 10, 20]), rng.choice([2, 10, 30])
        if outcome == "CANCEL":
            scenario = f"PENDING:{pending},QUEUED:{queued},RUNNING:6000,SUCCEEDED"
        else:
            scenario = f"PENDING:{pending},QUEUED:{queued},RUNNING:{rng.choice([10, 40, 80, 160])},{outcome}"
        parameters: list[dict[str, Any]] = [
            {"name": "VERTEX_EMULATOR_SCENARIO", "direction": "Input", "type": "String", "value": scenario},
            {"name": "EPOCHS", "direction": "Input", "type": "Number", "value": i},
        ]
        if outcome == "CANCEL" and rng.random() < 0.5:  # CANCELLING lasts 2 s instead of 0.05 s
            parameters.append(
                {"name": "VERTEX_EMULATOR_CANCEL_DELAY", "direction": "Input", "type": "Number", "value": 40}
            )
        request_id = f"chaos-{session}-{i:04d}"
        body = {
            "requestId": request_id,
            "jobName": f"chaos-{outcome.lower()}-{i}",
            "attributes": {"machineType": "n1-standard-4", "containerImageUri": IMAGE},
            "parameters": parameters,
        }
        sends = rng.choice([1, 2, 2, 3])
        start_at = config.submit_window * i / max(1, config.runs) + rng.uniform(0, 0.3)
        plans.append(Plan(i, request_id, outcome, sends, sends > 1 and rng.random() < 0.5, start_at, body))
    return plans
