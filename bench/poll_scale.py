"""Poll at scale with realistic Vertex AI latency, fanned out over poll_shard workers, at the deployed tick.

    python -m bench.poll_scale --runs 10000 [--ticks 5] [--tick 30] [--inline-max 2001] [--workers K]

Measured by :mod:`bench.measure.poll_scale` (what and how: its docstring),
reported by :mod:`bench.report.poll_scale`.
"""

from __future__ import annotations

import argparse

from .common import Stack, stop_on_sigterm
from .measure import poll_scale as measure
from .measure.poll_scale import run
from .report.poll_scale import markdown, warmup_markdown


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=measure.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10000, help="active runs N in one location")
    parser.add_argument("--ticks", type=int, default=5, help="measured ticks")
    parser.add_argument("--tick", type=float, default=60.0, help="tick interval, seconds (60: as deployed)")
    parser.add_argument("--inline-max", type=int, default=2001, help="PSV_POLL_INLINE_MAX (runs per shard worker)")
    parser.add_argument("--workers", type=int, default=None, help="poll_shard workers (default: one per shard)")
    args = parser.parse_args(argv)
    with Stack() as stack:
        result = run(
            stack, args.runs, ticks=args.ticks, tick=args.tick, inline_max=args.inline_max, workers=args.workers
        )
    print()
    print(markdown([result]))
    print()
    print(warmup_markdown([result]))
    print()
    print(result.detail())
    print(result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
