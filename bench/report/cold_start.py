"""Markdown of the cold start benchmark (measured by :mod:`bench.measure.cold_start`)."""

from __future__ import annotations

from ..common import median
from ..measure.cold_start import Result


def markdown(result: Result) -> str:
    rows = [
        "| first request | variant | process wall (s) | imports: [SDK +] main.py (s) | first request (s) "
        "| imports + first (s) | second request (s) | peak RSS (MiB) | modules |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in ("status", "submit"):
        ours = result.samples[("ours", target)]
        sdk = result.samples[("sdk", target)]
        for variant, samples in (("ours", ours), ("+ `import google.cloud.aiplatform`", sdk)):
            total = median(s.sdk + s.imports + s.first for s in samples)
            rows.append(
                f"| {target} | {variant} | {median(s.wall for s in samples):.2f} "
                f"| {median(s.sdk + s.imports for s in samples):.2f} | {median(s.first for s in samples):.2f} "
                f"| {total:.2f} | {median(s.second for s in samples):.3f} | {median(s.rss_mib for s in samples):.0f} "
                f"| {int(median(s.modules for s in samples))} |"
            )
        wall = median(s.wall for s in sdk) / median(s.wall for s in ours)
        rss = median(s.rss_mib for s in sdk) / median(s.rss_mib for s in ours)
        rows.append(f"| {target} | **ratio SDK / ours** | **{wall:.2f}x** | | | | | **{rss:.2f}x** | |")
    steps = [
        "| import, in the order the first submit pays it | seconds (median) | modules added |",
        "|---|---:|---:|",
    ]
    for label, seconds, modules in result.steps:
        steps.append(f"| {label} | {seconds:.2f} | {modules} |")
    usual_s, usual_modules = result.usual
    steps.append(
        "| for comparison: the same JobServiceClient imported the usual way (the `aiplatform_v1` and "
        f"`aiplatform_v1.types` package `__init__`s import every service and type), after Firestore "
        f"| {usual_s:.2f} | {usual_modules} |"
    )
    return "\n".join(rows) + "\n\n" + "\n".join(steps)
