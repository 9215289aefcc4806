"""`python -m tests.e2e.chaos --runs N --clients M`: a chaos run by hand."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import __doc__ as package_doc
from .config import ChaosConfig
from .runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.chaos", description=(package_doc or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seed", type=int, default=ChaosConfig.seed)
    parser.add_argument("--submit-window", type=float, default=None, help="seconds over which runs start")
    parser.add_argument("--outage-seconds", type=float, default=ChaosConfig.outage_seconds)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument(
        "--request-budget", type=float, default=ChaosConfig.request_budget, help="PSV_REQUEST_BUDGET_SECONDS"
    )
    parser.add_argument("--create-timeouts", type=int, default=None, help="creates held past the request budget")
    parser.add_argument("--slow-creates", type=int, default=ChaosConfig.slow_creates, help="creates held 2x budget")
    parser.add_argument("--very-slow-creates", type=int, default=ChaosConfig.very_slow_creates)
    parser.add_argument("--very-slow-create-seconds", type=float, default=ChaosConfig.very_slow_create_seconds)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    config = ChaosConfig(
        runs=args.runs,
        clients=args.clients,
        seed=args.seed,
        submit_window=args.submit_window if args.submit_window is not None else max(20.0, args.runs / 3),
        outage_seconds=args.outage_seconds,
        kills=args.kills,
        request_budget=args.request_budget,
        create_timeouts=args.create_timeouts if args.create_timeouts is not None else max(3, args.runs // 25),
        deadline=max(240.0, args.runs * 1.5),
        slow_creates=args.slow_creates,
        very_slow_creates=args.very_slow_creates,
        very_slow_create_seconds=args.very_slow_create_seconds,
        work_dir=args.work_dir,
        verbose=not args.quiet,
    )
    result = run(config)
    for v in result.violations:
        print(f"VIOLATION {v}")
    if result.violations:
        print(f"function and emulator logs: {result.log_dir}")
    print(result.summary())
    return 1 if result.violations else 0
