"""Polysync parameters of a submit: names, directions, types, and their values as text and as typed JSON.

Pure: no I/O. A Custom Job takes a parameter's value as text (an environment variable); Pipeline and Batch
Prediction Jobs take it as typed JSON. Errors name the JSON path at fault.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import storable
from .errors import invalid

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}\Z")
DIRECTIONS = ("Input", "InputOutput", "Output")
TYPES = ("String", "Number", "Boolean", "Date", "DateTime", "JSON")
# The directions whose values a run reports back when the job type supports outputs.
OUTPUT_DIRECTIONS = ("Output", "InputOutput")
# A JSON value nests at most this deep: a value that comes back as an output sits two levels down in the run record
# (`outputs.<name>`), within Firestore's 20 (core/storable.py).
MAX_JSON_DEPTH = storable.MAX_DEPTH - 2
# Ignored Output parameters named one per warning; past this, one more line counts the rest. The warnings are in the
# record, every response and every event: they must not grow with the request.
MAX_WARNED = 10


@dataclass(frozen=True)
class Parameter:
    name: str
    direction: str
    type: str
    value: str | None  # the value as text (a Custom Job's env var value); None for Output parameters
    typed: Any = field(
        default=None, compare=False
    )  # the value as typed JSON (Number -> int/float, Boolean -> bool, JSON -> object/array)


def format_number(value: Any, path: str) -> str:
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise invalid("Number parameter value is not a number", path) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid("Number parameter value must be a number", path)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise invalid("Number parameter value must be finite", path)
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def typed_value(ptype: str, value: Any, path: str) -> Any:
    """The parameter's value as typed JSON, normalised: the same value however it was spelled
    (Number 3, 3.0 and "3" are all 3; Boolean "TRUE" is true)."""
    if value is None:
        raise invalid("value is required for Input and InputOutput parameters", path)
    if ptype == "Number":
        text = format_number(value, path)
        number = float(text)
        return int(text) if number.is_integer() and "e" not in text and "." not in text else number
    if ptype == "Boolean":
        return format_value("Boolean", value, path) == "true"
    if ptype == "JSON":
        if not isinstance(value, dict | list):
            raise invalid("JSON parameter value must be a JSON object or array", path)
        return value
    return format_value(ptype, value, path)


def format_value(ptype: str, value: Any, path: str) -> str:
    if value is None:
        raise invalid("value is required for Input and InputOutput parameters", path)
    if ptype == "Number":
        return format_number(value, path)
    if ptype == "Boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower()
        raise invalid("Boolean parameter value must be true or false", path)
    if ptype == "JSON":
        if not isinstance(value, dict | list):
            raise invalid("JSON parameter value must be a JSON object or array", path)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not isinstance(value, str):
        raise invalid(f"{ptype} parameter value must be a string", path)
    if ptype == "Date":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise invalid("Date parameter value must be an ISO 8601 date (YYYY-MM-DD)", path) from None
    if ptype == "DateTime":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise invalid("DateTime parameter value must be ISO 8601 (e.g. 2026-11-22T08:15:00Z)", path) from None
        return value
    if len(value) > 32768:
        raise invalid("String parameter value is longer than 32768 characters", path)
    return value


def parse_parameters(
    raw: Any,
    *,
    outputs_supported: bool = False,
    name_pattern: re.Pattern[str] = ENV_NAME_RE,
    name_rule: str = "a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
) -> tuple[tuple[Parameter, ...], tuple[str, ...]]:
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        raise invalid("parameters must be an array", "parameters")
    params: list[Parameter] = []
    ignored: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"parameters[{i}]"
        if not isinstance(item, dict):
            raise invalid("each parameter must be an object", path)
        name = item.get("name")
        if not isinstance(name, str) or not name_pattern.match(name):
            raise invalid(f"parameter name '{str(name)[:64]}' is not {name_rule}", f"{path}.name")
        if name in seen:
            raise invalid(f"parameter {name} is given more than once", f"{path}.name")
        seen.add(name)
        direction = item.get("direction", "Input")
        if direction not in DIRECTIONS:
            raise invalid(f"parameter {name}: direction must be one of {', '.join(DIRECTIONS)}", f"{path}.direction")
        ptype = item.get("type", "String")
        if ptype not in TYPES:
            raise invalid(f"parameter {name}: type must be one of {', '.join(TYPES)}", f"{path}.type")
        if direction in OUTPUT_DIRECTIONS and storable.is_reserved(name):
            raise invalid(
                f"parameter name {name} is reserved: a run reports its {direction} parameters by name and the run "
                "store (Firestore) reserves names of the form __x__; rename it",
                f"{path}.name",
            )
        if direction == "Output":
            if not outputs_supported:
                ignored.append(name)
            params.append(Parameter(name, direction, ptype, None))
            continue
        value = item.get("value")
        text = format_value(ptype, value, f"{path}.value")
        if ptype == "JSON" and storable.depth(value) > MAX_JSON_DEPTH:
            raise invalid(
                f"parameter {name}: the JSON value nests deeper than {MAX_JSON_DEPTH} levels, more than a run can "
                "record (Firestore nests at most 20)",
                f"{path}.value",
            )
        params.append(Parameter(name, direction, ptype, text, typed_value(ptype, value, f"{path}.value")))
    return tuple(params), ignored_warnings(ignored)


def ignored_warnings(names: list[str]) -> tuple[str, ...]:
    """One warning per ignored Output parameter, for the first `MAX_WARNED`; one line for the rest."""
    warnings = [f"parameter {name} (Output) is not supported and was ignored" for name in names[:MAX_WARNED]]
    if len(names) > MAX_WARNED:
        warnings.append(f"{len(names) - MAX_WARNED} more Output parameters are not supported and were ignored")
    return tuple(warnings)


def output_names(parameters: tuple[Parameter, ...]) -> tuple[str, ...]:
    """The names of the parameters whose final values a run may report (Output and InputOutput)."""
    return tuple(p.name for p in parameters if p.direction in OUTPUT_DIRECTIONS)
