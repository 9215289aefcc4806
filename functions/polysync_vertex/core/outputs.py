"""Output parameters of a Custom Job: where the job writes them, and what the connector makes of what it wrote.

The contract (README, "Output parameters of Custom Jobs"): with an outputs bucket configured, worker pool 0 (the
chief) of a Custom Job that declares Output or InputOutput parameters gets `POLYSYNC_OUTPUTS_PATH` (the object's
path under Vertex AI's Cloud Storage FUSE mount, `/gcs/<bucket>/...`) and `POLYSYNC_OUTPUTS_URI` (the same object as
`gs://...`). The job writes one JSON object `{name: value}` there before it exits; on a final state the poller reads
it once and `read()` below turns it into the run's `outputs`: every declared name, typed, and `_error` naming what
was wrong. Nothing here changes a run's status. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from . import states
from .errors import invalid
from .parameters import OUTPUT_DIRECTIONS, Parameter

ENV_PATH = "POLYSYNC_OUTPUTS_PATH"
ENV_URI = "POLYSYNC_OUTPUTS_URI"
FILE_NAME = "outputs.json"
DEFAULT_PREFIX = "polysync-outputs"
# Vertex AI custom training mounts Cloud Storage buckets at /gcs/<bucket> in every container (Cloud Storage FUSE):
# https://cloud.google.com/vertex-ai/docs/training/cloud-storage-file-system
FUSE_ROOT = "/gcs"
# The object the connector reads at most (larger: `_error`, nothing kept).
MAX_OBJECT_BYTES = 1024 * 1024
# Of what it reads, the run keeps at most this much (JSON text of the values): the run record holds its outputs and
# its terminal event holds them again, and a Firestore document holds at most 1 MiB
# (https://cloud.google.com/firestore/quotas#collections_documents_and_fields).
MAX_KEPT_BYTES = 256 * 1024
# An `_error` names at most this many parameters of one kind of fault, then says how many more.
MAX_NAMED = 10


@dataclass(frozen=True)
class Declared:
    """An Output or InputOutput parameter of a request: its type, and for InputOutput the value submitted."""

    name: str
    type: str
    direction: str
    value: Any = None

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "direction": self.direction, "value": self.value}

    @classmethod
    def from_record(cls, item: Mapping[str, Any]) -> Declared:
        return cls(
            str(item["name"]),
            str(item.get("type") or "String"),
            str(item.get("direction") or "Output"),
            item.get("value"),
        )


def declared(parameters: Iterable[Parameter]) -> tuple[Declared, ...]:
    """The request's Output and InputOutput parameters, in their order."""
    return tuple(
        Declared(p.name, p.type, p.direction, p.typed if p.direction == "InputOutput" else None)
        for p in parameters
        if p.direction in OUTPUT_DIRECTIONS
    )


@dataclass(frozen=True)
class Location:
    bucket: str
    object: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.object}"

    @property
    def path(self) -> str:
        return f"{FUSE_ROOT}/{self.bucket}/{self.object}"

    def env(self) -> list[dict[str, str]]:
        """The two environment variables of pool 0 (Vertex AI EnvVar JSON)."""
        return [{"name": ENV_PATH, "value": self.path}, {"name": ENV_URI, "value": self.uri}]


def add_outputs_env(job: dict[str, Any], where: Location, max_env: int) -> None:
    """Worker pool 0 (the chief) of a CustomJob (REST JSON) gets `where` as POLYSYNC_OUTPUTS_PATH / _URI; 400 when
    its container would then have more than `max_env` variables (Vertex AI's limit)."""
    pools: list[dict[str, Any]] = (job.get("jobSpec") or {}).get("workerPoolSpecs") or [{}]
    key = "pythonPackageSpec" if "pythonPackageSpec" in pools[0] else "containerSpec"
    spec: dict[str, Any] = pools[0].setdefault(key, {})
    env = [e for e in spec.get("env") or [] if e.get("name") not in (ENV_PATH, ENV_URI)]
    env.extend(where.env())
    if len(env) > max_env:
        raise invalid(
            f"worker pool 0 would have {len(env)} environment variables with the template's own, the parameters and "
            f"the connector's {ENV_PATH} and {ENV_URI}; Vertex AI allows {max_env} per container",
            "parameters",
        )
    spec["env"] = env


def location(bucket: str, prefix: str, key: str) -> Location:
    """`<prefix>/<request key>/outputs.json` in `bucket`: the same for every attempt and replay of a request."""
    parts = [p for p in prefix.strip("/").split("/") if p]
    return Location(bucket, "/".join([*parts, key, FILE_NAME]))


def parse_uri(uri: str) -> Location | None:
    """`gs://bucket/object` -> its Location; None for anything else."""
    if not uri.startswith("gs://"):
        return None
    bucket, _, name = uri[len("gs://") :].partition("/")
    return Location(bucket, name) if bucket and name else None


def _start(params: Iterable[Declared]) -> dict[str, Any]:
    """Every declared name: null, or an InputOutput's submitted value (kept unless the job writes another)."""
    return {p.name: p.value if p.direction == "InputOutput" else None for p in params}


def _names(label: str, names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
    return f"{label}: {shown}{more}"


def missing(params: Iterable[Declared], uri: str) -> dict[str, Any]:
    """The job wrote no object: each name null (InputOutput: its submitted value) and where the connector looked."""
    outputs = _start(params)
    outputs["_error"] = (
        f"no outputs object at {uri}: the job's chief replica (worker pool 0) did not write the file at "
        "POLYSYNC_OUTPUTS_PATH, could not write the bucket, or wrote another path"
    )
    return outputs


def unreadable(params: Iterable[Declared], uri: str, reason: str) -> dict[str, Any]:
    """Reading the object failed (after the retry the poller allows): each name as if nothing was written."""
    outputs = _start(params)
    outputs["_error"] = f"the outputs object at {uri} could not be read: {reason[:500]}"
    return outputs


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read(params: Iterable[Declared], data: bytes, uri: str) -> dict[str, Any]:
    """The run's `outputs` from the object's bytes (at most MAX_OBJECT_BYTES + 1 of them were read)."""
    params = tuple(params)
    outputs = _start(params)
    if len(data) > MAX_OBJECT_BYTES:
        outputs["_error"] = (
            f"the outputs object at {uri} is larger than {MAX_OBJECT_BYTES} bytes (1 MiB) and was ignored"
        )
        return outputs
    try:
        written = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        outputs["_error"] = f"the outputs object at {uri} is not valid UTF-8 JSON: {str(exc)[:200]}"
        return outputs
    if not isinstance(written, dict):
        outputs["_error"] = f"the outputs object at {uri} is not a JSON object ({{name: value}})"
        return outputs
    types = {p.name: p.type for p in params}
    undeclared = [name for name in written if name not in types]
    wrong: list[str] = []
    for name, ptype in types.items():
        if name not in written or written[name] is None:
            continue  # not written: null, or an InputOutput's submitted value
        value = typed(ptype, written[name])
        if value is _WRONG:
            wrong.append(f"{name} (not a {ptype})")
        else:
            outputs[name] = value
    errors = []
    if undeclared:
        errors.append(_names("undeclared names ignored", undeclared))
    if wrong:
        errors.append(_names("values of the wrong type ignored", wrong))
    dropped = _keep_within(outputs, params)
    if dropped:
        errors.append(_names(f"values dropped, the run keeps at most {MAX_KEPT_BYTES} bytes of outputs", dropped))
    if errors:
        outputs["_error"] = f"in the outputs object at {uri}: " + "; ".join(errors)
    return outputs


_WRONG = object()


def typed(ptype: str, value: Any) -> Any:
    """The value as the declared type takes it (whole-number floats as ints), or _WRONG."""
    if ptype == "Number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _WRONG
        if isinstance(value, float):
            if not math.isfinite(value):
                return _WRONG
            return int(value) if value.is_integer() and abs(value) < 2**53 else value
        return value
    if ptype == "Boolean":
        return value if isinstance(value, bool) else _WRONG
    if ptype == "JSON":
        return value if isinstance(value, dict | list) else _WRONG
    if not isinstance(value, str):
        return _WRONG
    try:
        if ptype == "Date":
            date.fromisoformat(value)
        elif ptype == "DateTime":
            datetime.fromisoformat(value)
    except ValueError:
        return _WRONG
    return value


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _keep_within(outputs: dict[str, Any], params: tuple[Declared, ...]) -> list[str]:
    """Drop the largest values (back to null / the submitted value) until the outputs fit MAX_KEPT_BYTES."""
    dropped: list[str] = []
    start = _start(params)
    while _size(outputs) > MAX_KEPT_BYTES:
        candidates = [n for n in outputs if n in start and outputs[n] is not start[n] and n not in dropped]
        if not candidates:
            for name in start:  # the submitted values alone are too large: keep names only
                outputs[name] = None
            break
        largest = max(candidates, key=lambda n: _size(outputs[n]))
        outputs[largest] = start[largest]
        dropped.append(largest)
    return dropped


# -- the poller's side: a run that ends -------------------------------------------------------------------------
# Polysync statuses whose outputs are read (a failed job's partial outputs are kept); others are not read.
READ_ON = ("Success", "Failed")


def pending(run: Mapping[str, Any]) -> bool:
    """The run's job writes an outputs file and the run has not recorded its outputs yet."""
    return bool(run.get("outputsFile")) and run.get("outputs") is None


def declared_of(run: Mapping[str, Any]) -> tuple[Declared, ...]:
    return tuple(Declared.from_record(p) for p in (run.get("outputsFile") or {}).get("parameters") or ())


def uri_of(run: Mapping[str, Any]) -> str:
    return str((run.get("outputsFile") or {}).get("uri") or "")


def due(run: Mapping[str, Any]) -> bool:
    """The run was recorded in a final state by a path that reads no objects (a cancel or a takeover that found its
    job ended, an adoption of an ended job): its outputs are still to be read. The poller reads them on its next
    pass over the run (services/poll/outputs.py) and holds the run's events until then, so the terminal event
    carries them."""
    state = str(run.get("vertexState") or "")
    return pending(run) and states.is_final(state) and state not in states.DELETED_STATES


def not_read(params: Iterable[Declared], status: str) -> dict[str, Any]:
    """A run that ended otherwise than Success or Failed: its object is not read."""
    outputs = _start(params)
    outputs["_error"] = f"outputs are read when a run ends Success or Failed; it ended {status}"
    return outputs
