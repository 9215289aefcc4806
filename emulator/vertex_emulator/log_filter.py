"""The Cloud Logging query language, the subset gcloud and google-cloud-logging send to ``entries.list``.

https://cloud.google.com/logging/docs/view/logging-query-language: comparisons ``= != > >= < <= : =~ !~`` on dotted
fields, ``AND``, ``OR``, ``NOT`` / ``-``, parentheses and implicit AND. In that language NOT binds tightest, then OR,
then AND (``a OR b AND c`` is ``(a OR b) AND c``). ``timestamp`` compares as a time, ``severity`` by level,
everything else as text; a bare value searches the whole entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .errors import invalid_argument
from .timeutil import parse_timestamp

SEVERITIES = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}

# -- parser ---------------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\()|(?P<rp>\))|
        (?P<op>>=|<=|!=|=~|!~|=|>|<|:)|
        (?P<str>"(?:[^"\\]|\\.)*")|
        (?P<word>[^\s()=<>!:"]+(?:"(?:[^"\\]|\\.)*"[^\s()=<>!:"]*)*)
    )""",  # a word may hold quoted segments: labels."ml.googleapis.com/job_state"
    re.VERBOSE,
)

Predicate = Callable[[dict[str, Any]], bool]


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise invalid_argument(f"Unparseable filter: syntax error at position {position}: {text[position:]!r}")
        position = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = json.loads(value) if "\\" in value else value[1:-1]
        tokens.append((kind, value))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise invalid_argument(f"Unparseable filter: unexpected end of {self.text!r}")
        self.i += 1
        return token

    def parse(self) -> Predicate:
        if not self.tokens:
            return lambda entry: True
        node = self.conjunction()
        if self.peek() is not None:
            raise invalid_argument(f"Unparseable filter: unexpected {self.peek()[1]!r} in {self.text!r}")  # type: ignore[index]
        return node

    def _is(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1] == word

    def conjunction(self) -> Predicate:  # AND binds loosest, also by juxtaposition
        parts = [self.disjunction()]
        while True:
            token = self.peek()
            if token is None or token[0] == "rp":
                break
            if self._is("AND"):
                self.i += 1
            parts.append(self.disjunction())
        return parts[0] if len(parts) == 1 else (lambda entry: all(p(entry) for p in parts))

    def disjunction(self) -> Predicate:
        parts = [self.negation()]
        while self._is("OR"):
            self.i += 1
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda entry: any(p(entry) for p in parts))

    def negation(self) -> Predicate:
        token = self.peek()
        if self._is("NOT") or (token is not None and token[0] == "word" and token[1] == "-"):
            self.i += 1
            inner = self.negation()
            return lambda entry: not inner(entry)
        if token is not None and token[0] == "word" and token[1].startswith("-") and len(token[1]) > 1:
            self.tokens[self.i] = ("word", token[1][1:])
            inner = self.negation()
            return lambda entry: not inner(entry)
        return self.primary()

    def primary(self) -> Predicate:
        kind, value = self.next()
        if kind == "lp":
            node = self.conjunction()
            if self.next()[0] != "rp":
                raise invalid_argument(f"Unparseable filter: missing ')' in {self.text!r}")
            return node
        if kind not in ("word", "str"):
            raise invalid_argument(f"Unparseable filter: unexpected {value!r} in {self.text!r}")
        token = self.peek()
        if token is None or token[0] != "op":
            text = value  # a bare value: a text search over the whole entry
            return lambda entry: text.lower() in json.dumps(entry, ensure_ascii=False).lower()
        op = self.next()[1]
        value_kind, operand = self.next()
        if value_kind not in ("word", "str"):
            raise invalid_argument(f"Unparseable filter: a value must follow {op!r} in {self.text!r}")
        return _comparison(value, op, operand)


def _field(entry: dict[str, Any], path: str) -> Any:
    node: Any = entry
    for part in _split_path(path):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _split_path(path: str) -> list[str]:
    # resource.labels."a.b" and labels.key are allowed; quoted segments keep their dots
    return [p.strip('"') for p in re.findall(r'"[^"]*"|[^.]+', path)]


def _comparison(path: str, op: str, operand: str) -> Predicate:
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(operand)
        except re.error as exc:
            raise invalid_argument(f"Invalid regular expression {operand!r}: {exc}") from None

        def regex(entry: dict[str, Any]) -> bool:
            value = _field(entry, path)
            found = value is not None and pattern.search(str(value)) is not None
            return found if op == "=~" else not found

        return regex
    key: Callable[[Any], Any]
    if path in ("timestamp", "receiveTimestamp"):
        try:
            wanted: Any = parse_timestamp(operand)
        except ValueError:
            raise invalid_argument(f"Invalid timestamp {operand!r} in filter: expected RFC 3339.") from None

        def key(value: Any) -> Any:
            return parse_timestamp(value)
    elif path == "severity":
        if operand.upper() not in SEVERITIES:
            raise invalid_argument(f"Invalid severity {operand!r} in filter.")
        wanted = SEVERITIES[operand.upper()]

        def key(value: Any) -> Any:
            return SEVERITIES.get(str(value), 0)
    else:
        wanted = operand

        def key(value: Any) -> Any:
            return value if isinstance(value, str) else json.dumps(value)

    def compare(entry: dict[str, Any]) -> bool:
        raw = _field(entry, path)
        if raw is None and path == "severity":
            raw = "DEFAULT"
        if raw is None:
            return op == "!="
        if op == ":":
            # `field:*` tests that the field is present ("Missing fields" in the query language reference; AIP-160
            # "has"), e.g. the hint sink's labels."ml.googleapis.com/job_state":* (infra/hints.tf).
            return wanted == "*" or str(wanted).lower() in str(raw).lower()
        value = key(raw)
        if op == "=":
            return bool(value == wanted)
        if op == "!=":
            return bool(value != wanted)
        if op == ">":
            return bool(value > wanted)
        if op == ">=":
            return bool(value >= wanted)
        if op == "<":
            return bool(value < wanted)
        return bool(value <= wanted)

    return compare


def parse_log_filter(text: str) -> Predicate:
    return _Parser(text or "").parse()
