"""Cold start: a fresh Python process imports functions/main.py and serves its first request.

Measured by :mod:`bench.measure.cold_start` (what and how: its docstring),
reported by :mod:`bench.report.cold_start`.
"""

from __future__ import annotations

from .common import Stack, stop_on_sigterm
from .measure.cold_start import run
from .report.cold_start import markdown


def main() -> int:
    stop_on_sigterm()
    with Stack() as stack:
        result = run(stack, processes=3)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
