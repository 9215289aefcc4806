"""Event latency: from a state change in Vertex AI to the CloudEvent on the status subscription.

    python -m bench.event_latency

Measured by :mod:`bench.measure.event_latency` (what and how: its docstring),
reported by :mod:`bench.report.event_latency`.
"""

from __future__ import annotations

from .common import Stack, stop_on_sigterm
from .measure.event_latency import run
from .report.event_latency import markdown


def main() -> int:
    stop_on_sigterm()
    with Stack() as stack:
        result = run(stack, tick=2.0, changes=20, spread=20.0)
    print(markdown([result]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
