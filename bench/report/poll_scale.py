"""Markdown of the poll scale benchmark (measured by :mod:`bench.measure.poll_scale`)."""

from __future__ import annotations

from ..common import percentile
from ..measure.poll_scale import LATENCY_MS, TICK_60, Result


# -- report --------------------------------------------------------------------------------------------------
def latency_table() -> str:
    rows = ["| method | injected latency (ms) |", "|---|---:|"]
    for verb, ms in LATENCY_MS.items():
        rows.append(f"| {verb} (CustomJob, PipelineJob, BatchPredictionJob) | {ms:,} |")
    return "\n".join(rows)


def markdown(results: list[Result]) -> str:
    rows = [
        "| N | shards (workers) | ticks | finished per tick | Vertex AI calls per tick (p50 / max) | calls by method "
        "| slowest shard p50 / p99 (s) | tick wall p50 / p99 (s) | Firestore reads / writes per tick (p50) "
        "| event latency p50 / p99 at 60 s (s) | in ticks | events | injected latency, most delayed shard (s, p50) "
        "| CPU per tick: shard workers / Vertex AI emulator (s) |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        m = r.measured
        if not m:
            continue
        slow = [t.slowest_shard for t in m]
        walls = [t.seconds for t in m]
        calls = [float(t.calls) for t in m]
        methods: dict[str, list[int]] = {}
        for t in m:
            for k, v in t.calls_by_method().items():
                methods.setdefault(k, []).append(v)
        by_method = ", ".join(f"{k} {round(percentile([float(x) for x in v], 50))}" for k, v in sorted(methods.items()))
        lat = r.latencies_60
        rows.append(
            f"| {r.runs:,} | {r.shards} ({r.workers}) | {len(m)} | {r.p([float(t.changes_made) for t in m], 50):.0f} "
            f"| {r.p(calls, 50):.0f} / {max(calls):.0f} | {by_method} "
            f"| {r.p(slow, 50):.1f} / {r.p(slow, 99):.1f} | {r.p(walls, 50):.1f} / {r.p(walls, 99):.1f} "
            f"| {r.p([float(t.firestore('reads')) for t in m], 50):,.0f} / "
            f"{r.p([float(t.firestore('writes')) for t in m], 50):,.0f} "
            f"| {r.p(lat, 50):.1f} / {r.p(lat, 99):.1f} | {r.p(lat, 50) / TICK_60:.2f} / {r.p(lat, 99) / TICK_60:.2f} "
            f"| {len(lat)}/{r.changes} | {r.p([t.injected_seconds() for t in m], 50):.1f} "
            f"| {r.p([t.worker_cpu for t in m], 50):.1f} / {r.p([t.emulator_cpu for t in m], 50):.1f} |"
        )
    return "\n".join(rows)


def warmup_markdown(results: list[Result]) -> str:
    rows = [
        "| N | full-scan tick: Vertex AI calls | slowest shard (s) | tick wall (s) | Firestore reads / writes "
        "| seeding (s, not measured) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if not r.ticks:
            continue
        w = r.ticks[0]
        rows.append(
            f"| {r.runs:,} | {w.calls} | {w.slowest_shard:.1f} | {w.seconds:.1f} | {w.firestore('reads'):,} / "
            f"{w.firestore('writes'):,} | {r.seed_seconds:.0f} |"
        )
    return "\n".join(rows)
