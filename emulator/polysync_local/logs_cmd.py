"""`polysync-vertex logs RUN_ID [--tail N] [--follow]`: a run's log lines, through the signed `status?logs=N`.

Without --follow: the run's last N lines (1-200), oldest first. With --follow: those, then every new line as it comes
(one status call every --interval seconds), until the run has ended and its last lines are printed; Ctrl-C stops it
(exit 130). Works on any run, running or ended, of any connector the CLI can reach (endpoints file or --url/--secret).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from typing import Any

from .client import EXIT_OK, SECRET_ENV, Connector, Response, load_endpoints, url_env

HELP = "show a run's log lines (GET status?logs=N), optionally following them until the run ends"
EXAMPLES = """
  polysync-vertex logs projects/local-project/locations/us-central1/customJobs/123
  polysync-vertex logs "$RUN_ID" --tail 200
  polysync-vertex logs "$RUN_ID" --follow            # until the run ends; Ctrl-C stops
  polysync-vertex logs "$RUN_ID" --json | jq -r .text
"""
MAX_TAIL = 200
FOLLOW_WINDOW = 200  # lines asked for on each --follow poll; lines seen before are not printed again


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="the run's resource name (status's runId)")
    parser.add_argument("--tail", type=int, default=50, metavar="N", help=f"last N lines, 1-{MAX_TAIL} (default 50)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until the run ends")
    parser.add_argument("--interval", type=float, default=2.0, help="--follow: seconds between polls (default 2)")
    parser.set_defaults(func=run)


def connector(args: argparse.Namespace) -> Connector:
    """The status function's URL and secret: --url/--secret, their environment variables, or the endpoints file."""
    url = args.url or os.environ.get(url_env("status"), "")
    secret = args.secret or os.environ.get(SECRET_ENV, "")
    endpoints: dict[str, Any] = load_endpoints(args.endpoints_file) if not (url and secret) else {}
    urls = dict(endpoints.get("functions") or {})
    if url:
        urls["status"] = url
    return Connector(urls, secret or str(endpoints.get("webhookSecret") or ""), timeout=args.timeout)


def format_line(line: dict[str, Any]) -> str:
    severity, source = str(line.get("severity", "")), str(line.get("source", ""))
    return f"{line.get('time', '')}  {severity:<8} {source:<16} {line.get('text', '')}"


class Printer:
    """Prints each line once (by time, source and text), remembering the last lines it printed."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.seen: deque[tuple[str, str, str]] = deque(maxlen=4 * FOLLOW_WINDOW)

    def show(self, lines: list[dict[str, Any]]) -> int:
        printed = 0
        for line in lines:
            key = (str(line.get("time")), str(line.get("source")), str(line.get("text")))
            if key in self.seen:
                continue
            self.seen.append(key)
            print(json.dumps(line, ensure_ascii=False) if self.as_json else format_line(line), flush=True)
            printed += 1
        return printed


def fail(resp: Response, args: argparse.Namespace) -> int:
    if args.json and resp.body is not None:
        print(json.dumps(resp.body, ensure_ascii=False))
    print(f"error: {resp.describe_error()}", file=sys.stderr)
    return resp.exit_code


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.tail <= MAX_TAIL:
        print(f"error: --tail must be 1 to {MAX_TAIL}", file=sys.stderr)
        return 2
    status = connector(args)
    printer = Printer(args.json)
    resp = status.get("status", {"runId": args.run_id, "logs": str(args.tail)})
    if not resp.ok:
        return fail(resp, args)
    printer.show(list(resp.body.get("logs", {}).get("lines") or []))
    ended = resp.body.get("status") != "Running"
    while args.follow and not ended:
        time.sleep(max(0.1, args.interval))
        resp = status.get("status", {"runId": args.run_id, "logs": str(FOLLOW_WINDOW)})
        if not resp.ok:
            return fail(resp, args)
        ended = resp.body.get("status") != "Running"
        printer.show(list(resp.body.get("logs", {}).get("lines") or []))
    if args.follow and not args.json:
        print(f"-- run ended: {resp.body.get('status')} ({resp.body.get('vertexState')})", file=sys.stderr)
    return EXIT_OK
