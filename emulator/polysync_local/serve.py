"""`python -m polysync_local.serve --target NAME --source main.py [--signature-type http] --host H --port P`:
one function of functions/main.py under gunicorn, as `python -m functions_framework` serves it, hardened.

functions-framework's own launcher runs gunicorn's threaded worker with no read timeout and answers malformed
HTTP with gunicorn's HTML pages. The local stack serves every function through this module instead, which builds
the same app (`functions_framework.create_app`) and runs it under the same `GunicornApplication`, with:

- a socket read timeout (`--read-timeout`, default 10 s) on every connection: headers or body that stop arriving
  for that long end the request (a body: 400 in the contract's form, from `web._read_body`; headers: the
  connection is closed). Slow clients cannot hold a worker thread for longer than that per read.
- `--threads` worker threads (default 32), so a burst of slow connections does not queue the others behind them;
- gunicorn's own error answers (conflicting `Content-Length` + `Transfer-Encoding`, bad request line or header,
  oversized header fields) written as JSON in the contract's error form instead of HTML;
- Flask's own answers (`/favicon.ico`, `/robots.txt` 404) as JSON, through `web.install_error_handlers`.

`docs/local-stack.md` says what Cloud Run's front end does instead where this process cannot reach.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import TConn, ThreadWorker

DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_THREADS = 32
READ_TIMEOUT = DEFAULT_READ_TIMEOUT  # set in the worker process from the command line (see `main`)


def json_error(http: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response in the contract's form; the connection closes after it."""
    from polysync_vertex.web import framework_error_body

    body = json.dumps(framework_error_body(http, message or reason)).encode()
    head = (
        f"HTTP/1.1 {http} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Replaces `gunicorn.util.write_error` (gunicorn's HTML error page) in this process."""
    gunicorn_util.write_nonblock(sock, json_error(status_int, reason, mesg))


class TimedConn(TConn):
    """A connection whose blocking reads time out after READ_TIMEOUT s (set again before every request: gunicorn
    resets the socket to blocking without a timeout in between)."""

    def init(self) -> None:
        super().init()
        self.sock.settimeout(READ_TIMEOUT)


class HardenedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker with read timeouts (TimedConn) and JSON error answers."""

    def init_process(self) -> None:
        gunicorn_util.write_error = write_json_error
        super().init_process()

    def accept(self, listener: Any) -> None:  # as ThreadWorker.accept, with TimedConn
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            client_sock.setblocking(True)
            conn = TimedConn(self.cfg, client_sock, client_addr, listener.getsockname())
            self.enqueue_req(conn)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m polysync_local.serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--signature-type", default="http", choices=["http", "event", "cloudevent", "typed"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--read-timeout", type=float, default=DEFAULT_READ_TIMEOUT, help="seconds per socket read")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    return p


def main(argv: list[str] | None = None) -> int:
    global READ_TIMEOUT
    args = build_parser().parse_args(argv)
    READ_TIMEOUT = args.read_timeout  # the worker is forked from this process and inherits it

    from functions_framework import create_app
    from functions_framework._http.gunicorn import GunicornApplication

    from polysync_vertex import web

    app = create_app(args.target, args.source, args.signature_type)
    web.install_error_handlers(app)
    GunicornApplication(
        app,
        args.host,
        args.port,
        False,
        worker_class="polysync_local.serve.HardenedThreadWorker",
        threads=args.threads,
    ).run()
    return 0


if __name__ == "__main__":
    # Run as the package module, whose READ_TIMEOUT the worker class reads (not this `__main__` copy).
    from polysync_local.serve import main as package_main

    sys.exit(package_main())
