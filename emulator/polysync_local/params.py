"""What the CLI's flags say in the contract's terms: `--param`, `--output`, `--attr`, `--job-type`, and hints for
the connector's answers (a type from the template's parameter schema, "did you mean", the job type an attribute
belongs to)."""

from __future__ import annotations

import argparse
import difflib
import json
import re
from typing import Any

PARAM_TYPES = {t.lower(): t for t in ("String", "Number", "Boolean", "Date", "DateTime", "JSON")}
TYPE_NAMES = ", ".join(PARAM_TYPES.values())
JOB_TYPES = {
    "custom": "Vertex AI Custom Job",
    "pipeline": "Vertex AI Pipeline Job",
    "batch": "Vertex AI Batch Prediction Job",
}
SHORT_TYPE = {v: k for k, v in JOB_TYPES.items()}
_INT = re.compile(r"^-?\d+$")
_WORD = re.compile(r"^[A-Za-z]+$")


class Param(dict[str, Any]):
    """A contract parameter; `explicit_type` says whether the flag named its type (else the template's schema
    may give it one)."""

    explicit_type: bool = True


def _type_suffix(name: str, value: str) -> tuple[str, str | None]:
    """Split a trailing `:Type` off `value`. A trailing word that looks like a type but names none (`:Numbr`,
    `:Integer`) is an error: a typo must not become part of the value. Other colons (URLs, times, `a:b`) are part
    of the value."""
    head, colon, tail = value.rpartition(":")
    if not colon:
        return value, None
    if tail.lower() in PARAM_TYPES:
        return head, PARAM_TYPES[tail.lower()]
    close = difflib.get_close_matches(tail.lower(), list(PARAM_TYPES), n=1, cutoff=0.7) if _WORD.match(tail) else []
    if close or (_WORD.match(tail) and tail[0].isupper()):  # looks like a type (types are capitalised)
        hint = f" (did you mean :{PARAM_TYPES[close[0]]}?)" if close else ""
        raise argparse.ArgumentTypeError(
            f"parameter {name}: unknown type ':{tail}'{hint}; types: {TYPE_NAMES}. If ':{tail}' is part of the "
            f"value, name the type: {name}={value}:String"
        )
    return value, None


def convert(name: str, value: str, ptype: str) -> Any:
    """The typed JSON value of `value` for a parameter of type `ptype`."""
    if ptype == "Number":
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"parameter {name}: {value!r} is not a number") from None
        return int(number) if _INT.match(value) else number
    if ptype == "Boolean":
        if value.lower() not in ("true", "false"):
            raise argparse.ArgumentTypeError(f"parameter {name}: Boolean must be true or false, got {value!r}")
        return value.lower() == "true"
    if ptype == "JSON":
        try:
            typed = json.loads(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"parameter {name}: {value!r} is not JSON ({exc})") from None
        if not isinstance(typed, dict | list):
            raise argparse.ArgumentTypeError(f"parameter {name}: JSON must be an object or an array, got {value!r}")
        return typed
    return value


def parse_param(text: str) -> dict[str, Any]:
    """NAME=VALUE[:Type] -> a contract parameter (direction Input). Type: String, Number, Boolean, Date, DateTime,
    JSON (any case); without one, String, unless the template's parameter schema declares another (`apply_schema`).
    Number becomes an int or a float, Boolean true/false, JSON the object or array it spells."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE[:Type], got {text!r}")
    value, ptype = _type_suffix(name, value)
    param = Param(name=name, direction="Input", type=ptype or "String", value=convert(name, value, ptype or "String"))
    param.explicit_type = ptype is not None
    return param


def parse_output(text: str) -> dict[str, Any]:
    """NAME[:Type] -> an Output parameter declaration (no value): the run reports it in `outputs` where its job
    type supports outputs; elsewhere the connector names it in `warnings`."""
    name, colon, tail = text.partition(":")
    if not name or (colon and tail.lower() not in PARAM_TYPES):
        raise argparse.ArgumentTypeError(f"expected NAME[:Type] with Type one of {TYPE_NAMES}, got {text!r}")
    param = Param(name=name, direction="Output", type=PARAM_TYPES[tail.lower()] if colon else "String")
    param.explicit_type = bool(colon)
    return param


def parse_attr(text: str) -> tuple[str, Any]:
    """KEY=VALUE: integers as ints, a JSON object or array as JSON (e.g. `inputConfig={...}`), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if value[:1] in ("{", "["):
        try:
            return key, json.loads(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"attribute {key}: {value!r} is not JSON ({exc})") from None
    return key, int(value) if _INT.match(value) else value


def parse_job_type(text: str) -> str:
    """custom | pipeline | batch, or the contract's full name -> the full name."""
    if text in SHORT_TYPE:
        return text
    full = JOB_TYPES.get(text.lower())
    if full is None:
        raise argparse.ArgumentTypeError(f"job type must be one of {', '.join(JOB_TYPES)} (or the full name)")
    return full


def apply_schema(params: list[dict[str, Any]], schema: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parameters whose flag named no type take the type the template declares (e.g. a pipeline's integer
    `epochs=10` becomes the Number 10)."""
    declared = {str(p.get("name")): str(p.get("type") or "String") for p in schema if isinstance(p, dict)}
    out = []
    for param in params:
        ptype = declared.get(param["name"])
        if isinstance(param, Param) and not param.explicit_type and ptype in PARAM_TYPES.values():
            typed = Param(param, type=ptype)
            if "value" in param:
                typed["value"] = convert(param["name"], str(param["value"]), ptype)
            param = typed
        out.append(dict(param))
    return out


def attribute_hint(message: str, field: str, job_type: str) -> str:
    """For a 400 on `attributes.X`: the supported name X was probably meant, or the job type X belongs to."""
    if not field.startswith("attributes."):
        return ""
    key = field.split(".", 1)[1]
    supported = message.split("supported: ", 1)[1].split(", ") if "supported: " in message else []
    hints = []
    close = difflib.get_close_matches(key, supported, n=1, cutoff=0.6)
    if close:
        hints.append(f"did you mean --attr {close[0]}=...?")
    try:
        from polysync_vertex.core.kinds import KINDS
    except ImportError:  # pragma: no cover - the CLI ships with the connector's core
        KINDS = ()
    owners = [k.job_type for k in KINDS if key in k.attributes and k.job_type != job_type]
    if owners and key not in supported:
        hints.append(f"'{key}' is an attribute of {' / '.join(owners)}: add --job-type {SHORT_TYPE[owners[0]]}")
    return "; ".join(hints)
