"""The network between the functions and Pub/Sub: a TCP proxy that cuts connections and refuses them."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class FlakyProxy:
    """127.0.0.1 TCP proxy to `upstream` that can cut every open connection and refuse new ones for a while."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.5)
        self.port = int(self.listener.getsockname()[1])
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._down_until = 0.0
        self._threads: list[threading.Thread] = []
        self.accepted = 0
        self.refused = 0
        self.cuts = 0

    def start(self) -> FlakyProxy:
        t = threading.Thread(target=self._accept, name="pubsub-proxy", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if time.monotonic() < self._down_until:
                self.refused += 1
                conn.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            conn.settimeout(None)
            self.accepted += 1
            with self._lock:
                self._conns |= {conn, upstream}
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()

    def cut(self) -> int:
        """Close every open connection (requests in flight are lost, whether or not upstream saw them)."""
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            self._close(s)
        if conns:
            self.cuts += 1
        return len(conns) // 2

    def outage(self, seconds: float) -> None:
        self._down_until = time.monotonic() + seconds
        self.cut()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self.cut()
        for t in self._threads:
            t.join(timeout=2)
