"""poll: follow every active run at the cost of a few Vertex AI calls per tick, and publish each change once.

| module       | what it holds                                                                                  |
|--------------|------------------------------------------------------------------------------------------------|
| `service.py` | `PollService`: the scheduler's tick (inline or fanned out), a shard worker's message, one tick |
| `cadence.py` | more passes inside a tick's minute as `PSV_POLL_INTERVAL_SECONDS` / `PSV_POLL_CALLS_PER_MINUTE` allow |
| `index.py`   | `ActiveIndex`: what a tick knows of each active run without reading it                          |
| `observe.py` | `Observer`: list filters, list walks, finished-state reads, filter fallbacks (`UnsupportedFilters`) |
| `record.py`  | whether and what to write for a run (`to_record`, `mutation`)                                    |
| `orphans.py` | `Orphans`: adopting or cancelling connector jobs no run holds (listing, stranded requests, sweep) |
| `outbox.py`  | `Outbox`: publishing the events written with each change, then removing them                    |
| `outputs.py` | `OutputsReads`: a tick's reads of Custom Jobs' outputs files, recorded with their final state  |

Each change is written to the run with an update-time precondition, so overlapping pollers and a racing cancel
record it once; its event goes to the run's outbox in the same write and is published after the write, then
removed. A tick's changes go in one commit (and the removal of their published events in one more), each run with
its own precondition; if another writer touched one of them, that commit is refused whole and its runs are written
one by one. A failed publish stays in the outbox for the next tick.
"""

from __future__ import annotations

from .observe import FINISHED_BATCH, LIST_PAGE_SIZE, UPDATE_TIME_MARGIN_SECONDS, UnsupportedFilters
from .service import PollService, parse_shard_message

__all__ = [
    "FINISHED_BATCH",
    "LIST_PAGE_SIZE",
    "UPDATE_TIME_MARGIN_SECONDS",
    "PollService",
    "UnsupportedFilters",
    "parse_shard_message",
]
