"""A per-minute budget of calls (the poller's Cloud Logging reads): at most `per_minute` in any 60 s window.

Cloud Logging allows 60 `entries:list` calls per minute per project (https://cloud.google.com/logging/quotas, "Read
requests"), shared with everyone reading that project's logs; the poller spends at most its configured share
(PSV_LOG_READS_PER_MINUTE). The budget lives in one function instance; parallel shard workers each get a share
proportional to their shard range, so together they stay within it. Pure: the clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class MinuteBudget:
    """A sliding window: at most `limit` calls in any `window` seconds. A whole budget per minute is `limit` calls a
    minute (a fraction is rounded down, so shares never add up to more than the whole); a share below one call a
    minute is one call per 60 / share seconds; a budget of 0 allows nothing."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = max(0.0, per_minute)
        self.limit = int(self.per_minute) if self.per_minute >= 1 else (1 if self.per_minute > 0 else 0)
        self.window = (
            WINDOW_SECONDS if self.per_minute >= 1 or not self.per_minute else WINDOW_SECONDS / self.per_minute
        )
        self.clock = clock
        self._spent: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._spent and now - self._spent[0] >= self.window:
            self._spent.popleft()

    def remaining(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return max(0, self.limit - len(self._spent))

    def try_spend(self) -> bool:
        """Spend one call if the window has room; False (nothing spent) when it has not."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            if len(self._spent) >= self.limit:
                return False
            self._spent.append(now)
            return True
