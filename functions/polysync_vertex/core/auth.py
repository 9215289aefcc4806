"""Webhook signature check: `X-Polysync-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`.

v1 = HMAC-SHA256(secret, "<t>.<payload>"), payload the raw body (POST) or raw query string (GET).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from .errors import ApiError

TOLERANCE_SECONDS = 300
HEADER = "X-Polysync-Signature"


def sign(secret: str, timestamp: int, payload: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, timestamp: int, payload: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, payload)}"


def _unauthenticated(why: str) -> ApiError:
    return ApiError("UNAUTHENTICATED", f"{why}; sign the request as described in the README ({HEADER}).")


def verify(header: str | None, payload: bytes, secrets: Sequence[str], now: float) -> None:
    """Raise ApiError(401) unless one `v1` entry matches one configured secret within the time tolerance."""
    if not secrets:
        raise _unauthenticated("no webhook secret is configured on the connector (PSV_WEBHOOK_SECRETS)")
    if not header:
        raise _unauthenticated(f"missing {HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise _unauthenticated(f"malformed {HEADER} header (expected t=<unix seconds>,v1=<hex>)")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise _unauthenticated("signature timestamp is more than 300 s away from the connector's clock")
    matched = False
    for secret in secrets:
        expected = sign(secret, timestamp, payload)
        for candidate in candidates:
            # Evaluate every pair so timing does not reveal which secret or entry matched.
            matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise _unauthenticated("signature does not match")
