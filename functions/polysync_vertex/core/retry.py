"""Backoff delays: the one formula every retry loop of the connector uses."""

from __future__ import annotations

import random


def backoff(attempt: int, *, base: float = 0.2, cap: float = 5.0) -> float:
    """Capped exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2**attempt))
