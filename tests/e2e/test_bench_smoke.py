"""The benchmarks keep running as the code under them changes: the poll-cost benchmark at a small N, as a user runs
it (its own emulators, its one-line summary), with its counted calls checked (no wall-clock limit)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_poll_cost_benchmark_runs_and_counts_the_floor() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.poll_cost", "--runs", "150", "--changed", "3", "--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    line = out.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"poll-cost N=150 changed=3 calls=(\d+) baseline_calls=(\d+) firestore_reads=(\d+) seconds=[\d.]+", line
    )
    assert match, line
    calls, baseline, reads = (int(g) for g in match.groups())
    # ceil(147/100) non-final pages + one label list for the 3 finished; the baseline GETs every run.
    assert (calls, baseline) == (3, 150)
    assert 0 < reads < 150
