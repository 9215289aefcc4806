"""Vertex AI list filters: AIP-160 (https://google.aip.dev/160), the subset the v1 reference lists per collection.

Grammar (AIP-160: ``OR`` binds tighter than ``AND``; juxtaposition is ``AND``)::

    filter      := [expression] EOF
    expression  := sequence ("AND" sequence)*
    sequence    := factor (factor)*                  -- implicit AND
    factor      := term ("OR" term)*
    term        := ("NOT" | "-") term | simple
    simple      := "(" expression ")" | restriction
    restriction := field op value | "labels" ":" key
    field       := name ("." (name | string))*
    op          := "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
    value       := string | bare-word                (bare words run to whitespace or a parenthesis)

So ``a AND b OR c`` is ``a AND (b OR c)`` and ``a b OR c`` is ``a AND (b OR c)``.

Field kinds (which fields a collection offers is its resource definition's ``filter_fields``):

* ``text`` (``display_name``, ``template_uri``): ``=``, ``!=``, and ``:`` with ``*`` wildcards;
* ``exact`` (``pipeline_name``, ``model_display_name``): ``=``, ``!=``;
* ``state``: ``=``, ``!=`` with a state name of the collection's enum;
* ``time`` (``create_time``, ``update_time``, ``end_time``): every comparison, RFC 3339 values; a time that is
  not set (``end_time`` of a running job) matches only ``!=``;
* ``labels.KEY``: ``=``, ``!=``, ``:`` (``labels.KEY:*`` or ``labels:KEY``: the label exists; ``labels.KEY:"p*"``).

An OR of equalities on one field (``labels.k="a" OR labels.k="b" ...``) is evaluated as one set lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ApiError, invalid_argument
from .timeutil import parse_timestamp

_MAX_DEPTH = 64
_NAME_CHARS = re.compile(r"[A-Za-z0-9_\-]")
_OPS = ("!=", "<=", ">=", "=", "<", ">", ":")
_KEYWORDS = ("AND", "OR", "NOT")
KIND_OPS = {
    "text": ("=", "!=", ":"),
    "exact": ("=", "!="),
    "state": ("=", "!="),
    "time": ("=", "!=", "<", "<=", ">", ">="),
}


class FilterTarget(Protocol):
    labels: dict[str, str]

    def field_value(self, field: str, now_us: int) -> Any: ...


class Node(Protocol):
    def matches(self, job: FilterTarget, now_us: int) -> bool: ...


@dataclass(frozen=True)
class MatchAll:
    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return True


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return all(part.matches(job, now_us) for part in self.parts)


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return any(part.matches(job, now_us) for part in self.parts)


@dataclass(frozen=True)
class Not:
    inner: Node

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return not self.inner.matches(job, now_us)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$", re.DOTALL)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Compare:
    """``field op value`` on a text, exact, state or time field (value: str, or microseconds for times)."""

    field: str
    op: str
    value: Any
    pattern: re.Pattern[str] | None = None

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        actual = job.field_value(self.field, now_us)
        if self.pattern is not None:
            return actual is not None and self.pattern.match(actual) is not None
        if actual is None:
            return self.op == "!="
        return _COMPARE[self.op](actual, self.value)


@dataclass(frozen=True)
class FieldIn:
    """An OR of ``field="v"`` equalities."""

    field: str
    values: frozenset[Any]

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return job.field_value(self.field, now_us) in self.values


@dataclass(frozen=True)
class Label:
    key: str
    op: str
    value: str

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        actual = job.labels.get(self.key)
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        if actual is None:
            return False
        return self.value == "*" or _glob(self.value).match(actual) is not None


@dataclass(frozen=True)
class LabelIn:
    """An OR of ``labels.KEY="v"`` equalities."""

    key: str
    values: frozenset[str]

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return job.labels.get(self.key) in self.values


def label_candidates(node: Node) -> list[tuple[str, frozenset[str]]]:
    """Each (key, values) such that every job the filter matches carries ``labels.key`` with one of ``values`` (a
    label equality, an OR of them, or the parts of an AND): the store then looks only at the jobs of the one that
    selects the fewest."""
    if isinstance(node, LabelIn):
        return [(node.key, node.values)]
    if isinstance(node, Label) and node.op == "=":
        return [(node.key, frozenset({node.value}))]
    if isinstance(node, And):
        return [c for part in node.parts for c in label_candidates(part)]
    return []


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, str], states: frozenset[str], example: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.fields = dict(fields)
        self.aliases = {**{_camel(name): name for name in fields}, **{name: name for name in fields}}
        self.states = states
        self.example = example

    # -- scanning ---------------------------------------------------------------------------------
    def error(self, what: str) -> ApiError:
        shown = self.text if len(self.text) <= 300 else self.text[:300] + "..."
        return invalid_argument(f"Invalid filter {shown!r}: {what} at position {self.pos}. Example: {self.example}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def keyword(self, word: str) -> bool:
        """Consume keyword ``word`` if it is next (it must end at a word boundary)."""
        self.skip_ws()
        end = self.pos + len(word)
        if self.text[self.pos : end] != word:
            return False
        if end < len(self.text) and not (self.text[end].isspace() or self.text[end] in '()-"'):
            return False
        self.pos = end
        return True

    def starts_keyword(self, word: str) -> bool:
        saved = self.pos
        found = self.keyword(word)
        self.pos = saved
        return found

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif ch == quote:
                return "".join(out)
            else:
                out.append(ch)
        raise self.error("unterminated string")

    def name(self) -> str:
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and _NAME_CHARS.match(self.text[self.pos]):
            self.pos += 1
        if start == self.pos:
            raise self.error("expected a field name")
        return self.text[start : self.pos]

    def operator(self) -> str:
        self.skip_ws()
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        raise self.error("expected a comparison operator (=, !=, <, <=, >, >=, :)")

    def value(self) -> str:
        self.skip_ws()
        if self.pos >= len(self.text):
            raise self.error("expected a value")
        if self.text[self.pos] in "\"'":
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and not self.text[self.pos].isspace() and self.text[self.pos] not in "()":
            self.pos += 1
        if start == self.pos:
            raise self.error("expected a value")
        return self.text[start : self.pos]

    # -- grammar ----------------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.at_end():
            return MatchAll()
        node = self.expression()
        if not self.at_end():
            raise self.error(f"unexpected {self.text[self.pos : self.pos + 20]!r}")
        return node

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("filter nested too deeply")
        parts = [self.sequence()]
        while self.keyword("AND"):
            parts.append(self.sequence())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def sequence(self) -> Node:
        parts = [self.factor()]
        while True:
            nxt = self.peek()
            if nxt in ("", ")") or self.starts_keyword("AND") or self.starts_keyword("OR"):
                break
            parts.append(self.factor())  # juxtaposition: implicit AND
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self) -> Node:
        terms = [self.term()]
        while self.keyword("OR"):
            terms.append(self.term())
        if len(terms) == 1:
            return terms[0]
        return _merge_equalities(terms)

    def term(self) -> Node:
        if self.keyword("NOT"):
            return Not(self.term())
        if self.peek() == "-":
            self.pos += 1
            return Not(self.term())
        return self.simple()

    def simple(self) -> Node:
        nxt = self.peek()
        if nxt == "(":
            self.pos += 1
            node = self.expression()
            if self.peek() != ")":
                raise self.error("expected ')'")
            self.pos += 1
            return node
        if nxt == "" or nxt == ")":
            raise self.error('expected a comparison such as display_name="x"')
        for word in _KEYWORDS:
            if self.starts_keyword(word):
                raise self.error(f"unexpected {word}")
        return self.restriction()

    def restriction(self) -> Node:
        start = self.pos
        parts = [self.name()]
        while self.pos < len(self.text) and self.text[self.pos] == ".":
            self.pos += 1
            parts.append(self.name())
        op = self.operator()
        value = self.value()
        return self.field_node(parts, op, value, start)

    def field_node(self, parts: list[str], op: str, value: str, start: int) -> Node:
        field = ".".join(parts)

        def fail(what: str) -> ApiError:
            self.pos = start
            return self.error(what)

        if parts[0] == "labels":
            if len(parts) == 2:
                return Label(parts[1], op, value)
            if len(parts) == 1 and op == ":":
                return Label(value, ":", "*")
            raise fail(f"unsupported field {field!r}: use labels.KEY")
        canonical = self.aliases.get(field) if len(parts) == 1 else None
        if canonical is None:
            supported = ", ".join([*self.fields, "labels.KEY"])
            raise fail(f"unsupported field {field!r} (supported: {supported})")
        kind = self.fields[canonical]
        if op not in KIND_OPS[kind]:
            raise fail(f"operator {op!r} is not supported for field {field!r}")
        if kind == "state":
            if value not in self.states:
                example = sorted(self.states)[0]
                raise fail(f"unknown state {value!r}; use a name like {example}")
            return Compare(canonical, op, value)
        if kind == "time":
            try:
                return Compare(canonical, op, parse_timestamp(value))
            except ValueError:
                raise fail(f"{canonical} needs an RFC 3339 timestamp, got {value!r}") from None
        if op == ":":
            return Compare(canonical, op, value, _glob(value))
        return Compare(canonical, op, value)


def _merge_equalities(terms: list[Node]) -> Node:
    """``f="a" OR f="b" OR ...`` as one set lookup (a long OR of request keys stays O(1) per job)."""
    first = terms[0]
    if isinstance(first, Label) and first.op == "=":
        if all(isinstance(t, Label) and t.op == "=" and t.key == first.key for t in terms):
            return LabelIn(first.key, frozenset(t.value for t in terms))  # type: ignore[attr-defined]
    if isinstance(first, Compare) and first.op == "=" and first.pattern is None:
        if all(isinstance(t, Compare) and t.op == "=" and t.pattern is None and t.field == first.field for t in terms):
            return FieldIn(first.field, frozenset(t.value for t in terms))  # type: ignore[attr-defined]
    return Or(tuple(terms))


def parse_filter(text: str, fields: Mapping[str, str], states: frozenset[str], example: str) -> Node:
    """Parse a filter over ``fields`` (``{name: kind}``) whose ``state`` values are ``states``; INVALID_ARGUMENT
    :class:`ApiError` (showing ``example``) if it is not one."""
    return _Parser(text, fields, states, example).parse()
