"""Markdown of the poll cost benchmark (measured by :mod:`bench.measure.poll_cost`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..common import COLLECTION
from ..measure.poll_cost import Case

PAGE = 100  # services/poll/observe.py LIST_PAGE_SIZE


BATCH = 50  # services/poll/observe.py FINISHED_BATCH: request labels per list call reading finished jobs


METHOD = {"customJobs": "CustomJob", "pipelineJobs": "PipelineJob", "batchPredictionJobs": "BatchPredictionJob"}


QUOTA_PER_MINUTE = 600


TICK_SECONDS = 60


def model_calls(runs: int, finished: int) -> int:
    """Our Vertex AI calls per cycle (Custom and Batch Prediction Jobs): list pages over the non-final jobs, plus
    list calls reading the finished runs' final states, BATCH request labels per call."""
    return max(1, math.ceil((runs - finished) / PAGE)) + math.ceil(finished / BATCH)


def floor_calls(runs: int, finished: int) -> int:
    """The floor the issue names: ceil(N/100) + ceil(f/100)."""
    return max(1, math.ceil(runs / PAGE)) + math.ceil(finished / PAGE)


def before_calls(runs: int, finished: int) -> int:
    """The poller before the label lists: list pages over the non-final jobs plus one GET per finished run."""
    return max(1, math.ceil((runs - finished) / PAGE)) + finished


def capacity(calls_per_tick: Any, budget: int = QUOTA_PER_MINUTE * TICK_SECONDS // 60) -> int:
    """Largest N whose calls per tick fit in the budget (calls_per_tick is non-decreasing in N)."""
    lo, hi = 0, 10_000_000
    while lo < hi:  # bisection: at most ~24 steps
        mid = (lo + hi + 1) // 2
        if calls_per_tick(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


# -- report --------------------------------------------------------------------------------------------------
def table(cases: list[Case]) -> str:
    rows = [
        "| active runs | changed | poller | Vertex AI calls (list + get) | Firestore reads | Firestore writes "
        "| wall time (s) | calls ratio | time ratio |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        m = METHOD[COLLECTION[c.kind]]
        for strategy in ("ours", "per-job"):
            calls = c.calls(strategy)
            detail = f"{calls} ({c.method(strategy, f'List{m}s')} + {c.method(strategy, f'Get{m}')})"
            ratio = c.calls("per-job") / max(1, c.calls("ours"))
            t_ratio = c.seconds("per-job") / max(1e-9, c.seconds("ours"))
            ratios = f"**{ratio:.0f}x** | **{t_ratio:.1f}x**" if strategy == "ours" else " | "
            rows.append(
                f"| {c.runs:,} | {c.changed} | {strategy} | {detail} | {c.reads(strategy):,} | {c.writes(strategy):,} "
                f"| {c.seconds(strategy):.2f} | {ratios} |"
            )
    return "\n".join(rows)


PHASES = ("firestore query", "Vertex AI calls", "record transactions", "publish", "other (Python)")


def phase_table(cases: list[Case]) -> str:
    rows = [
        "| active runs | poller | " + " | ".join(PHASES) + " | total |",
        "|---:|---|" + "---:|" * (len(PHASES) + 1),
    ]
    for c in cases:
        for strategy in ("ours", "per-job"):
            cells = " | ".join(f"{c.phase(strategy, p):.2f}" for p in PHASES)
            rows.append(f"| {c.runs:,} | {strategy} | {cells} | {c.seconds(strategy):.2f} |")
    return "\n".join(rows)


def plot(cases: list[Case], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [c.runs for c in cases]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.plot(xs, [c.calls("per-job") for c in cases], "o-", color="tab:red", label="per-job GET (measured)")
    ax.plot(xs, [c.calls("ours") for c in cases], "o-", color="tab:blue", label="polysync-vertex (measured)")
    grid = [int(10 ** (2 + i / 10)) for i in range(0, 31)]  # 100 .. 100,000
    ax.plot(grid, grid, ":", color="tab:red", alpha=0.6, label="per-job model: N")
    ax.plot(
        grid,
        [model_calls(n, max(1, n // 100)) for n in grid],
        ":",
        color="tab:blue",
        alpha=0.6,
        label="our model: ceil(0.99N/100) + ceil(0.01N/50)",
    )
    ax.plot(
        grid,
        [before_calls(n, max(1, n // 100)) for n in grid],
        "--",
        color="tab:green",
        alpha=0.5,
        label="before (GET per finished): ceil(0.99N/100) + 0.01N",
    )
    ax.axhline(QUOTA_PER_MINUTE, color="gray", linestyle="--", linewidth=1)
    ax.text(110, QUOTA_PER_MINUTE * 1.3, "600 reads/min quota (60 s tick)", color="gray", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("active runs (1% finish per tick)")
    ax.set_ylabel("Vertex AI calls per poll cycle")
    ax.set_title("Vertex AI calls per poll cycle")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def fanned_out_calls(runs: int, finished: int, inline_max: int = 2000) -> int:
    """Our calls per tick when the poll fans out to ceil(N / inline_max) shard workers of equal size: each walks its
    own non-final pages and reads its own finished runs."""
    shards = max(1, math.ceil(runs / inline_max))
    per_runs, per_finished = runs / shards, finished / shards
    return shards * (max(1, math.ceil((per_runs - per_finished) / PAGE)) + math.ceil(per_finished / BATCH))


def derived(cases: list[Case], scale: Sequence[tuple[int, int, int, int, int]] = ()) -> str:
    """The calls model against the measured cycles, the floor, and the capacity of one region.

    `scale`: (N, finished per tick, measured calls per tick, shards, PSV_POLL_INLINE_MAX) of fanned-out ticks
    (bench/measure/poll_scale.py)."""
    matches = all(c.calls("ours") == model_calls(c.runs, c.changed) for c in cases if c.kind != "pipeline")
    verdict = "matches every measured cycle exactly" if matches else "does NOT match every measured cycle"
    rows = [
        "| measured | active runs N | finished f | calls per tick (measured) | model | floor ceil(N/100) + "
        "ceil(f/100) | measured / floor | before (GET per finished) | per-job GET |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        if c.kind == "pipeline":
            continue
        floor = floor_calls(c.runs, c.changed)
        rows.append(
            f"| poll_cost {c.kind}, inline | {c.runs:,} | {c.changed} | {c.calls('ours')} "
            f"| {model_calls(c.runs, c.changed)} | {floor} | {c.calls('ours') / floor:.2f} "
            f"| {before_calls(c.runs, c.changed)} | {c.runs:,} |"
        )
    for n, f, measured, shards, inline_max in scale:
        floor = floor_calls(n, f)
        rows.append(
            f"| poll_scale, fanned out to {shards} shards | {n:,} | {f} | {measured} "
            f"| {fanned_out_calls(n, f, inline_max)} | {floor} | {measured / floor:.2f} | {before_calls(n, f)} "
            f"| {n:,} |"
        )

    def cap_rows(label: str, finished: Any) -> str:
        ours = capacity(lambda n: model_calls(n, finished(n)))
        fan = capacity(lambda n: fanned_out_calls(n, finished(n)))
        before = capacity(lambda n: before_calls(n, finished(n)))
        floor = capacity(lambda n: floor_calls(n, finished(n)))
        per_job = capacity(lambda n: n)
        return f"| {label} | {ours:,} | {fan:,} | {before:,} | {per_job:,} | {ours / per_job:.0f}x | {floor:,} |"

    return "\n".join(
        [
            "Calls model (ours, Custom and Batch Prediction Jobs): `ceil((N - f) / 100) + ceil(f / 50)` per location "
            "and tick (f = runs that finished since the last tick: the non-final walk, then list calls filtered by "
            "an OR of up to 50 request labels); per-job: `N`; before this change: `ceil((N - f) / 100) + f` (one "
            f"GET per finished run). The model {verdict} (Custom and Batch cases above). Fanned out, each shard "
            "worker walks its own range, so a tick costs up to one partial page and one finished-runs call more per "
            "shard (model: `k * (ceil((N - f) / k / 100) + ceil(f / k / 50))`, k = ceil(N / PSV_POLL_INLINE_MAX)).",
            "",
            "Calls per tick against the floor:",
            "",
            *rows,
            "",
            "Runs one region carries at a 60 s tick within 600 Vertex AI read requests per minute (assuming nothing "
            "else in the project uses the read quota, one (project, location) holds all runs, and every change is "
            "a finish, the worst case; from the calls model, which the measured cycles match):",
            "",
            "| finishing per tick | ours, inline | ours, fanned out (2,000 per shard) | before (GET per finished) "
            "| per-job GET | ours / per-job | floor |",
            "|---|---:|---:|---:|---:|---:|---:|",
            cap_rows("1% of active runs", lambda n: math.ceil(n / 100)),
            cap_rows("10% of active runs", lambda n: math.ceil(n / 10)),
            cap_rows("10 runs", lambda n: min(n, 10)),
            "",
            "Non-final changes (PENDING -> RUNNING etc.) cost us nothing extra (the non-final walk shows them). "
            "Pipeline Jobs are cheaper still between full scans (see *Pipeline and Batch Prediction Jobs*).",
        ]
    )


def kind_table(cases: list[Case]) -> str:
    rows = [
        "| job type | active runs | finished | Vertex AI calls, ours (list + get) | per-job GET | ratio "
        "| Firestore reads / writes, ours | wall time, ours (s) | cycles |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        m = METHOD[COLLECTION[c.kind]]
        ours = c.calls("ours")
        per_job = f"{c.calls('per-job'):,}" + ("" if c.has_baseline else " (not run: N by construction)")
        rows.append(
            f"| {c.kind} | {c.runs:,} | {c.changed} | {ours} ({c.method('ours', f'List{m}s')} + "
            f"{c.method('ours', f'Get{m}')}) | {per_job} | {c.calls('per-job') / max(1, ours):.0f}x "
            f"| {c.reads('ours'):,} / {c.writes('ours'):,} | {c.seconds('ours'):.2f} | {len(c.of('ours'))} |"
        )
    return "\n".join(rows)
