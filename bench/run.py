"""Run every benchmark against fresh emulators and write docs/benchmarks.md (and the poll-cost plot).

    python -m bench.run [--quick] [--out docs/benchmarks.md]

`make bench` runs the full set (about an hour on 2 cores: the poll at scale with realistic latency and the event
latency at the deployed 60 s tick, about 15 minutes, are most of it); `--quick` runs the poll cost at 100 and 1,000
runs only, with fewer repetitions, the event latency with fewer changes over one tick and calls per minute at 100
and 1,000 runs, and the scale benchmark at 2,000 runs over 4 shards (about 14 minutes).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import ROOT, Stack, log, machine_info, percentile, stop_on_sigterm
from .measure import calls_per_minute, cold_start, event_latency, poll_cost, poll_scale, submit_path
from .plan import FULL, QUICK
from .report.document import write

_MEASURED = ("calls_per_minute", "cold_start", "event_latency", "poll_cost", "poll_scale", "submit_path")


class _Unpickler(pickle.Unpickler):
    """Reads results kept before the benchmarks' result types moved to bench.measure (and Plan to bench.plan)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "bench.run" and name == "Plan":
            module = "bench.plan"
        elif module.startswith("bench.") and module.removeprefix("bench.") in _MEASURED:
            module = "bench.measure." + module.removeprefix("bench.")
        return super().find_class(module, name)


def _load(handle: Any) -> dict[str, Any]:
    saved: dict[str, Any] = _Unpickler(handle).load()  # noqa: S301 - a file this program wrote
    return saved


def _note_rerun(saved: dict[str, Any], argv: list[str], what: str) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    saved.setdefault("reruns", []).append(
        f"{_command(argv)} at {datetime.now(UTC).strftime('%H:%M UTC')} (load average {load} at its end"
        + (f"; {what})" if what else ")")
    )


def _command(argv: list[str]) -> str:
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(ROOT))
    except ValueError:
        shown = "python"
    return " ".join([shown, "-m", "bench.run", *argv])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 runs only, fewer repetitions")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="markdown report to write")
    parser.add_argument(
        "--results", default="/tmp/polysync-bench-results.pickle", help="where the measured results are kept"
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from --results, no runs")
    parser.add_argument(
        "--rerun-scale",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="re-measure the scale case of N runs in a fresh stack, replace it in --results, rewrite the report",
    )
    parser.add_argument(
        "--rerun-submit",
        action="store_true",
        help="re-measure cold start and the submit path in a fresh stack, replace them in --results (the first "
        "figures are kept in the report's rerun line), rewrite the report",
    )
    args = parser.parse_args(argv)
    if args.rerun_submit or args.rerun_scale:
        with open(args.results, "rb") as f:
            saved = _load(f)
        if args.rerun_submit:
            plan = saved["plan"]
            first = f"submit added p50 {percentile(saved['submit'].added, 50) * 1000:.1f} ms"
            with Stack() as stack:
                saved["cold"] = cold_start.run(stack, processes=plan.cold_processes)
                saved["submit"] = submit_path.run(
                    stack, submits=plan.submits, replays=plan.replays, per_client=plan.per_client
                )
            _note_rerun(saved, ["--rerun-submit"], f"cold start and submit path; the full run had measured {first}")
        for runs in args.rerun_scale:
            case = next(c for c in saved["plan"].scale_cases if c[0] == runs)
            with Stack() as stack:
                fresh = poll_scale.run(stack, runs, ticks=case[1], tick=case[2], inline_max=case[3])
            saved["scale"] = [fresh if r.runs == runs else r for r in saved["scale"]]
            _note_rerun(saved, ["--rerun-scale", str(runs)], "")
        with open(args.results, "wb") as f:
            pickle.dump(saved, f)
        write(Path(args.out), saved)
        return 0
    if args.report_only:
        with open(args.results, "rb") as f:
            write(Path(args.out), _load(f))
        return 0
    plan = QUICK if args.quick else FULL
    out = Path(args.out)
    stop_on_sigterm()

    machine = machine_info()
    started = time.monotonic()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    failures: list[str] = []
    log(f"machine: {machine}")
    with Stack() as stack:
        log("emulators up")
        cold = cold_start.run(stack, processes=plan.cold_processes)
        submit = submit_path.run(stack, submits=plan.submits, replays=plan.replays, per_client=plan.per_client)
        cases = []
        for runs, repeats in plan.poll_cases:
            cases.append(poll_cost.run_case(stack, runs, max(1, runs // 100), repeats))
        events: event_latency.Result | None = None
        calls: calls_per_minute.CallsResult | None = None
        try:
            events = event_latency.run(stack, plan.event_changes, plan.event_spread, background=plan.event_background)
            calls = calls_per_minute.run(stack, plan.calls_actives, plan.calls_minutes)
        except Exception as exc:  # noqa: BLE001 - reported in the document, the other sections still run
            log(f"event latency / calls per minute failed: {exc!r}")
            failures.append(f"event_latency: {exc!r}")
        kinds: list[poll_cost.Case] = []
        for kind, runs, repeats, baseline in plan.kind_cases:
            try:
                kinds.append(poll_cost.run_case(stack, runs, runs // 100, repeats, kind, baseline=baseline))
            except Exception as exc:  # noqa: BLE001 - reported in the document, the other sections still run
                log(f"poll cost {kind} N={runs} failed: {exc!r}")
                failures.append(f"poll_cost --kind {kind} --runs {runs}: {exc!r}")
        scale: list[poll_scale.Result] = []
        for runs, ticks, tick, inline_max in plan.scale_cases:
            try:
                scale.append(poll_scale.run(stack, runs, ticks=ticks, tick=tick, inline_max=inline_max))
            except Exception as exc:  # noqa: BLE001 - reported in the document, the other sections still run
                log(f"poll scale N={runs} failed: {exc!r}")
                failures.append(f"poll_scale --runs {runs}: {exc!r}")
    log("emulators stopped")
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    elapsed = time.monotonic() - started
    saved = dict(
        plan=plan, machine=machine, load_end=load_end, date=date, command=_command(argv), elapsed=elapsed, cold=cold,
        submit=submit, cases=cases, events=events, calls=calls, kinds=kinds, scale=scale, failures=failures,
    )  # fmt: skip
    try:
        with open(args.results, "wb") as f:
            pickle.dump(saved, f)
    except Exception as exc:  # noqa: BLE001 - the report is still written
        log(f"keeping the results in {args.results} failed: {exc!r}")
    write(out, saved)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
