"""Submit path: the latency the function adds around the Vertex AI create call, throughput, and what it costs.

Measured by :mod:`bench.measure.submit_path` (what and how: its docstring),
reported by :mod:`bench.report.submit_path`.
"""

from __future__ import annotations

from .common import Stack, stop_on_sigterm
from .measure.submit_path import run
from .report.submit_path import markdown


def main() -> int:
    stop_on_sigterm()
    with Stack() as stack:
        result = run(stack, submits=100, replays=20, per_client=10)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
