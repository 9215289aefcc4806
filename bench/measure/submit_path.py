"""Submit path: the latency the function adds around the Vertex AI create call, throughput, and what it costs.

1. In process, through functions_framework's Flask app (test client) into the real `submit` handler, signed,
   against the emulators: N sequential submits, each with a new requestId. `app.vertex.create` is wrapped to time
   the Vertex AI call; added latency = request time - create time (parsing, signature, idempotency claim,
   job building, run record, response). Firestore reads/writes and Vertex AI calls per submit come from the
   adapters' counters. Then replays (same requestId and body -> 200).
2. Out of process: `python -m functions_framework --target submit` (gunicorn, 1 worker, THREADS=8) and 8 client
   threads on keep-alive connections: completed requests per second for one instance.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..common import MAIN_PY, Stack, diff, log, new_prefix, signed_headers, submit_body, warm_firestore


@dataclass
class Result:
    submits: int = 0
    total: list[float] = field(default_factory=list)
    create: list[float] = field(default_factory=list)
    added: list[float] = field(default_factory=list)
    in_firestore: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)
    warm_create_ms: float = 0.0
    replay: list[float] = field(default_factory=list)
    firestore: dict[str, int] = field(default_factory=dict)
    vertex: dict[str, int] = field(default_factory=dict)
    replay_firestore: dict[str, int] = field(default_factory=dict)
    replay_vertex: dict[str, int] = field(default_factory=dict)
    replays: int = 0
    clients: int = 8
    threads: int = 8
    load_requests: int = 0
    load_ok: int = 0
    load_seconds: float = 0.0
    load_latency: list[float] = field(default_factory=list)
    load_vertex: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.load_ok / self.load_seconds if self.load_seconds else 0.0


def _in_process(stack: Stack, result: Result, submits: int, replays: int) -> None:
    from functions_framework import create_app

    from polysync_vertex import bootstrap

    prefix = new_prefix("submit")
    os.environ.update(stack.env(prefix))
    bootstrap.app.cache_clear()
    client = create_app(target="submit", source=str(MAIN_PY)).test_client()
    app = bootstrap.app()
    inside = threading.local()
    original = app.vertex.create

    def timed_create(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            inside.seconds = getattr(inside, "seconds", 0.0) + time.perf_counter() - t0

    app.vertex.create = timed_create

    def timed_store(method: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                inside.store = getattr(inside, "store", 0.0) + time.perf_counter() - t0

        return timed

    for method in ("claim", "complete"):
        setattr(app.store, method, timed_store(getattr(app.store, method)))

    def post(body: dict[str, Any], expect: int) -> tuple[float, float]:
        payload = json.dumps(body).encode()
        headers = signed_headers(payload)
        inside.seconds = inside.store = 0.0
        t0 = time.perf_counter()
        resp = client.post("/", data=payload, headers=headers, content_type="application/json")
        total = time.perf_counter() - t0
        if resp.status_code != expect:
            raise RuntimeError(f"submit answered {resp.status_code}, expected {expect}: {resp.get_data()[:500]!r}")
        return total, inside.seconds

    result.warm_create_ms = warm_firestore() * 1000
    log(f"submit path: Firestore emulator warmed, create {result.warm_create_ms:.1f} ms")
    for i in range(20):  # warm-up: imports, clients, connections
        post(submit_body(f"{prefix}warm-{i}"), 201)
    f0, v0 = dict(app.store.counts), dict(app.vertex.calls)
    bodies = []
    for i in range(submits):
        body = submit_body(f"{prefix}{i}")
        bodies.append(body)
        total, create = post(body, 201)
        result.total.append(total)
        result.create.append(create)
        result.added.append(total - create)
        result.in_firestore.append(inside.store)
        result.own.append(total - create - inside.store)
    result.submits = submits
    result.firestore = diff(dict(app.store.counts), f0)
    result.vertex = diff(dict(app.vertex.calls), v0)
    f0, v0 = dict(app.store.counts), dict(app.vertex.calls)
    for i in range(replays):
        total, _ = post(bodies[i % len(bodies)], 200)
        result.replay.append(total)
    result.replays = replays
    result.replay_firestore = diff(dict(app.store.counts), f0)
    result.replay_vertex = diff(dict(app.vertex.calls), v0)


def _load(stack: Stack, result: Result, per_client: int) -> None:
    from polysync_local import processes

    prefix = new_prefix("rps")
    port = processes.free_port()
    env = {**os.environ, **stack.env(prefix), "THREADS": str(result.threads), "WORKERS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "functions_framework",
        "--target",
        "submit",
        "--source",
        str(MAIN_PY),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = processes.ManagedProcess("submit-function", cmd, env=env).start()
    admin = stack.admin()
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/", server, timeout=60)
        latencies: list[float] = []
        ok = 0
        lock = threading.Lock()

        def client(index: int, count: int, tag: str) -> None:
            nonlocal ok
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                for j in range(count):
                    payload = json.dumps(submit_body(f"{prefix}{tag}-{index}-{j}")).encode()
                    headers = {**signed_headers(payload), "Content-Type": "application/json"}
                    t0 = time.perf_counter()
                    conn.request("POST", "/", body=payload, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    elapsed = time.perf_counter() - t0
                    if tag == "load":
                        with lock:
                            latencies.append(elapsed)
                            ok += resp.status == 201
            finally:
                conn.close()

        def wave(count: int, tag: str) -> float:
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(max_workers=result.clients) as pool:
                for f in [pool.submit(client, i, count, tag) for i in range(result.clients)]:
                    f.result()
            return time.perf_counter() - t0

        wave(3, "warm")  # every server thread imports nothing more and holds its connections
        v0 = admin.calls()
        result.load_seconds = wave(per_client, "load")
        result.load_vertex = diff(admin.calls(), v0)
        result.load_requests = per_client * result.clients
        result.load_ok = ok
        result.load_latency = latencies
    finally:
        server.stop()


def run(stack: Stack, submits: int = 500, replays: int = 100, per_client: int = 50) -> Result:
    result = Result()
    _in_process(stack, result, submits, replays)
    log(f"submit path: {submits} sequential submits done")
    _load(stack, result, per_client)
    log(f"submit path: {result.load_requests} concurrent submits done, {result.rps:.1f}/s")
    return result
