"""Vertex AI list filters (a subset of AIP-160) for CustomJobs: a scanner and a recursive-descent parser.

Grammar (``AND`` binds tighter than ``OR``; juxtaposition means ``AND``)::

    filter     := [expr] EOF
    expr       := and_expr ("OR" and_expr)*
    and_expr   := unary (["AND"] unary)*
    unary      := ("NOT" | "-") unary | primary
    primary    := "(" expr ")" | comparison
    comparison := field op value
    field      := name ("." (name | string))*
    op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
    value      := string | bare-word          (bare words run to whitespace or ")")

Fields: ``display_name``/``displayName`` (``=``, ``!=``, ``:`` with ``*`` wildcards), ``state`` (``=``,
``!=``), ``create_time``/``createTime`` (all comparisons, RFC 3339), ``labels.KEY`` (``=``, ``!=``,
``:`` where ``labels.KEY:*`` tests that the label exists).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .enums import JOB_STATES
from .errors import ApiError, invalid_argument
from .timeutil import parse_timestamp

_MAX_DEPTH = 64
_NAME_CHARS = re.compile(r"[A-Za-z0-9_\-]")
_OPS = ("!=", "<=", ">=", "=", "<", ">", ":")
_KEYWORDS = ("AND", "OR", "NOT")


class FilterTarget(Protocol):
    display_name: str
    labels: dict[str, str]
    create_us: int

    def state_at(self, now_us: int) -> str: ...


class Node(Protocol):
    def matches(self, job: FilterTarget, now_us: int) -> bool: ...


@dataclass(frozen=True)
class MatchAll:
    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return True


@dataclass(frozen=True)
class And:
    left: Node
    right: Node

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return self.left.matches(job, now_us) and self.right.matches(job, now_us)


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return self.left.matches(job, now_us) or self.right.matches(job, now_us)


@dataclass(frozen=True)
class Not:
    inner: Node

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return not self.inner.matches(job, now_us)


def _glob(pattern: str) -> Callable[[str], bool]:
    regex = re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$", re.DOTALL)
    return lambda text: regex.match(text) is not None


@dataclass(frozen=True)
class DisplayName:
    op: str
    value: str

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        if self.op == "=":
            return job.display_name == self.value
        if self.op == "!=":
            return job.display_name != self.value
        return _glob(self.value)(job.display_name)


@dataclass(frozen=True)
class State:
    op: str
    value: str

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        equal = job.state_at(now_us) == self.value
        return equal if self.op == "=" else not equal


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class CreateTime:
    op: str
    value_us: int

    def matches(self, job: FilterTarget, now_us: int) -> bool:
        return _COMPARE[self.op](job.create_us, self.value_us)


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
        return self.value == "*" or _glob(self.value)(actual)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- scanning ---------------------------------------------------------------------------------
    def error(self, what: str) -> ApiError:
        return invalid_argument(
            f"Invalid filter {self.text!r}: {what} at position {self.pos}. "
            'Example: state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*"'
        )

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
        node = self.expr()
        if not self.at_end():
            raise self.error(f"unexpected {self.text[self.pos : self.pos + 20]!r}")
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("filter nested too deeply")
        node = self.and_expr()
        while self.keyword("OR"):
            node = Or(node, self.and_expr())
        self.depth -= 1
        return node

    def and_expr(self) -> Node:
        node = self.unary()
        while True:
            if self.keyword("AND"):
                node = And(node, self.unary())
                continue
            nxt = self.peek()
            if nxt in ("", ")") or self.starts_keyword("OR"):
                return node
            node = And(node, self.unary())  # implicit AND

    def starts_keyword(self, word: str) -> bool:
        saved = self.pos
        found = self.keyword(word)
        self.pos = saved
        return found

    def unary(self) -> Node:
        if self.keyword("NOT"):
            return Not(self.unary())
        if self.peek() == "-":
            self.pos += 1
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        nxt = self.peek()
        if nxt == "(":
            self.pos += 1
            node = self.expr()
            if self.peek() != ")":
                raise self.error("expected ')'")
            self.pos += 1
            return node
        if nxt == "" or nxt == ")":
            raise self.error('expected a comparison such as display_name="x"')
        for word in _KEYWORDS:
            if self.starts_keyword(word):
                raise self.error(f"unexpected {word}")
        return self.comparison()

    def comparison(self) -> Node:
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

        def unsupported() -> ApiError:
            self.pos = start
            return self.error(f"operator {op!r} is not supported for field {field!r}")

        head = parts[0]
        if len(parts) == 1 and head in ("display_name", "displayName"):
            if op not in ("=", "!=", ":"):
                raise unsupported()
            return DisplayName(op, value)
        if len(parts) == 1 and head == "state":
            if op not in ("=", "!="):
                raise unsupported()
            if value not in JOB_STATES:
                self.pos = start
                raise self.error(f"unknown state {value!r}; use a name like JOB_STATE_SUCCEEDED")
            return State(op, value)
        if len(parts) == 1 and head in ("create_time", "createTime"):
            if op == ":":
                raise unsupported()
            try:
                return CreateTime(op, parse_timestamp(value))
            except ValueError:
                self.pos = start
                raise self.error(f"create_time needs an RFC 3339 timestamp, got {value!r}") from None
        if len(parts) == 2 and head == "labels":
            return Label(parts[1], op, value)
        self.pos = start
        raise self.error(f"unsupported field {field!r} (supported: display_name, state, create_time, labels.KEY)")


def parse_filter(text: str) -> Node:
    """Parse a filter; ``INVALID_ARGUMENT`` :class:`ApiError` when it cannot be parsed."""
    return _Parser(text).parse()
