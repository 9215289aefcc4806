"""The last version (update time) of each run this process read or wrote, for optimistic writes.

Runs are updated optimistically: a write carries the precondition "unchanged since I read it" (the document's update
time), and a refused write re-reads and re-applies the change. No locks are held, so overlapping pollers and a racing
cancel never wait on each other, and the poll path needs no second read of a run it has just listed or written.
A stale entry costs one refused write and a re-read, never a wrong write; the cache holds at most `limit` runs and
`max_bytes` of them, dropping the least recently used: 30 finished runs with big outputs kept 35 MiB in a status
instance before the byte bound. A run bigger than `max_bytes / 8` is not kept at all (its next write re-reads it:
one read).

The bytes are those of the Python objects the cache keeps (`object_bytes`: `sys.getsizeof` of every container and
value of the decoded run, each object once), not the run's Firestore size: a run of many small values (a decoded
outputs map of 5,000 numbers) takes about 7 times its Firestore size as Python objects
(tests/unit/test_store_parts.py measures both with tracemalloc), so a bound counted in stored bytes let the cache
hold several times its 32 MiB.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections import OrderedDict
from typing import Any

Version = tuple[dict[str, Any], Any]  # (the run as read or written, its update time)


MAX_BYTES = 32 * 1024 * 1024


def object_bytes(value: Any) -> int:
    """The memory the Python objects of `value` take: `sys.getsizeof` of each container, key and value, an object
    reached twice counted once (iterative: any nesting depth). An estimate within a few percent of what tracemalloc
    sees (it leaves out the allocator's rounding), at the cost of one walk, as counting Firestore's bytes was."""
    total = 0
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total


class VersionCache:
    def __init__(self, limit: int = 50_000, max_bytes: int = MAX_BYTES) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[Version, int]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, doc_id: str, data: dict[str, Any], version: Any) -> None:
        size = object_bytes(data)
        with self._lock:
            self._drop(doc_id)
            if size > self.max_bytes // 8:
                return
            self._entries[doc_id] = ((copy.deepcopy(data), version), size)
            self.bytes += size
            while len(self._entries) > self.limit or self.bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.bytes -= dropped

    def _drop(self, doc_id: str) -> Version | None:
        entry = self._entries.pop(doc_id, None)
        if entry is None:
            return None
        self.bytes -= entry[1]
        return entry[0]

    def take(self, doc_id: str) -> Version | None:
        """The cached version, removed: whoever takes it writes with it and remembers what it wrote."""
        with self._lock:
            return self._drop(doc_id)

    def __len__(self) -> int:
        return len(self._entries)
