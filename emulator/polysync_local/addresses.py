"""TCP addresses of the local stack on 127.0.0.1: free ports, or a consecutive range from `--port-base`.

(Named apart from `polysync_vertex/ports.py`, the hexagonal ports: the Protocols services depend on.)"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from . import processes


@dataclass
class Ports:
    firestore: int
    pubsub: int
    vertex: int
    functions: dict[str, int]

    def all(self) -> list[int]:
        return [self.firestore, self.pubsub, self.vertex, *self.functions.values()]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `port` now. With SO_REUSEADDR, as the servers themselves bind: sockets of
    a stopped stack that linger in TIME_WAIT (for about a minute) do not make the port busy, a listener does."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on `port`."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def allocate(base: int | None, functions: list[str]) -> Ports:
    """Three emulator ports, then one per function: free ports, or `base`, `base + 1`, ... (all must be free)."""
    count = 3 + len(functions)
    if base is None:
        ports: list[int] = []
        while len(ports) < count:
            port = processes.free_port()
            if port not in ports:
                ports.append(port)
    else:
        ports = list(range(base, base + count))
        busy = [p for p in ports if not port_free(p)]
        if busy:
            raise RuntimeError(
                f"port(s) {', '.join(map(str, busy))} on 127.0.0.1 are in use; the stack needs {count} "
                f"consecutive ports from --port-base {base}: choose another base or omit it for free ports"
            )
    return Ports(ports[0], ports[1], ports[2], dict(zip(functions, ports[3:], strict=True)))
