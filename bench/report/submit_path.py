"""Markdown of the submit path benchmark (measured by :mod:`bench.measure.submit_path`)."""

from __future__ import annotations

from ..common import WARM_FIRESTORE_CALLS, median, percentile
from ..measure.submit_path import Result


def markdown(r: Result) -> str:
    ms = 1000.0

    def row(label: str, values: list[float]) -> str:
        return (
            f"| {label} | {percentile(values, 50) * ms:.1f} | {percentile(values, 95) * ms:.1f} "
            f"| {percentile(values, 99) * ms:.1f} |"
        )

    per = {k: v / r.submits for k, v in r.firestore.items()}
    vertex = {k: v / r.submits for k, v in r.vertex.items()}
    replay_fs = {k: v / max(1, r.replays) for k, v in r.replay_firestore.items()}
    load_vertex = {k: v / max(1, r.load_requests) for k, v in r.load_vertex.items()}
    lines = [
        f"{r.submits} sequential submits (new requestId each), in process through the real handler:",
        "",
        "| ms | p50 | p95 | p99 |",
        "|---|---:|---:|---:|",
        row("whole request (handler)", r.total),
        row("inside the Vertex AI create call", r.create),
        row("**added by the function** (whole - create)", r.added),
        row("of which: Firestore calls (claim, then run record + done mark: 2 commits)", r.in_firestore),
        row("of which: the function's own code (added - Firestore)", r.own),
        row(f"replay: same requestId and body -> 200 ({r.replays} requests)", r.replay),
        "",
        "| per submit | count |",
        "|---|---:|",
        f"| Firestore reads | {per.get('reads', 0):g} |",
        f"| Firestore writes | {per.get('writes', 0):g} |",
        f"| Vertex AI calls | {sum(vertex.values()):g} ({', '.join(f'{k} {v:g}' for k, v in vertex.items())}) |",
        f"| Firestore reads / writes per replay (the write is the claim's create-if-absent, refused) "
        f"| {replay_fs.get('reads', 0):g} / {replay_fs.get('writes', 0):g} |",
        f"| Vertex AI calls per replay | {sum(v for v in r.replay_vertex.values()) / max(1, r.replays):g} |",
        "",
        f"One instance (`functions_framework`, gunicorn, 1 worker, {r.threads} threads), {r.clients} concurrent "
        f"clients on keep-alive connections, {r.load_requests} submits:",
        "",
        "| requests/s | ok | p50 latency (ms) | p95 latency (ms) | Vertex AI calls per submit |",
        "|---:|---:|---:|---:|---:|",
        f"| **{r.rps:.1f}** | {r.load_ok}/{r.load_requests} | {percentile(r.load_latency, 50) * ms:.0f} "
        f"| {percentile(r.load_latency, 95) * ms:.0f} | {sum(load_vertex.values()):g} |",
        "",
        f"Median Vertex AI create call: {median(r.create) * ms:.1f} ms (the emulator answers from memory; the "
        "real API takes far longer, so the added latency is the figure that carries over). Measured after "
        f"{WARM_FIRESTORE_CALLS:,} warm-up calls to the Firestore emulator (a JVM that gets faster over its first "
        f"few thousand calls; a small create took {r.warm_create_ms:.1f} ms at the end of the warm-up): the two "
        "commits are the emulator's time, about the same as one Firestore write in the cloud.",
    ]
    return "\n".join(lines)
