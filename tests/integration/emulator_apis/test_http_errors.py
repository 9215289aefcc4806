"""Every answer is JSON in Google's error form: HEAD, OPTIONS, unknown routes and http.server's own errors."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import requests

from vertex_emulator import EmulatorServer

from .conftest import PARENT

pytestmark = pytest.mark.timeout(60)


def assert_google_error(response: requests.Response, code: int, status: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["status"] == status and error["message"]
    return error


@pytest.mark.parametrize("path", [f"/v1/{PARENT}/customJobs", "/v1/nothing/here", "/v2/entries:list"])
def test_options_is_a_json_not_found(server: EmulatorServer, path: str) -> None:
    error = assert_google_error(requests.options(server.url + path, timeout=10), 404, "NOT_FOUND")
    assert error["message"] == f"The requested URL OPTIONS {path} was not found on this server."


def test_head_has_the_error_headers_and_no_body(server: EmulatorServer) -> None:
    response = requests.head(f"{server.url}/v1/{PARENT}/customJobs", timeout=10)
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("application/json")
    assert response.content == b"" and int(response.headers["Content-Length"]) > 0
    # The connection stays usable after a HEAD (no stray body left on it).
    with requests.Session() as session:
        assert session.head(f"{server.url}/v1/x", timeout=10).status_code == 404
        assert session.get(f"{server.url}/emulator/health", timeout=10).json()["ok"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/unknown"),
        ("POST", f"/v1/{PARENT}/customJobs/1:explode"),
        ("PUT", f"/v1/{PARENT}/customJobs"),
        ("GET", "/v2/entries:list"),
        ("GET", "/v3/projects/p:testIamPermissions"),
        ("GET", "/emulator/unknown"),
    ],
)
def test_unknown_routes_are_json_not_found(server: EmulatorServer, method: str, path: str) -> None:
    assert_google_error(requests.request(method, server.url + path, timeout=10), 404, "NOT_FOUND")


def raw_exchange(server: EmulatorServer, request: bytes) -> tuple[str, dict[str, Any]]:
    with socket.create_connection((server.host, server.port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/"):  # http.server answers an unparseable request line as HTTP/0.9: body only
        return "", json.loads(data)
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode().split("\r\n")[0], json.loads(body)


def test_http_server_errors_are_json(server: EmulatorServer) -> None:
    status_line, body = raw_exchange(server, b"TRACE /v1/x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_line.startswith("HTTP/1.1 501") and body["error"]["status"] == "UNIMPLEMENTED"
    status_line, body = raw_exchange(server, b"GET /v1/x HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n")
    assert status_line.startswith("HTTP/1.1 431") and body["error"]["code"] == 431
    _, body = raw_exchange(server, b"NONSENSE\r\n\r\n")
    assert body["error"] == {"code": 400, "message": "Bad request syntax ('NONSENSE')", "status": "INVALID_ARGUMENT"}
