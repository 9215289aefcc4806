"""Poll cost: one poll cycle over N active runs with k changed, our list-based poller against per-job GETs.

    python -m bench.poll_cost --runs 1000 --changed 10 [--repeats 3] [--kind custom|pipeline|batch]

Measured by :mod:`bench.measure.poll_cost` (what and how: its docstring),
reported by :mod:`bench.report.poll_cost`.
"""

from __future__ import annotations

import argparse

from .common import Stack, stop_on_sigterm
from .measure import poll_cost as measure
from .measure.poll_cost import run_case
from .report.poll_cost import kind_table, phase_table, table


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=measure.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="active runs N")
    parser.add_argument("--changed", type=int, default=None, help="runs that finish before the cycle (default 1%%)")
    parser.add_argument("--repeats", type=int, default=3, help="cycles per strategy (median reported)")
    parser.add_argument("--kind", choices=("custom", "pipeline", "batch"), default="custom", help="job type seeded")
    parser.add_argument("--no-baseline", action="store_true", help="skip the per-job GET cycles (N calls each)")
    args = parser.parse_args(argv)
    changed = args.changed if args.changed is not None else max(1, args.runs // 100)
    if not 0 < changed < args.runs:
        parser.error("--changed must be between 1 and --runs - 1")
    with Stack() as stack:
        case = run_case(stack, args.runs, changed, max(1, args.repeats), args.kind, baseline=not args.no_baseline)
    print()
    print(table([case]) if case.has_baseline else kind_table([case]))
    print()
    print(phase_table([case]) if case.has_baseline else "")
    print()
    print(case.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
