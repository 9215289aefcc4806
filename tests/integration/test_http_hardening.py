"""Malformed HTTP framing and slow clients against the real HTTP servers (issue 16, items 2, 6 and 8).

Raw sockets talk to the functions as the local stack serves them (`python -m polysync_local.serve`: gunicorn with
read timeouts and JSON error answers) and, for what `web.py` alone fixes, as functions-framework's own launcher
serves them in the cloud (`python -m functions_framework`). Every malformed request is answered 400 in the
contract's error form, unsigned (so before authentication), without an ERROR log line and without a Vertex AI call.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LOCATION, PROJECT, ROOT, SECRET
from tests.helpers import example_body

SOURCE = str(ROOT / "functions" / "main.py")
READ_TIMEOUT = 2.0  # the hardened servers' socket read timeout in this module
THREADS = 8  # fewer worker threads than slow connections, so the slow ones could starve a signed request


@dataclass
class Server:
    name: str
    port: int
    process: Any

    def log(self) -> str:
        return Path(self.process.log_path).read_text(errors="replace")


def _settings_env(vertex_url: str, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSV_")}
    env.update(
        {
            "PSV_PROJECT": PROJECT,
            "PSV_DEFAULT_LOCATION": LOCATION,
            "PSV_ALLOWED_PROJECTS": PROJECT,
            "PSV_ALLOWED_LOCATIONS": LOCATION,
            "PSV_WEBHOOK_SECRETS": SECRET,
            "PSV_VERTEX_ENDPOINT": vertex_url,
            "PSV_STATUS_TOPIC": f"{prefix}status",
            "PSV_SHARD_TOPIC": "",
            "PSV_COLLECTION_PREFIX": prefix,
            "PSV_REQUEST_BUDGET_SECONDS": "20",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def servers(
    cloud_emulators: dict[str, str], vertex_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """submit and cancel as the local stack serves them ("hardened"), submit as functions-framework does ("plain")."""
    from polysync_local import processes

    logs = tmp_path_factory.mktemp("http-hardening")
    env = _settings_env(vertex_server.url, "psv-http-hardening-")
    hardened = [sys.executable, "-m", "polysync_local.serve", "--read-timeout", str(READ_TIMEOUT)]
    hardened += ["--threads", str(THREADS), "--signature-type", "http", "--source", SOURCE, "--host", "127.0.0.1"]
    plain = [sys.executable, "-m", "functions_framework", "--signature-type", "http", "--source", SOURCE]
    plain += ["--host", "127.0.0.1"]
    specs = {
        "submit": [*hardened, "--target", "submit"],
        "cancel": [*hardened, "--target", "cancel"],
        "plain-submit": [*plain, "--target", "submit"],
    }
    started: dict[str, Server] = {}
    try:
        for name, cmd in specs.items():
            port = processes.free_port()
            proc = processes.ManagedProcess(name, [*cmd, "--port", str(port)], env=env, log_path=logs / f"{name}.log")
            started[name] = Server(name, port, proc.start())
        for server in started.values():
            processes.wait_http(f"http://127.0.0.1:{server.port}/", server.process, timeout=60)
        yield started
    finally:
        for server in started.values():
            server.process.stop(grace=5)


# -- raw HTTP ------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse_answer(raw: bytes) -> Answer:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1."), raw[:300]
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return Answer(int(lines[0].split()[1]), headers, rest[:length])


def exchange(port: int, data: bytes, *, close_write: bool = False, timeout: float = 15.0) -> Answer:
    """Send `data` (then half-close when `close_write`) and read the first answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if close_write:
            s.shutdown(socket.SHUT_WR)
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < _announced(raw):
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    return parse_answer(raw)


def _announced(raw: bytes) -> int:
    for line in raw.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def post(headers: str, body: bytes) -> bytes:
    return f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode() + body


def assert_contract_error(answer: Answer, http: int, status: str) -> dict[str, Any]:
    assert answer.status == http, (answer.status, answer.body[:300])
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    err = answer.json()["error"]
    assert err["status"] == status and err["message"], err
    return dict(err)


def error_lines(server: Server) -> list[str]:
    return [line for line in server.log().splitlines() if '"severity": "ERROR"' in line or "Traceback" in line]


JSON = "Content-Type: application/json\r\n"
CHUNKED = "Transfer-Encoding: chunked\r\n" + JSON
MALFORMED = {
    "bad chunk size": (post(CHUNKED, b"zz\r\nabc\r\n0\r\n\r\n"), False),
    "chunk cut by close": (post(CHUNKED, b"10\r\nabc"), True),
    "chunk without terminator": (post(CHUNKED, b"3\r\nabcXY0\r\n\r\n"), False),
    "body shorter than Content-Length": (post("Content-Length: 100\r\n" + JSON, b"{}"), True),
}


# -- framing -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("server_name", ["submit", "cancel", "plain-submit"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_framing_is_400_before_authentication(
    servers: dict[str, Server], vertex: Any, server_name: str, case: str
) -> None:
    server = servers[server_name]
    data, close_write = MALFORMED[case]
    before = len(error_lines(server))
    answer = exchange(server.port, data, close_write=close_write)
    err = assert_contract_error(answer, 400, "INVALID_ARGUMENT")  # unsigned: 401 if authentication ran first
    assert "could not be read" in err["message"]
    assert error_lines(server)[before:] == [], "a client's broken framing is not logged as a server error"
    assert sum(vertex.calls().values()) == 0, "nothing reached Vertex AI"


def test_conflicting_content_length_and_transfer_encoding(servers: dict[str, Server]) -> None:
    # gunicorn answers before the function runs; the local stack's server writes it in the contract's form.
    data = post("Content-Length: 5\r\n" + CHUNKED, b"0\r\n\r\n")
    for name in ("submit", "cancel"):
        answer = exchange(servers[name].port, data)
        assert_contract_error(answer, 400, "INVALID_ARGUMENT")
        assert answer.headers.get("connection") == "close"


@pytest.mark.parametrize("request_line", ["GET /favicon.ico HTTP/1.1", "GET /robots.txt HTTP/1.1"])
def test_framework_paths_answer_json_404(servers: dict[str, Server], request_line: str) -> None:
    answer = exchange(servers["submit"].port, f"{request_line}\r\nHost: 127.0.0.1\r\n\r\n".encode())
    err = assert_contract_error(answer, 404, "NOT_FOUND")
    assert "/favicon.ico" in err["message"] or "/robots.txt" in err["message"]


def test_bad_request_line_and_header_are_json(servers: dict[str, Server]) -> None:
    port = servers["submit"].port
    assert_contract_error(exchange(port, b"BR0KEN\r\n\r\n"), 400, "INVALID_ARGUMENT")
    answer = exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
    assert_contract_error(answer, 400, "INVALID_ARGUMENT")


def test_a_valid_request_after_the_bad_ones_is_served(servers: dict[str, Server], vertex: Any) -> None:
    from polysync_local.client import Connector

    connector = Connector({"submit": f"http://127.0.0.1:{servers['submit'].port}/"}, SECRET, timeout=60)
    for _ in range(3):
        exchange(servers["submit"].port, MALFORMED["bad chunk size"][0])
    response = connector.submit(example_body("http-hardening-after-bad-1"))
    assert response.status == 201, response.body


# -- slow clients --------------------------------------------------------------------------------------------
SLOW_CLIENTS = 32


def test_slow_clients_do_not_stop_a_signed_submit(servers: dict[str, Server], vertex: Any) -> None:
    """32 connections announce 1000 bytes, send 10 and hold still; a signed submit sent after them is answered,
    and every slow connection is answered 400 (its body stopped arriving) or closed by the server."""
    from polysync_local.client import Connector

    port = servers["submit"].port
    slow: list[socket.socket] = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(post("Content-Length: 1000\r\nContent-Type: application/json\r\n", b'{"request"'))
            slow.append(s)
        connector = Connector({"submit": f"http://127.0.0.1:{port}/"}, SECRET, timeout=60)
        response = connector.submit(example_body("http-hardening-slow-clients-1"))
        assert response.status == 201, response.describe_error()

        outcomes: dict[str, int] = {}
        lock = threading.Lock()

        def drain(s: socket.socket) -> None:
            raw = b""
            try:  # until the server's whole answer arrived, or it closed the connection
                while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < _announced(raw):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    raw += chunk
                what = str(parse_answer(raw).status) if raw else "closed"
            except OSError as exc:
                what = f"{type(exc).__name__} after {len(raw)} bytes"
            with lock:
                outcomes[what] = outcomes.get(what, 0) + 1

        threads = [threading.Thread(target=drain, args=(s,), daemon=True) for s in slow]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert outcomes == {"400": SLOW_CLIENTS}, outcomes
    finally:
        for s in slow:
            s.close()
    assert vertex.calls().get("CreateCustomJob") == 1
