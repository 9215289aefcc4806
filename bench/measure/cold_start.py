"""Cold start: a fresh Python process imports functions/main.py and serves its first request.

Each sample is a new interpreter (`python -c`), so every import is paid again, as on a new Cloud Functions
instance. The first request goes through functions_framework's Flask app (test client) into the real handler,
signed, against the emulators: `status` (a GET that reads one run from Firestore) and `submit` (a POST that
creates a job on the Vertex AI emulator and records it). The comparison variant is the same process importing
the high-level `google.cloud.aiplatform` SDK first, as a connector built on that SDK would. Peak RSS is the
child's own `ru_maxrss`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..common import MAIN_PY, Stack, log, median, new_prefix, submit_body

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
variant, target, main_py, first, second = sys.argv[1:6]
if variant == "sdk":
    import google.cloud.aiplatform  # noqa: F401
t_sdk = time.perf_counter()
from functions_framework import create_app
app = create_app(target=target, source=main_py)
t_import = time.perf_counter()
from polysync_vertex.core.auth import HEADER, signature_header
client = app.test_client()
secret = __import__("os").environ["PSV_WEBHOOK_SECRETS"]

def call(arg):
    ts = int(time.time())
    if target == "status":
        query = "runId=" + arg
        resp = client.get("/?" + query, headers={HEADER: signature_header(secret, ts, query.encode())})
    else:
        body = arg.encode()
        resp = client.post("/", data=body, headers={HEADER: signature_header(secret, ts, body)},
                           content_type="application/json")
    return resp.status_code

t1 = time.perf_counter()
code1 = call(first)
t_first = time.perf_counter()
code2 = call(second)
t_second = time.perf_counter()
print(json.dumps({
    "sdk": t_sdk - t0, "import": t_import - t_sdk, "first": t_first - t1, "second": t_second - t_first,
    "codes": [code1, code2], "rssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "modules": len(sys.modules),
}))
"""

# Imports in the order the first submit pays them; each timed incrementally in one fresh process.
STEPS: tuple[tuple[str, str], ...] = (
    ("functions_framework", "import functions_framework"),
    ("functions/main.py (module import)", "MAIN"),
    ("google.cloud.firestore (first request of any HTTP function: RunStore)", "import google.cloud.firestore"),
    (
        "google.cloud.aiplatform_v1 JobServiceClient as the adapter imports it, package `__init__`s lazy "
        "(`adapters/aiplatform.py`; first Vertex AI call: submit, cancel, templates, poll)",
        "from polysync_vertex.adapters import aiplatform; aiplatform.client_class('job')",
    ),
    ("google.cloud.pubsub_v1 (poll's publisher)", "import google.cloud.pubsub_v1"),
    ("for comparison: google.cloud.aiplatform (SDK), on top of all the above", "import google.cloud.aiplatform"),
)

STEPS_CHILD = r"""
import json, sys, time, importlib.util
steps = json.loads(sys.argv[1]); main_py = sys.argv[2]
out = []
for label, code in steps:
    n0 = len(sys.modules); t0 = time.perf_counter()
    if code == "MAIN":
        spec = importlib.util.spec_from_file_location("main", main_py)
        module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    else:
        exec(code)
    out.append([label, time.perf_counter() - t0, len(sys.modules) - n0])
print(json.dumps(out))
"""

# For comparison: the same client imported the usual way, where the `google.cloud.aiplatform_v1` and `types`
# package `__init__`s import all ~40 services and every type (what the adapter did before adapters/aiplatform.py).
USUAL_CHILD = r"""
import json, sys, time
import google.cloud.firestore  # already paid by the first request
t0 = time.perf_counter(); n0 = len(sys.modules)
from google.cloud.aiplatform_v1.services.job_service import JobServiceClient  # noqa: F401
print(json.dumps([time.perf_counter() - t0, len(sys.modules) - n0]))
"""


@dataclass
class Sample:
    wall: float
    sdk: float
    imports: float
    first: float
    second: float
    rss_mib: float
    modules: int
    codes: list[int]


@dataclass
class Result:
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    steps: list[tuple[str, float, int]] = field(default_factory=list)
    usual: tuple[float, int] = (0.0, 0)
    processes: int = 0


def _child(env: dict[str, str], args: list[str], code: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout.strip().splitlines()[-1]


def run(stack: Stack, processes: int = 5) -> Result:
    prefix = new_prefix("cold")
    app = stack.build_app(prefix)
    code, run_resp = app.submit.submit(submit_body(f"{prefix}seed", scenario="PENDING"))
    if code != 201:
        raise RuntimeError(f"seeding a run failed: {code} {run_resp}")
    run_id = str(run_resp["runId"])
    env = {**os.environ, **stack.env(prefix)}
    result = Result(processes=processes)
    for i in range(processes):
        for variant in ("ours", "sdk") if i % 2 == 0 else ("sdk", "ours"):
            for target in ("status", "submit"):
                if target == "status":
                    first = second = run_id
                else:
                    first = json.dumps(submit_body(f"{prefix}{variant}-{i}-a", scenario="PENDING"))
                    second = json.dumps(submit_body(f"{prefix}{variant}-{i}-b", scenario="PENDING"))
                wall, out = _child(env, [variant, target, str(MAIN_PY), first, second], CHILD)
                data = json.loads(out)
                sample = Sample(
                    wall=wall,
                    sdk=data["sdk"],
                    imports=data["import"],
                    first=data["first"],
                    second=data["second"],
                    rss_mib=data["rssKiB"] / 1024,
                    modules=data["modules"],
                    codes=data["codes"],
                )
                expected = [200, 200] if target == "status" else [201, 201]
                if sample.codes != expected:
                    raise RuntimeError(f"cold start {variant}/{target}: HTTP {sample.codes}, expected {expected}")
                result.samples.setdefault((variant, target), []).append(sample)
        log(f"cold start: {i + 1}/{processes} rounds")
    step_runs: list[list[list[Any]]] = []
    usual_runs: list[list[float]] = []
    for _ in range(max(3, processes // 2 + 1)):
        _, out = _child(env, [json.dumps(STEPS), str(MAIN_PY)], STEPS_CHILD)
        step_runs.append(json.loads(out))
        _, out = _child(env, [], USUAL_CHILD)
        usual_runs.append(json.loads(out))
    for index, (label, _) in enumerate(STEPS):
        result.steps.append(
            (label, median(r[index][1] for r in step_runs), int(median(r[index][2] for r in step_runs)))
        )
    result.usual = (median(r[0] for r in usual_runs), int(median(r[1] for r in usual_runs)))
    return result
