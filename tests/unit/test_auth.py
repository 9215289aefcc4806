"""Webhook signature: `X-Polysync-Signature: t=<unix seconds>,v1=<hex>[,v1=...]` (contract: Authentication)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysync_vertex.core import auth
from polysync_vertex.core.errors import ApiError

NOW = 1_800_000_000
SECRET = "s3cret-current"
OLD_SECRET = "s3cret-previous"
BODY = b'{"requestId":"run-1","jobName":"nightly-train"}'


def hmac_hex(secret: str, timestamp: int, payload: bytes) -> str:
    """The contract's definition, computed independently of the code under test."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def assert_401(header: str | None, payload: bytes = BODY, secrets: tuple[str, ...] = (SECRET,)) -> ApiError:
    with pytest.raises(ApiError) as info:
        auth.verify(header, payload, secrets, NOW)
    err = info.value
    assert (err.http, err.status) == (401, "UNAUTHENTICATED")
    assert err.body()["error"]["status"] == "UNAUTHENTICATED"
    return err


def test_sign_matches_contract_definition() -> None:
    assert auth.sign(SECRET, NOW, BODY) == hmac_hex(SECRET, NOW, BODY)
    assert auth.signature_header(SECRET, NOW, BODY) == f"t={NOW},v1={hmac_hex(SECRET, NOW, BODY)}"
    assert auth.HEADER == "X-Polysync-Signature"


def test_valid_signature_passes() -> None:
    auth.verify(f"t={NOW},v1={hmac_hex(SECRET, NOW, BODY)}", BODY, (SECRET,), NOW)


def test_uppercase_hex_and_spaces_pass() -> None:
    auth.verify(f"t={NOW}, v1={hmac_hex(SECRET, NOW, BODY).upper()}", BODY, (SECRET,), NOW)


@pytest.mark.parametrize("signing_secret", [SECRET, OLD_SECRET])
def test_rotation_any_configured_secret_matches(signing_secret: str) -> None:
    auth.verify(auth.signature_header(signing_secret, NOW, BODY), BODY, (SECRET, OLD_SECRET), NOW)


def test_several_v1_entries_any_may_match() -> None:
    good = hmac_hex(OLD_SECRET, NOW, BODY)
    other = hmac_hex("some-other-secret", NOW, BODY)
    for header in (f"t={NOW},v1={other},v1={good}", f"t={NOW},v1={good},v1={other}", f"v1={other},t={NOW},v1={good}"):
        auth.verify(header, BODY, (SECRET, OLD_SECRET), NOW)


def test_several_v1_entries_none_matching() -> None:
    header = f"t={NOW},v1={hmac_hex('x', NOW, BODY)},v1={hmac_hex('y', NOW, BODY)}"
    assert_401(header, secrets=(SECRET, OLD_SECRET))


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header(header: str | None) -> None:
    assert_401(header)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=,v1=",
        f"t={NOW}",
        f"v1={'a' * 64}",
        f"t=abc,v1={'a' * 64}",
        f"t=-{NOW},v1={'a' * 64}",
        f"t={NOW}.5,v1={'a' * 64}",
        f"t={'9' * 13},v1={'a' * 64}",
        f"ts={NOW},sig={'a' * 64}",
        # Latin-1 text as a WSGI server hands it over: never a crash (500), always 401.
        "t=\u00b2\u00b3,v1=ab",
        f"t={NOW},v1=\u00e9\u00e9",
        f"t={NOW},v1=",
    ],
)
def test_malformed_header(header: str) -> None:
    assert_401(header)


def test_non_ascii_candidate_next_to_valid_one_still_passes() -> None:
    auth.verify(f"t={NOW},v1=\u00e9,v1={hmac_hex(SECRET, NOW, BODY)}", BODY, (SECRET,), NOW)


def test_wrong_secret() -> None:
    assert_401(auth.signature_header("not-the-secret", NOW, BODY))


def test_replay_with_other_body() -> None:
    header = auth.signature_header(SECRET, NOW, BODY)
    assert_401(header, payload=BODY.replace(b"run-1", b"run-2"))
    assert_401(header, payload=BODY + b" ")
    assert_401(header, payload=b"")


def test_timestamp_is_part_of_the_signature() -> None:
    sig = hmac_hex(SECRET, NOW, BODY)
    assert_401(f"t={NOW - 1},v1={sig}")


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamp_within_tolerance(offset: int) -> None:
    ts = NOW + offset
    auth.verify(auth.signature_header(SECRET, ts, BODY), BODY, (SECRET,), NOW)


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_timestamp_too_old_or_in_the_future(offset: int) -> None:
    ts = NOW + offset
    assert_401(auth.signature_header(SECRET, ts, BODY))


def test_no_secrets_configured_rejects_everything() -> None:
    err = assert_401(auth.signature_header(SECRET, NOW, BODY), secrets=())
    assert "PSV_WEBHOOK_SECRETS" in err.message


def test_error_message_never_contains_secret_or_signature() -> None:
    sig = hmac_hex("wrong", NOW, BODY)
    err = assert_401(f"t={NOW},v1={sig}")
    assert SECRET not in err.message and sig not in err.message


def test_get_payload_is_the_raw_query_string() -> None:
    raw = b"runId=projects%2Fmy-proj%2Flocations%2Fus-central1%2FcustomJobs%2F987&x=a+b"
    auth.verify(auth.signature_header(SECRET, NOW, raw), raw, (SECRET,), NOW)
    decoded = b"runId=projects/my-proj/locations/us-central1/customJobs/987&x=a b"
    assert_401(auth.signature_header(SECRET, NOW, decoded), payload=raw)


@given(
    payload=st.binary(max_size=512),
    secrets=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=4),
    pick=st.integers(min_value=0, max_value=3),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_property_any_configured_secret_within_tolerance_passes(
    payload: bytes, secrets: list[str], pick: int, skew: int
) -> None:
    secret = secrets[pick % len(secrets)]
    auth.verify(f"t={NOW + skew},v1={hmac_hex(secret, NOW + skew, payload)}", payload, secrets, NOW)


@given(header=st.text(max_size=200))
def test_property_arbitrary_header_is_401_never_a_crash(header: str) -> None:
    with pytest.raises(ApiError) as info:
        auth.verify(header, BODY, (SECRET,), NOW)
    assert info.value.http == 401


# --- the HTTP plumbing (web.handle) picks the right payload and reads nothing before the check ---------------


def _call_handle(method: str, path: str, *, header: str | None, data: bytes = b"") -> tuple[int, Any, list[Any]]:
    from flask import Flask

    from polysync_vertex import web

    seen: list[Any] = []

    def action(arg: Any) -> tuple[int, dict[str, Any]]:
        seen.append(arg)
        return 200, {"ok": True}

    headers = {auth.HEADER: header} if header is not None else {}
    app = Flask(__name__)
    with app.test_request_context(
        path, method=method, data=data, headers=headers, content_type="application/json"
    ) as ctx:
        resp = web.handle(ctx.request, method, lambda: (SECRET,), action)
    return resp.status_code, json.loads(resp.get_data()), seen


def test_web_get_signs_the_raw_query_string() -> None:
    import time

    raw = "runId=projects%2Fmy-proj%2Flocations%2Fus-central1%2FcustomJobs%2F987"
    now = int(time.time())
    status, body, seen = _call_handle("GET", "/?" + raw, header=auth.signature_header(SECRET, now, raw.encode()))
    assert status == 200 and body == {"ok": True}
    assert seen[0].get("runId") == "projects/my-proj/locations/us-central1/customJobs/987"

    decoded = b"runId=projects/my-proj/locations/us-central1/customJobs/987"
    status, body, seen = _call_handle("GET", "/?" + raw, header=auth.signature_header(SECRET, now, decoded))
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED" and seen == []


@pytest.mark.parametrize("header", [None, "t=1,v1=00"])
def test_web_post_rejected_before_action(header: str | None) -> None:
    status, body, seen = _call_handle("POST", "/", header=header, data=BODY)
    assert status == 401
    assert body["error"]["status"] == "UNAUTHENTICATED"
    assert seen == []
