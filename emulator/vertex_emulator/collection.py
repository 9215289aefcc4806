"""The definition of one job collection (:class:`Resource`) and of a validated create request (:class:`Prepared`).

The store, the lifecycle, list/paging, cancel/delete, the admin API and fault injection are generic; what differs
between ``customJobs``, ``pipelineJobs`` and ``batchPredictionJobs`` is a :class:`Resource` (in
:mod:`.custom_jobs`, :mod:`.pipeline_jobs`, :mod:`.batch_prediction_jobs`; all of them in :mod:`.resources`). The
message types are those of ``google.cloud.aiplatform_v1`` (schema source, see :mod:`.schema`); the filterable fields
and ``orderBy`` fields are those the v1 REST reference lists for each collection's ``list`` method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.message import Message

from .errors import invalid_argument
from .scenario import SCENARIO_ENV, Segment, Step, parse_scenario


class JobView(Protocol):
    """What a collection's hooks read of a stored job (:class:`.job.Job` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def project(self) -> str: ...

    @property
    def location(self) -> str: ...

    @property
    def create_us(self) -> int: ...

    @property
    def segments(self) -> list[Segment]: ...

    @property
    def filter_values(self) -> dict[str, Any]: ...

    @property
    def extra(self) -> dict[str, Any]: ...

    def started_us(self, index: int) -> int | None: ...


@dataclass
class Prepared:
    """A validated create request: the message to store and what drives its lifecycle."""

    message: Message
    display_name: str
    labels: dict[str, str]
    scenario: list[Step]
    timeout_s: float | None = None
    timeout_text: str = ""
    cancel_delay_s: float | None = None
    filter_values: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


# decorate(job, resource JSON, index of the segment in effect, now, int enums, detail (GET) or list view)
Decorate = Callable[[JobView, dict[str, Any], int, int, bool, bool], None]


@dataclass(frozen=True, eq=False)
class Resource:
    collection: str  # URL segment, e.g. "customJobs"
    kind: str  # message name, e.g. "CustomJob"
    root: str  # request field in error paths, e.g. "custom_job"
    message_class: type[Message]
    state_prefix: str  # "JOB_STATE_" or "PIPELINE_STATE_"
    states: dict[str, int]
    final_states: frozenset[str]
    default_scenario: str
    numeric_ids: bool
    filter_fields: dict[str, str]
    filter_example: str
    prepare: Callable[[Any, str, str], Prepared]
    decorate: Decorate
    state_error: Callable[[str, str, str], dict[str, Any] | None]
    order_fields: tuple[str, ...] = ()
    newest_first: bool = False  # the default list order
    runs_locally: bool = False  # --execute runs the job's container command (CustomJobs)
    detail_fields: frozenset[str] = frozenset()  # JSON fields of GET only, in a list only when its readMask asks
    list_never: tuple[tuple[str, ...], ...] = ()  # JSON paths never in a list, whatever its readMask

    @property
    def state_names(self) -> frozenset[str]:
        return frozenset(self.states)

    @property
    def list_field(self) -> str:
        return self.collection

    def method(self, verb: str) -> str:
        return f"{verb}{self.kind}s" if verb == "List" else f"{verb}{self.kind}"

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.method(v) for v in ("Create", "Get", "List", "Cancel", "Delete"))

    def state(self, short: str) -> str:
        return self.state_prefix + short

    def state_name(self, value: str) -> str:
        """``RUNNING``, ``running`` or ``JOB_STATE_RUNNING`` -> the full name (ValueError if unknown)."""
        text = value.strip().upper()
        full = text if text.startswith(self.state_prefix) else self.state_prefix + text
        if full not in self.states:
            raise ValueError(f"unknown job state {value!r} (a {self.kind} state is one of {self.state_prefix}*)")
        return full

    def scenario(self, text: str, where: str) -> list[Step]:
        try:
            return parse_scenario(text, self)
        except ValueError as exc:
            raise invalid_argument(f"Invalid {SCENARIO_ENV} in {where}: {exc}.") from None


def time_fields(*extra: str) -> dict[str, str]:
    """Filterable fields (name -> filter kind, see :mod:`.filters`): the common ones plus ``extra``."""
    fields = {"display_name": "text", "state": "state", "create_time": "time", "update_time": "time"}
    for name in extra:
        fields[name] = {"end_time": "time", "template_uri": "text"}.get(name, "exact")
    return fields
