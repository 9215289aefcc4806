"""Fault injection: errors and latency for a share of calls, or for the next N calls, of chosen methods."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, invalid_argument, status_for_http
from .resources import api_methods

# Method names the emulator serves (Create/Get/List/Cancel/Delete per collection, GetOperation, and the APIs around
# Vertex AI of apis.py), for call counters and faults.
API_METHODS: tuple[str, ...] = api_methods() + (
    "ListLogEntries",
    "TestIamPermissions",
    "ListOperations",
    "WaitOperation",
)


def known_methods() -> tuple[str, ...]:
    return API_METHODS


@dataclass
class Fault:
    id: int
    method: str
    http_status: int
    status: str
    message: str
    ratio: float | None
    count: int | None
    latency_ms: float
    seed: int | None
    rng: random.Random = field(repr=False)
    hits: int = 0

    def applies_to(self, method: str) -> bool:
        return self.method in ("*", method) and (self.count is None or self.count > 0)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "method": self.method,
            "httpStatus": self.http_status,
            "latencyMs": self.latency_ms,
            "hits": self.hits,
        }
        if self.http_status:
            out["status"] = self.status
            out["message"] = self.message
        if self.ratio is not None:
            out["ratio"] = self.ratio
        if self.count is not None:
            out["remaining"] = self.count
        if self.seed is not None:
            out["seed"] = self.seed
        return out


@dataclass(frozen=True)
class Decision:
    """What to do to one call: wait ``latency_s``, then fail with ``error`` (if any)."""

    latency_s: float = 0.0
    error: ApiError | None = None


def _number(spec: dict[str, Any], key: str, default: float | None) -> float | None:
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_argument(f"fault field {key!r} must be a number, got {value!r}")
    return float(value)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise invalid_argument("a fault must be a JSON object")
        method = spec.get("method", "*")
        if method != "*" and method not in known_methods():
            raise invalid_argument(f"unknown method {method!r}; use '*' or one of {', '.join(known_methods())}")
        http_status = int(_number(spec, "httpStatus", 0) or 0)
        if http_status and not 400 <= http_status <= 599:
            raise invalid_argument("httpStatus must be an HTTP error status (400-599), or 0 for latency only")
        ratio = _number(spec, "ratio", None)
        if ratio is not None and not 0.0 <= ratio <= 1.0:
            raise invalid_argument("ratio must be between 0 and 1")
        count_value = _number(spec, "count", None)
        count = int(count_value) if count_value is not None else None
        if count is not None and count < 0:
            raise invalid_argument("count must not be negative")
        latency_ms = _number(spec, "latencyMs", 0.0) or 0.0
        if latency_ms < 0:
            raise invalid_argument("latencyMs must not be negative")
        if not http_status and not latency_ms:
            raise invalid_argument("a fault needs an httpStatus (400-599) or a latencyMs, or both")
        seed_value = spec.get("seed")
        if seed_value is not None and (isinstance(seed_value, bool) or not isinstance(seed_value, int)):
            raise invalid_argument("seed must be an integer")
        status = spec.get("status") or status_for_http(http_status)
        message = spec.get("message") or f"Injected fault: {status} ({http_status})."
        with self._lock:
            fault = Fault(
                id=self._next_id,
                method=method,
                http_status=http_status,
                status=str(status),
                message=str(message),
                ratio=ratio,
                count=count,
                latency_ms=latency_ms,
                seed=seed_value,
                rng=random.Random(seed_value),
            )
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def decide(self, method: str) -> Decision:
        """Pick the fault for one call: the first registered fault that applies and fires."""
        with self._lock:
            for fault in self._faults:
                if not fault.applies_to(method):
                    continue
                if fault.ratio is not None and fault.rng.random() >= fault.ratio:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                fault.hits += 1
                error = ApiError(fault.status, fault.message, fault.http_status) if fault.http_status else None
                return Decision(fault.latency_ms / 1000.0, error)
        return Decision()
