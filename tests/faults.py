"""Network faults between the connector and a real emulator: a loopback TCP proxy that can stall (issue 30).

The Firestore client speaks gRPC (HTTP/2) to the emulator; the proxy forwards bytes both ways and, while `stalled`,
holds what arrives instead of forwarding it, as a backend that stopped answering would. Unstalled, it forwards what
it held, in order, so the connection is intact afterwards.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest


class StallingProxy:
    """`StallingProxy("127.0.0.1:8080")`; point the client at `proxy.host`; `stall()` / `resume()`; `close()`."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.stalled = threading.Event()
        self._closed = threading.Event()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self._server.settimeout(0.2)
        self._sockets: list[socket.socket] = []
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self.stalled.set()

    def resume(self) -> None:
        self.stalled.clear()

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                data = source.recv(65536)
                if not data:
                    break
                while self.stalled.is_set() and not self._closed.is_set():
                    time.sleep(0.02)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@contextlib.contextmanager
def stalling_emulator(upstream: str, env_var: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[StallingProxy]:
    """An emulator behind a StallingProxy: clients built inside (reading `env_var`, e.g. FIRESTORE_EMULATOR_HOST)
    talk through it; resumed and closed on the way out."""
    stalling = StallingProxy(upstream)
    monkeypatch.setenv(env_var, stalling.host)
    try:
        yield stalling
    finally:
        stalling.resume()
        stalling.close()
