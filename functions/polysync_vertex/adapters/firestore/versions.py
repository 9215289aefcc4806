"""The last version (update time) of each run this process read or wrote, for optimistic writes.

Runs are updated optimistically: a write carries the precondition "unchanged since I read it" (the document's update
time), and a refused write re-reads and re-applies the change. No locks are held, so overlapping pollers and a racing
cancel never wait on each other, and the poll path needs no second read of a run it has just listed or written.
A stale entry costs one refused write and a re-read, never a wrong write; the cache holds at most `limit` runs,
dropping the least recently used.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any

Version = tuple[dict[str, Any], Any]  # (the run as read or written, its update time)


class VersionCache:
    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, Version] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, doc_id: str, data: dict[str, Any], version: Any) -> None:
        with self._lock:
            self._entries[doc_id] = (copy.deepcopy(data), version)
            self._entries.move_to_end(doc_id)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def take(self, doc_id: str) -> Version | None:
        """The cached version, removed: whoever takes it writes with it and remembers what it wrote."""
        with self._lock:
            return self._entries.pop(doc_id, None)

    def __len__(self) -> int:
        return len(self._entries)
