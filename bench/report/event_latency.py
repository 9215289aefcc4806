"""Markdown of the event latency benchmark (measured by :mod:`bench.measure.event_latency`)."""

from __future__ import annotations

from ..common import percentile
from ..measure.event_latency import Result


def markdown(results: list[Result]) -> str:
    rows = [
        "| tick (s) | changes | p50 (s) | p99 (s) | max (s) | p50 / tick | p99 / tick | poll cycle (s, median) "
        "| missing |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if not r.latencies:
            rows.append(f"| {r.tick:g} | {r.changes} | - | - | - | - | - | - | {r.missing} |")
            continue
        p50, p99 = percentile(r.latencies, 50), percentile(r.latencies, 99)
        cycle = sorted(r.tick_seconds)[len(r.tick_seconds) // 2] if r.tick_seconds else 0.0
        rows.append(
            f"| {r.tick:g} | {len(r.latencies)} | {p50:.2f} | {p99:.2f} | {max(r.latencies):.2f} "
            f"| {p50 / r.tick:.2f} | {p99 / r.tick:.2f} | {cycle:.3f} | {r.missing} |"
        )
    return "\n".join(rows)
