"""The jobs of one collection in one ``projects/P/locations/L``, with the label index list filters use."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field

from .job import Job


@dataclass
class ParentIndex:
    """Jobs of one collection in one ``projects/P/locations/L``: creation sequence ascending, and by id."""

    seqs: list[int] = field(default_factory=list)
    jobs: dict[int, Job] = field(default_factory=dict)
    by_id: dict[str, Job] = field(default_factory=dict)
    # label key -> value -> creation sequences: a list filtered by label equalities (the connector's shard and
    # request labels) looks at the jobs carrying them only, instead of every job of the parent on every page.
    by_label: dict[str, dict[str, set[int]]] = field(default_factory=dict)

    def add(self, job: Job) -> None:
        self.seqs.append(job.seq)
        self.jobs[job.seq] = job
        self.by_id[job.id] = job
        for key, value in job.labels.items():
            self.by_label.setdefault(key, {}).setdefault(value, set()).add(job.seq)

    def remove(self, job: Job) -> None:
        del self.jobs[job.seq]
        del self.by_id[job.id]
        del self.seqs[bisect.bisect_left(self.seqs, job.seq)]
        for key, value in job.labels.items():
            self.by_label.get(key, {}).get(value, set()).discard(job.seq)

    def candidates(self, choices: list[tuple[str, frozenset[str]]]) -> list[int] | None:
        """Creation sequences, ascending, of the jobs whose label `key` has one of `values`, for the (key, values)
        of `choices` that selects the fewest jobs; None without a choice (every job is a candidate)."""
        if not choices:
            return None

        def size(choice: tuple[str, frozenset[str]]) -> int:  # a job has one value per key: the sets are disjoint
            by_value = self.by_label.get(choice[0], {})
            return sum(len(by_value.get(value, ())) for value in choice[1])

        key, values = min(choices, key=size)
        by_value = self.by_label.get(key, {})
        best: set[int] = set()
        for value in values:
            best |= by_value.get(value, set())
        return sorted(best)

    def ordered(
        self,
        order: list[tuple[str, bool]],
        newest_first: bool,
        after: list[int] | None,
        now: int,
        candidates: list[int] | None = None,
    ) -> Iterator[tuple[Job, list[int]]]:
        """Jobs in list order after the page token's position, each with its sort key; only `candidates`
        (ascending creation sequences) when given."""
        if not order:
            seqs = self.seqs if candidates is None else candidates
            if newest_first:
                stop = bisect.bisect_left(seqs, -after[0]) if after else len(seqs)
                for position in range(stop - 1, -1, -1):
                    yield self.jobs[seqs[position]], [-seqs[position]]
            else:
                start = bisect.bisect_right(seqs, after[0]) if after else 0
                for position in range(start, len(seqs)):
                    yield self.jobs[seqs[position]], [seqs[position]]
            return
        keyed: list[tuple[list[int], Job]] = []
        for job in self.jobs.values() if candidates is None else (self.jobs[seq] for seq in candidates):
            key: list[int] = []
            for name, descending in order:
                value = job.field_value(name, now)
                number = -1 if value is None else int(value)  # unset times sort first
                key.append(-number if descending else number)
            key.append(-job.seq if newest_first else job.seq)
            if after is None or key > after:
                keyed.append((key, job))
        keyed.sort(key=lambda item: item[0])
        for key, job in keyed:
            yield job, key
