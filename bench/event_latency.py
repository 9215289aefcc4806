"""Event latency at the deployed 60 s tick per job type, hints on and off, and Vertex AI calls per minute at
100 / 1,000 / 10,000 active runs with hints on (issue 24).

    python -m bench.event_latency [--quick] [--no-calls] [--background N]

Measured by :mod:`bench.measure.event_latency` and :mod:`bench.measure.calls_per_minute` (what and how: their
docstrings), reported by :mod:`bench.report.event_latency`. The plans are bench.plan's FULL and QUICK.
"""

from __future__ import annotations

import argparse
import os

from .common import Stack, log, stop_on_sigterm
from .measure import calls_per_minute, event_latency
from .plan import FULL, QUICK
from .report.event_latency import calls_line, calls_markdown, lines, markdown, phases_text


def options(argv: list[str] | None = None) -> argparse.Namespace:
    """Parsed arguments, with `plan` (FULL or QUICK) and `background` (the option, else the plan's) resolved."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer changes over fewer ticks; 100 and 1,000 runs")
    parser.add_argument("--no-calls", action="store_true", help="event latency only")
    parser.add_argument(
        "--background",
        type=int,
        metavar="N",
        help="further active Custom Jobs (PENDING, never changing) per phase in the measured location and connector "
        f"(default: the plan's, {FULL.event_background} full, {QUICK.event_background} quick)",
    )
    args = parser.parse_args(argv)
    args.plan = QUICK if args.quick else FULL
    if args.background is None:
        args.background = args.plan.event_background
    if args.background < 0:
        parser.error("--background must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    args = options(argv)
    plan = args.plan
    log(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with Stack() as stack:
        result = event_latency.run(stack, plan.event_changes, plan.event_spread, background=args.background)
        calls = None
        if not args.no_calls:
            calls = calls_per_minute.run(stack, plan.calls_actives, plan.calls_minutes)
    for text in lines(result):
        print(text)
    if calls is not None:
        for c in calls.cases:
            print(calls_line(c))
    print()
    print(markdown(result))
    print()
    print(phases_text(result))
    if calls is not None:
        print()
        print(calls_markdown(calls))
    log(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
