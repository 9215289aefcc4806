"""``python -m vertex_emulator --host 127.0.0.1 --port 0 [--time-factor F] [--execute]``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vertex_emulator",
        description="Local Vertex AI v1 REST emulator (customJobs, pipelineJobs, batchPredictionJobs).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free port (default 0)")
    parser.add_argument(
        "--time-factor",
        type=float,
        default=1.0,
        help="multiplies every scenario duration, cancel delay and timeout (e.g. 0.01 in tests)",
    )
    parser.add_argument(
        "--execute", action="store_true", help="run a job's container command locally while it is RUNNING"
    )
    parser.add_argument(
        "--cancel-delay",
        type=float,
        default=1.0,
        help="seconds a cancelled job stays CANCELLING before CANCELLED, scaled by --time-factor (default 1)",
    )
    parser.add_argument("--log-dir", default=None, help="where --execute writes job logs (default: a temp dir)")
    parser.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    args = parser.parse_args(argv)
    if args.time_factor < 0 or args.cancel_delay < 0:
        parser.error("--time-factor and --cancel-delay must not be negative")

    server = EmulatorServer(
        host=args.host,
        port=args.port,
        time_factor=args.time_factor,
        execute=args.execute,
        verbose=args.verbose,
        log_dir=args.log_dir,
        cancel_delay=args.cancel_delay,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"vertex-emulator listening on {server.url}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
