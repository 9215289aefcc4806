"""HTTP/1.1 server (stdlib ``ThreadingHTTPServer``, keep-alive) around :class:`EmulatorApp`."""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .app import EmulatorApp, Response
from .errors import ApiError, status_for_http
from .scenario import CANCEL_DELAY_S

MAX_BODY_BYTES = 32 * 1024 * 1024


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: EmulatorApp, verbose: bool) -> None:
        self.app = app
        self.verbose = verbose
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Like HTTPServer.server_bind, minus the reverse DNS lookup (socket.getfqdn) that can stall start-up.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:  # a client that went away mid-request is not worth a traceback otherwise
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vertex-emulator/1.0"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    # HEAD and OPTIONS reach the app like any method, so they get its JSON errors (no route serves them).
    def do_HEAD(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (bad request line, unsupported method, headers too large) in Google's JSON
        # error form instead of its HTML page.
        text = message or self.responses.get(code, ("Error",))[0]
        self.close_connection = True
        self._send(Response(code, ApiError(status_for_http(code), text, code).to_json()))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ApiError("INVALID_ARGUMENT", "Request body too large.", 413)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ApiError("INVALID_ARGUMENT", "Request body too large.", 413)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ApiError as exc:
            self.close_connection = True
            self._send(Response(exc.http_status, exc.to_json()))
            return
        except ValueError:
            self.close_connection = True
            self._send(Response(400, ApiError("INVALID_ARGUMENT", "Malformed request body framing.").to_json()))
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            response = self.server.app.handle(self.command, url.path, query, body)
        except Exception as exc:  # never let a bug kill the connection without an answer
            message = f"Internal emulator error: {type(exc).__name__}: {exc}"
            response = Response(500, ApiError("INTERNAL", message).to_json())
        self._send(response)
        if response.after is not None:
            threading.Thread(target=response.after, daemon=True).start()

    def _send(self, response: Response) -> None:
        data = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the headers of the JSON error, not its body
            self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if self.server.verbose:
            sys.stderr.write(f"vertex-emulator: {self.address_string()} {format % args}\n")


class EmulatorServer:
    """The emulator on ``host:port`` (port 0 picks a free one); ``start()`` serves in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        time_factor: float = 1.0,
        execute: bool = False,
        verbose: bool = False,
        log_dir: str | None = None,
        cancel_delay: float = CANCEL_DELAY_S,
    ) -> None:
        if time_factor < 0 or cancel_delay < 0:
            raise ValueError("time_factor and cancel_delay must not be negative")
        self.app = EmulatorApp(
            time_factor=time_factor,
            execute=execute,
            log_dir=log_dir,
            on_shutdown=self.stop,
            cancel_delay_s=cancel_delay,
        )
        self._httpd = _HTTPServer((host, port), self.app, verbose)
        self._thread: threading.Thread | None = None
        self._stop_lock = threading.Lock()
        self._stopped = threading.Event()
        self._started = False

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Serve in a daemon thread and return at once."""
        self._started = True
        self._thread = threading.Thread(target=self._serve, name="vertex-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (or ``POST /emulator/shutdown``)."""
        self._serve()
        self._stopped.wait()

    def _serve(self) -> None:
        self._started = True
        self._httpd.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving, close connections, end running executions. Safe to call more than once."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            if self._started:
                self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
            self.app.close()
            self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped; True if it did."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
