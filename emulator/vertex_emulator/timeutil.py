"""RFC 3339 timestamps and protobuf durations, as Google's JSON mapping writes them."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(r"^(-?)(\d+)(?:\.(\d{1,9}))?s$")


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch."""
    return time.time_ns() // 1000


def format_timestamp(us: int) -> str:
    """Format like protobuf's JSON mapping: 0, 3 or 6 fractional digits, always ``Z``."""
    dt = _EPOCH + timedelta(microseconds=us)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    micros = us % 1_000_000
    if micros == 0:
        return base + "Z"
    if micros % 1000 == 0:
        return f"{base}.{micros // 1000:03d}Z"
    return f"{base}.{micros:06d}Z"


def parse_timestamp(text: str) -> int:
    """Parse an RFC 3339 timestamp to microseconds since the epoch (ValueError if malformed)."""
    m = _RFC3339.match(text.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    us = (dt - _EPOCH) // timedelta(microseconds=1)
    if frac:
        us += int(frac.ljust(9, "0")[:6])
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        us -= sign * offset * 1_000_000
    return us


def parse_duration(text: str) -> float:
    """Parse a protobuf JSON duration such as ``"3600s"`` or ``"1.5s"`` to seconds."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string like '3600s', got {text!r}")
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a duration like '3600s' or '1.5s': {text!r}")
    sign, whole, frac = m.groups()
    value = int(whole) + (int(frac.ljust(9, "0")) / 1e9 if frac else 0.0)
    return -value if sign else value
