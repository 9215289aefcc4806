"""The stack's processes: kill a function's process group, start it again, tick a second poller."""

from __future__ import annotations

import contextlib
import os
import signal

from polysync_local import processes
from polysync_local.processes import ManagedProcess
from polysync_local.stack import LocalStack
from polysync_local.standins import post_pubsub_event

from .config import PROJECT


def function_url(stack: LocalStack, name: str) -> str:
    assert stack.ports is not None
    return f"http://127.0.0.1:{stack.ports.functions[name]}/"


def kill_group(proc: ManagedProcess) -> None:
    """SIGKILL the process group at once: requests in flight die with it, as when an instance is lost."""
    if proc.proc is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.proc.wait(timeout=10)
    proc.stop(grace=1)  # anything left in the group


def start_function(
    stack: LocalStack, name: str, cmd: list[str], env: dict[str, str], url: str, log_name: str
) -> ManagedProcess:
    """Start (or restart) a function process under `name` in the stack, so that `stack.stop()` stops it too."""
    proc = ManagedProcess(name, cmd, env=env, log_path=stack.log_dir / log_name)
    stack.processes[name] = proc
    proc.start()
    processes.wait_http(url, proc, timeout=90)
    return proc


def with_port(cmd: list[str], port: int) -> list[str]:
    out = list(cmd)
    out[out.index("--port") + 1] = str(port)
    return out


def post_tick(url: str, subscription: str, timeout: float = 120.0) -> int:
    """One scheduler tick as Eventarc delivers it (binary-mode CloudEvent of a Pub/Sub message)."""
    topic = f"projects/{PROJECT}/topics/chaos-ticks"
    return post_pubsub_event(url, timeout, data=b"{}", topic=topic, subscription=subscription)
