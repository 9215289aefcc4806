"""What every benchmark shares: the emulators (started and stopped here), settings, seeding and statistics.

Everything listens on 127.0.0.1 only. The Firestore and Pub/Sub emulators (gcloud) and our Vertex AI emulator
each run in their own process group, so the functions under test do not share a GIL with the emulators.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAIN_PY = ROOT / "functions" / "main.py"
PROJECT = "local-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
SECRET = "bench-webhook-secret"
STAY_PENDING = "PENDING"  # VERTEX_EMULATOR_SCENARIO of a job that stays PENDING until told otherwise
FIRESTORE_BATCH = 500


def stop_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`) raises SystemExit, so the emulators and workers are stopped by the usual
    clean-up instead of left to their supervisors."""

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- statistics ----------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of nothing")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    keys = set(after) | set(before)
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(keys) if after.get(k, 0) - before.get(k, 0)}


# -- the emulators -------------------------------------------------------------------------------------------
@dataclass
class Stack:
    """Firestore + Pub/Sub emulators (gcloud) and the Vertex AI emulator, each a process group on 127.0.0.1."""

    started: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Stack:
        from polysync_local import processes

        processes.check_prerequisites()
        errors: list[BaseException] = []

        def start(name: str, fn: Callable[[], Any]) -> None:
            try:
                self.started[name] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others are stopped
                errors.append(exc)

        threads = [
            threading.Thread(target=start, args=("firestore", lambda: processes.start_firestore(project=PROJECT))),
            threading.Thread(target=start, args=("pubsub", lambda: processes.start_pubsub(project=PROJECT))),
            threading.Thread(target=start, args=("vertex", lambda: processes.start_vertex(time_factor=1.0))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise errors[0]
        os.environ["FIRESTORE_EMULATOR_HOST"] = self.firestore_host
        os.environ["PUBSUB_EMULATOR_HOST"] = self.pubsub_host
        os.environ.setdefault("GOOGLE_CLOUD_PROJECT", PROJECT)
        return self

    def stop(self) -> None:
        for emulator in list(self.started.values()):
            emulator.stop()
        self.started.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def firestore_host(self) -> str:
        return str(self.started["firestore"].host)

    @property
    def pubsub_host(self) -> str:
        return str(self.started["pubsub"].host)

    @property
    def vertex_url(self) -> str:
        return str(self.started["vertex"].url)

    @property
    def vertex_host(self) -> str:
        return str(self.started["vertex"].host)

    def admin(self) -> Any:
        from vertex_emulator.admin import AdminClient

        return AdminClient(self.vertex_url, timeout=60)

    def env(self, prefix: str, **extra: str) -> dict[str, str]:
        """PSV_* settings plus emulator hosts, for this process or a child."""
        values = {
            "PSV_PROJECT": PROJECT,
            "PSV_DEFAULT_LOCATION": LOCATION,
            "PSV_ALLOWED_PROJECTS": PROJECT,
            "PSV_ALLOWED_LOCATIONS": LOCATION,
            "PSV_WEBHOOK_SECRETS": SECRET,
            "PSV_VERTEX_ENDPOINT": self.vertex_url,
            "PSV_STATUS_TOPIC": f"{prefix}status",
            "PSV_SHARD_TOPIC": "",
            "PSV_COLLECTION_PREFIX": prefix,
            "PSV_LOG_LEVEL": "WARNING",
            # One pass per tick() call (the benchmarks measure passes); a benchmark of the cadence sets its own.
            "PSV_POLL_INTERVAL_SECONDS": "0",
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
        }
        values.update(extra)
        return values

    def build_app(self, prefix: str) -> Any:
        from polysync_vertex import bootstrap
        from polysync_vertex.config import Settings

        return bootstrap.build(Settings.from_env(self.env(prefix)))


# The Firestore emulator is a JVM: its time per call falls from about 9 ms to about 2 ms over its first few
# thousand calls (measured here: 300 creates + 300 gets per round, median create 9.4, 6.0, 5.1, 4.2, 3.7, 3.2, 2.8,
# 1.9 ms over 8 rounds). A latency figure taken on a cold emulator measures the JIT, not our code.
WARM_FIRESTORE_CALLS = 6000


def warm_firestore(calls: int = WARM_FIRESTORE_CALLS, threads: int = 4) -> float:
    """Put `calls` small creates and reads through the Firestore emulator (a scratch collection, `threads` at a
    time), then 200 creates one at a time; returns the median of those (s), to report how warm it was."""
    from google.cloud import firestore

    client = firestore.Client(project=PROJECT)
    col = client.collection(new_prefix("warm") + "scratch")

    def one(i: int) -> float:
        t0 = time.perf_counter()
        col.document(f"d{i}").create({"i": i})
        elapsed = time.perf_counter() - t0
        col.document(f"d{i}").get()
        return elapsed

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(calls // 2)))
    return median(one(calls + i) for i in range(200))


def new_prefix(kind: str) -> str:
    return f"bench-{kind}-{uuid.uuid4().hex[:8]}-"


def create_topic(topic_id: str, *, subscription: bool) -> str | None:
    """Create the status topic (and a pull subscription with ordering); returns the subscription path."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = f"projects/{PROJECT}/topics/{topic_id}"
    publisher.create_topic(name=topic)
    if not subscription:
        return None
    subscriber = pubsub_v1.SubscriberClient()
    sub = f"projects/{PROJECT}/subscriptions/{topic_id}-sub"
    subscriber.create_subscription(request={"name": sub, "topic": topic, "enable_message_ordering": True})
    subscriber.close()
    return sub


# -- seeding -------------------------------------------------------------------------------------------------
KINDS = ("custom", "pipeline", "batch")
COLLECTION = {"custom": "customJobs", "pipeline": "pipelineJobs", "batch": "batchPredictionJobs"}
# The state a seeded job is put in to finish, and back to pending (admin setState), per kind.
SUCCEEDED = {"custom": "JOB_STATE_SUCCEEDED", "pipeline": "PIPELINE_STATE_SUCCEEDED", "batch": "JOB_STATE_SUCCEEDED"}
PENDING = {"custom": "JOB_STATE_PENDING", "pipeline": "PIPELINE_STATE_PENDING", "batch": "JOB_STATE_PENDING"}
BENCH_PIPELINE_SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "bench-pipeline"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.7.0",
    "root": {"dag": {"tasks": {"train": {"taskInfo": {"name": "train"}}}}, "inputDefinitions": {"parameters": {}}},
}


def _job_body(
    index: int, tag: str, scenario: str, kind: str = "custom", location: str = LOCATION
) -> tuple[str, str, dict[str, Any]]:
    """(requestId, create URL path, body) of one labelled job of `kind`, as the connector would create it."""
    from polysync_vertex.core.labels import job_labels, request_key

    request_id = f"{tag}-{index}"
    key = request_key(request_id)
    labels = job_labels(None, key, "bench")
    parent = f"projects/{PROJECT}/locations/{location}"
    path = f"/v1/{parent}/{COLLECTION[kind]}"
    body: dict[str, Any]
    if kind == "custom":
        body = {
            "displayName": request_id,
            "labels": labels,
            "jobSpec": {
                "workerPoolSpecs": [
                    {
                        "machineSpec": {"machineType": "n1-standard-4"},
                        "replicaCount": "1",
                        "containerSpec": {
                            "imageUri": "us-docker.pkg.dev/p/r/trainer:1",
                            "env": [{"name": "VERTEX_EMULATOR_SCENARIO", "value": scenario}],
                        },
                    }
                ]
            },
        }
    elif kind == "pipeline":
        from polysync_vertex.core import kinds

        path += f"?pipelineJobId={kinds.BY_COLLECTION['pipelineJobs'].job_id(key)}"
        body = {
            "displayName": request_id,
            "labels": labels,
            "pipelineSpec": BENCH_PIPELINE_SPEC,
            "runtimeConfig": {
                "gcsOutputDirectory": "gs://bench-pipeline-root/runs",
                "parameterValues": {"VERTEX_EMULATOR_SCENARIO": scenario},
            },
        }
    elif kind == "batch":
        body = {
            "displayName": request_id,
            "labels": labels,
            "model": f"{parent}/models/bench-model",
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bench-in/a.jsonl"]}},
            "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://bench-out/p"}},
            "modelParameters": {"VERTEX_EMULATOR_SCENARIO": scenario},
        }
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    return request_id, path, body


def seed_jobs(
    vertex_host: str,
    count: int,
    tag: str,
    *,
    scenario: str = STAY_PENDING,
    threads: int = 8,
    kind: str = "custom",
    start: int = 0,
    location: str = LOCATION,
) -> list[tuple[str, dict[str, Any]]]:
    """Create `count` labelled jobs of `kind` in the Vertex AI emulator over plain keep-alive HTTP, in parallel.

    Returns (requestId, created job JSON) in index order. Seeding is not what is measured.
    """
    host, port = vertex_host.split(":")
    results: list[tuple[str, dict[str, Any]] | None] = [None] * count

    def worker(indices: range) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            for i in indices:
                request_id, path, body = _job_body(start + i, tag, scenario, kind, location)
                conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"seeding job {i} failed: HTTP {resp.status} {data[:300]!r}")
                results[i] = (request_id, json.loads(data))
        finally:
            conn.close()

    step = math.ceil(count / threads) if count else 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker, range(lo, min(lo + step, count))) for lo in range(0, count, step)]
        for f in futures:
            f.result()
    return [r for r in results if r is not None]


def run_records(
    jobs: Sequence[tuple[str, dict[str, Any]]], *, recorded_ago: timedelta = timedelta(minutes=15)
) -> list[tuple[str, dict[str, Any]]]:
    """The run records submit would have written for these jobs (any kind): (document id, record)."""
    from polysync_vertex.core import kinds, runs
    from polysync_vertex.core.labels import request_key

    now = datetime.now(UTC)
    out = []
    for request_id, job in jobs:
        key = request_key(request_id)
        _, name = kinds.parse_run_name(job["name"], "runId")
        record = runs.new_run(
            runs.RunOrigin(
                request_id=request_id,
                key=key,
                job_name="bench",
                template=None,
                fingerprint="bench",
                warnings=(),
            ),
            name,
            job,
            now,
        )
        # Submitted a while ago (older than the poller's new-run margin), as in a steady state.
        record["recordedAt"] = runs.iso(now - recorded_ago)
        out.append((kinds.run_doc_id(name), record))
    return out


def write_records(app: Any, records: Sequence[tuple[str, dict[str, Any]]], *, threads: int = 4) -> None:
    """Write run records in Firestore batches (not counted: the store's counters are bypassed)."""
    chunks = [records[i : i + FIRESTORE_BATCH] for i in range(0, len(records), FIRESTORE_BATCH)]

    def commit(chunk: Sequence[tuple[str, dict[str, Any]]]) -> None:
        batch = app.store.client.batch()
        for doc_id, record in chunk:
            batch.set(app.store.runs.document(doc_id), record)
        batch.commit()

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(commit, c) for c in chunks]:
            f.result()


def set_states(admin: Any, names: Sequence[str], state: str, *, threads: int = 8) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(admin.set_state, n, state) for n in names]:
            f.result()


# -- signing -------------------------------------------------------------------------------------------------
def signed_headers(payload: bytes) -> dict[str, str]:
    from polysync_vertex.core.auth import HEADER, signature_header

    return {HEADER: signature_header(SECRET, int(time.time()), payload)}


def submit_body(request_id: str, scenario: str | None = None) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": "EPOCHS", "direction": "Input", "type": "Number", "value": 10},
        {"name": "MODE", "direction": "InputOutput", "type": "String", "value": "fast"},
    ]
    if scenario is not None:
        parameters.append(
            {"name": "VERTEX_EMULATOR_SCENARIO", "direction": "Input", "type": "String", "value": scenario}
        )
    return {
        "requestId": request_id,
        "jobName": "bench-train",
        "attributes": {
            "machineType": "n1-standard-4",
            "containerImageUri": "us-docker.pkg.dev/my-proj/train/trainer:1.4",
            "replicaCount": 1,
        },
        "parameters": parameters,
    }


# -- the machine ---------------------------------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    cpu = "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20).stderr.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        java = "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": mem,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "java": java,
        "load": load,
    }


class Timings:
    """Wall time spent inside selected methods of an app's adapters (instance-level wrappers, one thread)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, key: str, seconds: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def wrap(self, obj: Any, attr: str, key: str) -> None:
        original = getattr(obj, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(key, time.perf_counter() - t0)

        setattr(obj, attr, timed)

    def wrap_iter(self, obj: Any, attr: str, key: str) -> None:
        """Like wrap, for a method returning an iterator: the time of each next() counts."""
        original = getattr(obj, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            iterator = iter(original(*args, **kwargs))
            while True:
                t0 = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    self.add(key, time.perf_counter() - t0)
                    return
                self.add(key, time.perf_counter() - t0)
                yield item

        setattr(obj, attr, timed)

    def snapshot(self) -> dict[str, float]:
        return dict(self.seconds)
