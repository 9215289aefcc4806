"""Hostile input against the real handlers: signatures, oversized and deep bodies, odd characters, crafted resource
names, foreign jobs, secrets in logs, and known vulnerabilities in the pinned runtime dependencies.

Every rejection is checked for its code and for having done nothing: no Firestore document and no Vertex AI call.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from polysync_vertex.core.auth import sign, signature_header
from tests.conftest import ROOT, SECRET
from tests.helpers import create_template, example_body, job_client, job_dict, stored_docs

ANY_413 = {"error": {"status": "PAYLOAD_TOO_LARGE", "message": "request body is larger than 262144 bytes"}}
RUN_ID = "projects/local-project/locations/us-central1/customJobs/1"
EMPTY = {"requests": 0, "runs": 0}
WRITES = ("CreateCustomJob", "CancelCustomJob", "DeleteCustomJob")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}\Z")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}\Z")
SIMPLE_JOB = {
    "displayName": "not-created-by-the-connector",
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "containerSpec": {"imageUri": "x/y:1"},
            }
        ]
    },
}


def no_vertex_calls(vertex: Any) -> bool:
    return sum(vertex.calls().values()) == 0


def error_of(resp: Any, http: int) -> dict[str, Any]:
    assert resp.status_code == http, (resp.status_code, resp.get_json())
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return dict(body["error"])


def payload_of(target: str) -> tuple[str, bytes]:
    """A valid request for each function: ("body"|"query", the bytes that are signed)."""
    if target == "submit":
        return "body", json.dumps(example_body("sig-1")).encode()
    if target == "cancel":
        return "body", json.dumps({"runId": RUN_ID}).encode()
    if target == "status":
        return "query", urlencode({"runId": RUN_ID}).encode()
    return "query", b"project=local-project&location=us-central1"


def send(call: Callable[..., Any], target: str, payload: bytes, header: str | None) -> Any:
    kind, _ = payload_of(target)
    headers = {"X-Polysync-Signature": header} if header is not None else {}
    if kind == "query":
        return call(target, query=payload.decode(), secret=None, headers=headers)
    return call(target, raw=payload, secret=None, headers=headers)


# -- signatures --------------------------------------------------------------------------------------------------------
def _forged(payload: bytes, now: int) -> str | None:
    return f"t={now},v1={'ab' * 32}"


ATTACKS: dict[str, Callable[[bytes, int], str | None]] = {
    "missing": lambda payload, now: None,
    "empty": lambda payload, now: "",
    "forged": _forged,
    "wrong-secret": lambda payload, now: signature_header("not-the-secret", now, payload),
    "empty-secret": lambda payload, now: signature_header("", now, payload),
    "stale": lambda payload, now: signature_header(SECRET, now - 310, payload),
    "future": lambda payload, now: signature_header(SECRET, now + 310, payload),
    "other-body": lambda payload, now: signature_header(SECRET, now, payload + b" "),
    "timestamp-swapped": lambda payload, now: f"t={now - 1},v1={sign(SECRET, now, payload)}",
    "no-timestamp": lambda payload, now: f"v1={sign(SECRET, now, payload)}",
    "no-v1": lambda payload, now: f"t={now}",
    "v0-only": lambda payload, now: f"t={now},v0={sign(SECRET, now, payload)}",
    "truncated-mac": lambda payload, now: f"t={now},v1={sign(SECRET, now, payload)[:32]}",
    "negative-time": lambda payload, now: f"t=-{now},v1={sign(SECRET, -now, payload)}",
    "non-ascii-digits": lambda payload, now: f"t={'١' * 10},v1={sign(SECRET, now, payload)}",
    "huge-timestamp": lambda payload, now: f"t={'9' * 400},v1={sign(SECRET, now, payload)}",
    "sha1": lambda payload, now: f"t={now},v1={'0' * 40}",
    "secret-as-signature": lambda payload, now: f"t={now},v1={SECRET}",
    "many-wrong-entries": lambda payload, now: f"t={now}," + ",".join(f"v1={i:064x}" for i in range(500)),
}


@pytest.mark.parametrize("target", ["submit", "cancel", "status", "templates"])
def test_bad_signatures_are_401_and_do_nothing(call: Any, vertex: Any, app: Any, target: str) -> None:
    _, payload = payload_of(target)
    now = int(time.time())
    for name, attack in ATTACKS.items():
        resp = send(call, target, payload, attack(payload, now))
        assert error_of(resp, 401)["status"] == "UNAUTHENTICATED", (target, name)
    assert stored_docs(app) == EMPTY
    assert no_vertex_calls(vertex)
    # The same request, correctly signed, gets past authentication (and the window is not too tight).
    resp = send(call, target, payload, signature_header(SECRET, now - 240, payload))
    assert resp.status_code != 401, resp.get_json()


def test_several_v1_entries_and_rotation(call: Any, vertex: Any, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from polysync_vertex import bootstrap

    _, payload = payload_of("templates")
    now = int(time.time())
    good = sign(SECRET, now, payload)
    for header in (
        f"t={now},v1={'0' * 64},v1={good}",
        f"t={now},v1={good},v1={'0' * 64}",
        f" t={now} , v1={good.upper()} ",
        f"t={now},x=1,v1={good},v2=ignored",
    ):
        assert send(call, "templates", payload, header).status_code == 200, header

    # Rotation: while both are configured each secret works; once the old one is retired it is refused.
    monkeypatch.setenv("PSV_WEBHOOK_SECRETS", f"new-secret\n{SECRET}")
    bootstrap.app.cache_clear()
    both = f"t={now},v1={sign('new-secret', now, payload)},v1={sign(SECRET, now, payload)}"
    for header in (signature_header("new-secret", now, payload), signature_header(SECRET, now, payload), both):
        assert send(call, "templates", payload, header).status_code == 200, header
    monkeypatch.setenv("PSV_WEBHOOK_SECRETS", "new-secret")
    bootstrap.app.cache_clear()
    assert send(call, "templates", payload, signature_header("new-secret", now, payload)).status_code == 200
    vertex.reset_calls()
    assert send(call, "templates", payload, signature_header(SECRET, now, payload)).status_code == 401
    # No secret configured: everything is refused, also a signature made with an empty key.
    monkeypatch.setenv("PSV_WEBHOOK_SECRETS", " , ")
    bootstrap.app.cache_clear()
    assert send(call, "templates", payload, signature_header("", now, payload)).status_code == 401
    assert no_vertex_calls(vertex)
    assert stored_docs(app) == EMPTY


def test_query_signature_binds_the_raw_query_string(call: Any, vertex: Any) -> None:
    now = int(time.time())
    signed = "project=local-project&location=us-central1"
    header = signature_header(SECRET, now, signed.encode())
    for sent in (
        "location=us-central1&project=local-project",  # same parameters, other order
        "project=local-project&location=us-central1&",
        "project=local%2Dproject&location=us-central1",  # same values, other encoding
        "project=local-project&location=us-central1&includeRuns=true",
        "project=local-project&location=europe-west4",
    ):
        resp = call("templates", query=sent, secret=None, headers={"X-Polysync-Signature": header})
        assert error_of(resp, 401)["status"] == "UNAUTHENTICATED", sent
    assert no_vertex_calls(vertex)
    resp = call("templates", query=signed, secret=None, headers={"X-Polysync-Signature": header})
    assert resp.status_code == 200


def test_replay_within_the_window_is_idempotent(call: Any, vertex: Any, app: Any) -> None:
    """A captured request replayed as is inside the 300 s window answers the same run and creates nothing more."""
    payload = json.dumps(example_body("replayed-1")).encode()
    header = signature_header(SECRET, int(time.time()), payload)
    first = send(call, "submit", payload, header)
    again = send(call, "submit", payload, header)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    assert vertex.calls().get("CreateCustomJob") == 1
    assert stored_docs(app) == {"requests": 1, "runs": 1}


# -- sizes and shapes --------------------------------------------------------------------------------------------------
class CountingStream(io.RawIOBase):
    """A 64 MiB body of spaces that counts what the handler (and the framework around it) reads of it."""

    def __init__(self, size: int = 64 * 1024 * 1024) -> None:
        self.size = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.read_bytes)
        buffer[:n] = b" " * n
        self.read_bytes += n
        return n


def post_stream(
    target: str, stream: CountingStream, content_length: int | None, header: str, method: str = "POST"
) -> tuple[int, Any]:
    """Send a large body straight through WSGI (the test client would measure the stream first)."""
    from functions_framework import create_app
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    app = create_app(target=target, source=str(ROOT / "functions" / "main.py"))
    environ = EnvironBuilder(method=method, content_type="application/json").get_environ()
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": content_length is None})
    environ["HTTP_X_POLYSYNC_SIGNATURE"] = header
    if content_length is None:
        environ.pop("CONTENT_LENGTH", None)
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    app_iter, status, _ = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), json.loads(b"".join(app_iter))


def test_oversized_body_is_refused_without_reading_it(env: dict[str, str], vertex: Any, app: Any) -> None:
    """Neither the handler nor functions-framework's after-request hook (which reads the whole body into memory)
    may read a body beyond the limit."""
    limit = 256 * 1024
    header = f"t={int(time.time())},v1={'0' * 64}"
    # Declared too large: refused before a byte is read (and before the signature, which needs the body).
    stream = CountingStream()
    assert post_stream("submit", stream, stream.size, header) == (413, ANY_413)
    assert stream.read_bytes == 0
    # No length given (chunked): read only up to the limit, then refused.
    stream = CountingStream()
    assert post_stream("submit", stream, None, header) == (413, ANY_413)
    assert limit < stream.read_bytes <= limit + 64 * 1024
    # A body sent to a GET function, or with the wrong method, is never read.
    for target, method in (("status", "GET"), ("templates", "GET"), ("status", "POST"), ("cancel", "GET")):
        stream = CountingStream()
        status, _ = post_stream(target, stream, stream.size, header, method)
        assert status in (401, 405) and stream.read_bytes == 0, (target, method, stream.read_bytes)
    assert stored_docs(app) == EMPTY
    assert no_vertex_calls(vertex)


def test_body_of_exactly_the_limit_is_read(call: Any) -> None:
    limit = 256 * 1024
    body = json.dumps({**example_body("size-1"), "pad": ""}).encode()
    body = body[:-2] + b" " * (limit - len(body)) + body[-2:]
    assert len(body) == limit and json.loads(body)["requestId"] == "size-1"
    assert call("submit", raw=body).status_code == 201
    assert error_of(call("submit", raw=body + b" "), 413)["status"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("deep-arrays", b"[" * 120_000 + b"]" * 120_000),
        ("deep-objects", b'{"a":' * 40_000 + b"1" + b"}" * 40_000),
        (
            "deep-in-ignored-field",
            json.dumps({**example_body("deep-1"), "x": json.loads("[" * 40 + "]" * 40)}).encode(),
        ),
        (
            "deep-parameter-value",
            json.dumps(example_body("deep-2", parameters=[{"name": "A", "value": [[[[1]]]]}])).encode(),
        ),
        ("wide-object", json.dumps({f"k{i}": i for i in range(15_000)}).encode()),
        ("lone-surrogate", json.dumps(example_body("s-1", jobName="a\ud800b")).encode()),
        ("invalid-utf8", b'{"requestId": "r", "jobName": "\xff\xfe"}'),
        ("utf16", json.dumps(example_body("u-1")).encode("utf-16")),
        ("nan", b'{"requestId": "n-1", "jobName": "j", "x": NaN}'),
        ("huge-number", b'{"requestId": "n-2", "jobName": "j", "attributes": {"replicaCount": 1' + b"0" * 5000 + b"}}"),
        ("null-body", b"null"),
        ("empty-body", b""),
    ],
)
def test_malformed_and_deep_json_is_400(call: Any, vertex: Any, app: Any, name: str, raw: bytes) -> None:
    assert len(raw) <= 256 * 1024, name
    error = error_of(call("submit", raw=raw), 400)
    assert error["status"] == "INVALID_ARGUMENT", name
    assert stored_docs(app) == EMPTY
    assert no_vertex_calls(vertex)


# -- names and characters --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "job_name",
    [
        "Trainingslauf – ünïcødé 训练 🚀",
        "🚀🚀🚀",
        "é" * 512,
        "A/../../B?x=1#y",
        "<script>alert(1)</script>",
        "\u202egnp.exe",
    ],
)
def test_unicode_job_names_make_valid_labels(call: Any, vertex_server: Any, job_name: str) -> None:
    resp = call("submit", example_body("uni-1", jobName=job_name))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    job = job_dict(job_client(vertex_server.url), body["runId"])
    assert len(job["displayName"]) <= 128 and job["displayName"] == body["displayName"]
    assert job["displayName"].startswith(job_name[: 128 - 17])
    for key, value in job["labels"].items():
        assert LABEL_KEY.match(key) and LABEL_VALUE.match(value), (key, value)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(jobName="a\x00b"), "jobName"),
        (lambda b: b.update(jobName="line\nbreak"), "jobName"),
        (lambda b: b.update(jobName="del\x7f"), "jobName"),
        (lambda b: b.update(jobName=" \t "), "jobName"),
        (lambda b: b.update(requestId="rün-1"), "requestId"),
        (lambda b: b.update(requestId="ａｂｃ"), "requestId"),
        (lambda b: b.update(requestId="id\n"), "requestId"),
        (lambda b: b.update(requestId="a/../b"), "requestId"),
        (lambda b: b.update(requestId="x" * 129), "requestId"),
        (lambda b: b.update(requestId=7), "requestId"),
        (lambda b: b["parameters"][0].update(name="ÉPOCHS"), "parameters[0].name"),
        (lambda b: b["parameters"][0].update(name="A\x00"), "parameters[0].name"),
        (lambda b: b["parameters"][0].update(name="A=B"), "parameters[0].name"),
        (lambda b: b["parameters"][0].update(name="A\nB"), "parameters[0].name"),
        (lambda b: b["parameters"][0].update(name="ＥＰＯＣＨＳ"), "parameters[0].name"),
        (lambda b: b["parameters"][0].update(name="EPOCHS\n"), "parameters[0].name"),
        (lambda b: b["parameters"][0].update(name=""), "parameters[0].name"),
        (
            lambda b: b["attributes"].update(containerImageUri="evil.io/x:1\n--privileged"),
            "attributes.containerImageUri",
        ),
        (lambda b: b["attributes"].update(machineType="n1-standard-4\x00"), "attributes.machineType"),
        # Well-formed but not an AcceleratorType: the client refused it after the request was claimed (500, and the
        # requestId stayed "busy"); found by test_fuzz.py.
        (lambda b: b["attributes"].update(acceleratorType="NVIDIA_TESLA_Z9"), "attributes.acceleratorType"),
    ],
)
def test_control_and_foreign_characters_are_400(call: Any, vertex: Any, app: Any, mutate: Any, field: str) -> None:
    body = example_body("chars-1")
    mutate(body)
    error = error_of(call("submit", body), 400)
    assert error["status"] == "INVALID_ARGUMENT" and error["field"] == field
    assert stored_docs(app) == EMPTY
    assert no_vertex_calls(vertex)


def test_longest_request_id_is_accepted(call: Any) -> None:
    assert call("submit", example_body("a" * 128)).status_code == 201


# -- resource names ----------------------------------------------------------------------------------------------------
CRAFTED = [
    "projects/local-project/locations/us-central1/customJobs/1/../2",
    "projects/local-project/locations/us-central1/customJobs/../2",
    "projects/local-project/locations/us-central1/customJobs/..%2F2",
    "projects/local-project/locations/us-central1/customJobs/1%2F..%2F2",
    "projects/local-project/locations/us-central1/customJobs/1%252F2",
    "projects/local-project/locations/us-central1/customJobs/1/cancel",
    "projects/local-project/locations/us-central1/customJobs/1:cancel",
    "projects/local-project/locations/us-central1/customJobs/1?alt=json",
    "projects/local-project/locations/us-central1/customJobs/1#x",
    "projects/local-project/locations/us-central1/customJobs/1\n",
    "projects/local-project/locations/us-central1/customJobs/1\x00",
    "projects/local-project/locations/us-central1/customJobs/１２３",
    "projects/local-project/locations/us-central1/customJobs/",
    "projects/local-project/locations/us-central1/customJobs/1/",
    "/projects/local-project/locations/us-central1/customJobs/1",
    "projects//local-project/locations/us-central1/customJobs/1",
    "projects/local-project/locations/us-central1/trainingPipelines/1",
    "projects/local-project/locations/../../other-project/locations/us-central1/customJobs/1",
    "projects/other-project%2Flocations%2Fus-central1/locations/us-central1/customJobs/1",
    "projects/local-project/locations/us-central1%2F..%2F..%2Fother-project/customJobs/1",
    "projects/LOCAL-PROJECT/locations/us-central1/customJobs/1",
    "projects/local-project/locations/US-CENTRAL1/customJobs/1",
    "projects/123/locations/us-central1/customJobs/1",
    "https://us-central1-aiplatform.googleapis.com/v1/projects/local-project/locations/us-central1/customJobs/1",
    "projects/local-project/locations/us-central1/customJobs/1 projects/other-project/locations/x/customJobs/2",
]


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_resource_names_reach_nothing(call: Any, vertex: Any, app: Any, name: str) -> None:
    answers = [
        call("status", query=urlencode({"runId": name})),
        call("status", query="runId=" + name.replace("\n", "%0A").replace("\x00", "%00").replace("#", "%23")),
        call("cancel", {"runId": name}),
        call("submit", example_body("crafted-1", externalId=name)),
        call("templates", query=urlencode({"externalId": name})),
    ]
    for resp in answers:
        assert resp.status_code == 400, (name, resp.status_code, resp.get_json())
        assert resp.get_json()["error"]["status"] == "INVALID_ARGUMENT"
    assert no_vertex_calls(vertex)
    assert stored_docs(app) == EMPTY


@pytest.mark.parametrize(
    "query",
    [
        "project=local-project/../other-project&location=us-central1",
        "project=local-project&location=us-central1%2F..%2F..%2Fother-project",
        "project=local-project%2Flocations%2Fus-central1&location=us-central1",
        "project=other-project&project=local-project&location=us-central1",
        "project=local-project&location=us-central1&location=europe-west4",
        "project=&location=us-central1",
    ],
)
def test_crafted_template_lists_reach_nothing(call: Any, vertex: Any, query: str) -> None:
    assert error_of(call("templates", query=query), 400)["status"] == "INVALID_ARGUMENT"
    assert no_vertex_calls(vertex)


def test_projects_off_the_allow_list_are_never_called(call: Any, vertex: Any, app: Any) -> None:
    foreign = "projects/forbidden-proj/locations/us-central1/customJobs/1"
    wrong_location = "projects/local-project/locations/asia-east1/customJobs/1"
    for name in (foreign, wrong_location):
        assert error_of(call("submit", example_body("fp-1", externalId=name)), 403)["field"] == "externalId"
        assert error_of(call("templates", query=urlencode({"externalId": name})), 403)["status"] == "PERMISSION_DENIED"
        assert error_of(call("status", query=urlencode({"runId": name})), 404)["field"] == "runId"
        assert error_of(call("cancel", {"runId": name}), 404)["field"] == "runId"
    error_of(call("templates", query="project=forbidden-proj&location=us-central1"), 403)
    error_of(call("templates", query="project=local-project&location=asia-east1"), 403)
    assert no_vertex_calls(vertex)
    assert stored_docs(app) == EMPTY


def test_foreign_jobs_cannot_be_read_or_cancelled(call: Any, vertex: Any, vertex_server: Any, app: Any) -> None:
    """Jobs the connector did not create, in allowed and other projects, and a recorded job id under another project:
    404 from the records, and no CancelCustomJob."""
    client = job_client(vertex_server.url)
    allowed = create_template(client, SIMPLE_JOB, parent="projects/other-project/locations/europe-west4")
    elsewhere = create_template(client, SIMPLE_JOB, parent="projects/forbidden-proj/locations/us-central1")
    ours = call("submit", example_body("own-1")).get_json()["runId"]
    job_id = ours.rsplit("/", 1)[1]
    alias = f"projects/other-project/locations/us-central1/customJobs/{job_id}"
    vertex.reset_calls()
    before = stored_docs(app)
    for name in (allowed["name"], elsewhere["name"], alias):
        assert error_of(call("cancel", {"runId": name}), 404)["status"] == "NOT_FOUND", name
        assert error_of(call("status", query=urlencode({"runId": name})), 404)["status"] == "NOT_FOUND", name
        assert error_of(call("cancel", {"runId": name}), 404)["status"] == "NOT_FOUND", name  # repeated
    assert no_vertex_calls(vertex)
    assert stored_docs(app) == before
    for name in (allowed["name"], elsewhere["name"], ours):
        assert job_dict(client, name)["state"] != "JOB_STATE_CANCELLING", name


# -- secrets in logs ---------------------------------------------------------------------------------------------------
def test_no_secret_or_signature_in_any_log_line(
    call: Any, vertex: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from polysync_vertex import bootstrap

    second = "second-secret-0f3c9a7e"
    monkeypatch.setenv("PSV_WEBHOOK_SECRETS", f"{second},{SECRET}")
    monkeypatch.setenv("PSV_LOG_LEVEL", "DEBUG")
    bootstrap.app.cache_clear()
    capfd.readouterr()
    sent: list[str] = []

    def signed(target: str, body: Any = None, *, query: str | None = None, secret: str = SECRET, **kw: Any) -> Any:
        payload = query.encode() if query is not None else kw.pop("raw", None) or json.dumps(body).encode()
        header = kw.pop("header", None) or signature_header(secret, int(time.time()), payload)
        sent.append(header)
        headers = {"X-Polysync-Signature": header}
        if query is not None:
            return call(target, query=query, secret=None, headers=headers)
        return call(target, raw=payload, secret=None, headers=headers, **kw)

    created = signed("submit", example_body("log-1"))
    assert created.status_code == 201
    run_id = created.get_json()["runId"]
    assert signed("submit", example_body("log-1"), secret=second).status_code == 200
    assert signed("submit", example_body("log-1", jobName="x")).status_code == 409
    assert signed("status", query=urlencode({"runId": run_id})).status_code == 200
    assert signed("cancel", {"runId": run_id}).status_code in (200, 202)
    assert signed("templates", query="project=local-project&location=us-central1").status_code == 200
    assert signed("submit", example_body("bad id")).status_code == 400
    assert signed("submit", raw=b"{oops").status_code == 400
    assert signed("submit", example_body("log-2"), content_type="text/plain").status_code == 415
    assert signed("status", query="runId=x").status_code == 400
    assert signed("submit", example_body("log-3"), secret="wrong").status_code == 401
    now = int(time.time())
    assert signed("submit", example_body("log-4"), header=f"t={now},v1={SECRET}").status_code == 401
    assert signed("submit", example_body("log-5"), header=f"t={now - 999},v1={second}").status_code == 401
    assert signed("status", query="runId=y", header=f"t=x,v1={SECRET},secret={second}").status_code == 401
    vertex.add_fault(method="*", http_status=503, status="UNAVAILABLE", ratio=1.0)
    monkeypatch.setenv("PSV_REQUEST_BUDGET_SECONDS", "1")
    bootstrap.app.cache_clear()
    assert signed("templates", query="project=local-project&location=us-central1").status_code == 503
    vertex.clear_faults()

    out, err = capfd.readouterr()
    logged = out + err
    assert '"request rejected"' in logged and "UNAUTHENTICATED" in logged  # the handlers' log was captured
    needles = {SECRET, second} | set(sent)
    needles |= {part.split("=", 1)[1] for header in sent for part in header.split(",") if part.startswith("v1=")}
    for line in logged.splitlines():
        for needle in needles:
            assert needle not in line, (needle, line)


# -- supply chain --------------------------------------------------------------------------------------------------
def _get_json(url: str, data: bytes | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def _vulnerability_service(package: str, version: str) -> tuple[str | None, list[str]]:
    """The pip-audit service that answers from here ("pypi" or "osv"), or None, and why the others do not.

    pip-audit's default service is PyPI's per-release JSON API (its `vulnerabilities` field); OSV is the other one.
    """
    reasons: list[str] = []
    url = f"https://pypi.org/pypi/{package}/{version}/json"
    try:
        if "vulnerabilities" in _get_json(url):
            return "pypi", reasons
        reasons.append(f"{url} has no 'vulnerabilities' field")
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            reasons.append(f"{url}: {exc}")
        else:
            # A pin that PyPI does not know is a broken requirements file, not an unreachable service.
            releases = _get_json(f"https://pypi.org/pypi/{package}/json").get("releases", {})
            assert version in releases, f"{package}=={version} (functions/requirements.txt) is not on PyPI"
            reasons.append(f"{url}: 404 although PyPI lists {version} (a mirror without the per-release API)")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reasons.append(f"{url}: {exc}")
    query = json.dumps({"package": {"name": package, "ecosystem": "PyPI"}, "version": version}).encode()
    try:
        _get_json("https://api.osv.dev/v1/query", query)
        return "osv", reasons
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reasons.append(f"https://api.osv.dev/v1/query: {exc}")
    return None, reasons


def test_pinned_runtime_requirements_have_no_known_vulnerability() -> None:
    """pip-audit on functions/requirements.txt. Known vulnerabilities that are explained and accepted would be listed
    in docs/security.md and here (ACCEPTED); none are."""
    accepted: dict[str, str] = {}  # vulnerability id -> why it does not apply (mirrored in docs/security.md)
    requirements = ROOT / "functions" / "requirements.txt"
    pins = [line.split("==") for line in requirements.read_text().splitlines() if "==" in line and line[0] != "#"]
    assert pins, "functions/requirements.txt pins nothing"
    service, reasons = _vulnerability_service(pins[0][0].strip(), pins[0][1].strip())
    if service is None:
        pytest.skip(f"no vulnerability service reachable from here, pip-audit not run: {'; '.join(reasons)}")
    audit = shutil.which("pip-audit", path=str(Path(sys.executable).parent)) or shutil.which("pip-audit")
    assert audit, "pip-audit is not installed (it is in the dev extra: pip install -e '.[dev]')"
    proc = subprocess.run(
        [
            audit,
            "-r",
            str(requirements),
            "-s",
            service,
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--desc",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.stdout.strip(), f"pip-audit printed no report (exit {proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout)
    unaudited = [
        f"{d['name']} {d.get('version')}: {d['skip_reason']}" for d in report["dependencies"] if d.get("skip_reason")
    ]
    assert not unaudited, f"pip-audit could not audit: {unaudited}"
    found = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or []) or 'no release'})"
        for d in report["dependencies"]
        for v in d.get("vulns", [])
        if v["id"] not in accepted
    ]
    assert not found, "known vulnerabilities in the pinned runtime dependencies: " + "; ".join(found)
