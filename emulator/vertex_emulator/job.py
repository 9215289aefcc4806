"""A stored job of any collection: the validated create body, its timeline, and its JSON as Vertex AI returns it.

States are computed from the job's timeline (segments of a scripted scenario) on read; what differs between
collections is its :class:`~.collection.Resource` (state enum, extra output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from .collection import Resource
from .ids import job_name
from .scenario import CANCEL_DELAY_S, Segment
from .schema import render, tidy_numbers
from .timeutil import format_timestamp


@dataclass(eq=False, slots=True)
class Job:
    resource: Resource
    seq: int  # creation order across the emulator (list order and page tokens)
    id: str
    project: str
    location: str
    message: Message  # the validated create body (output-only fields cleared), as the proto
    display_name: str
    labels: dict[str, str]
    create_us: int
    segments: list[Segment]
    filter_values: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    cancel_delay_s: float = CANCEL_DELAY_S
    awaiting_process: bool = False
    log_path: str | None = None
    static: dict[bool, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return job_name(self.project, self.location, self.resource.collection, self.id)

    @property
    def collection(self) -> str:
        return self.resource.collection

    def current(self, now: int) -> int:
        """Index of the segment in effect at ``now``."""
        index = len(self.segments) - 1
        while index > 0 and self.segments[index].start_us > now:
            index -= 1
        return index

    def state_at(self, now_us: int) -> str:
        return self.segments[self.current(now_us)].state

    def started_us(self, index: int) -> int | None:
        running = self.resource.state("RUNNING")
        return next((s.start_us for s in self.segments[: index + 1] if s.state == running), None)

    def update_us(self, now: int) -> int:
        return max(self.segments[self.current(now)].start_us, self.create_us)

    def end_us(self, now: int) -> int | None:
        segment = self.segments[self.current(now)]
        return segment.start_us if segment.state in self.resource.final_states else None

    def field_value(self, name: str, now: int) -> Any:
        """A value for list filters and ``orderBy``."""
        if name == "display_name":
            return self.display_name
        if name == "state":
            return self.state_at(now)
        if name == "create_time":
            return self.create_us
        if name == "update_time":
            return self.update_us(now)
        if name == "end_time":
            return self.end_us(now)
        if name == "start_time":
            return self.started_us(self.current(now))
        return self.filter_values.get(name)

    def replace_future(self, now: int, *new: Segment) -> None:
        """Drop what had not happened yet at ``now`` and continue with ``new``."""
        self.segments = [s for s in self.segments if s.start_us <= now] + list(new)

    def static_json(self, int_enums: bool) -> dict[str, Any]:
        """The stored create body in Google's JSON mapping (cached; callers must not change it)."""
        cached = self.static.get(int_enums)
        if cached is None:
            cached = tidy_numbers(render(self.message, int_enums))
            self.static[int_enums] = cached
        return cached

    def to_json(self, now: int, int_enums: bool, detail: bool = True) -> dict[str, Any]:
        """The resource as Vertex AI returns it (``detail``: GET; list omits GET-only fields such as jobDetail)."""
        index = self.current(now)
        segment = self.segments[index]
        out: dict[str, Any] = {"name": self.name, **self.static_json(int_enums)}
        out["state"] = self.resource.states[segment.state] if int_enums else segment.state
        out["createTime"] = format_timestamp(self.create_us)
        started = self.started_us(index)
        if started is not None:
            out["startTime"] = format_timestamp(started)
        if segment.state in self.resource.final_states:
            out["endTime"] = format_timestamp(segment.start_us)
        out["updateTime"] = format_timestamp(max(segment.start_us, self.create_us))
        if segment.error is not None:
            out["error"] = dict(segment.error)
        self.resource.decorate(self, out, index, now, int_enums, detail)
        return out
