"""``--execute``: run a job's container ``command`` as a local process while the job is RUNNING."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_POLL_S = 0.02
_TERM_GRACE_S = 3.0


@dataclass(frozen=True)
class Outcome:
    """How an execution ended: ``exit`` (with ``code``), ``timeout``, ``error`` or ``cancelled``."""

    kind: str
    code: int | None = None
    detail: str = ""


@dataclass
class _Execution:
    key: str
    cancel: threading.Event
    thread: threading.Thread | None = None


class Executor:
    """One small thread per executing job: waits for RUNNING, runs the command, reports the outcome."""

    def __init__(
        self,
        log_dir: str,
        is_running: Callable[[str], bool],
        on_exit: Callable[[str, Outcome], None],
    ) -> None:
        self.log_dir = log_dir
        self._is_running = is_running
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self._executions: dict[str, _Execution] = {}

    def log_path(self, job_id: int) -> str:
        return os.path.join(self.log_dir, f"{job_id}.log")

    def launch(
        self,
        key: str,
        job_id: int,
        argv: list[str],
        env: dict[str, str],
        start_at: float,
        timeout_s: float | None,
    ) -> None:
        execution = _Execution(key, threading.Event())
        thread = threading.Thread(
            target=self._run,
            args=(execution, job_id, argv, env, start_at, timeout_s),
            name=f"vertex-emulator-exec-{job_id}",
            daemon=True,
        )
        execution.thread = thread
        with self._lock:
            self._executions[key] = execution
        thread.start()

    def cancel(self, key: str) -> None:
        with self._lock:
            execution = self._executions.get(key)
        if execution is not None:
            execution.cancel.set()

    def shutdown(self, wait_s: float = 5.0) -> None:
        """Stop every execution (terminating its process group) and wait for the threads."""
        with self._lock:
            executions = list(self._executions.values())
        for execution in executions:
            execution.cancel.set()
        deadline = time.monotonic() + wait_s
        for execution in executions:
            if execution.thread is not None:
                execution.thread.join(max(0.0, deadline - time.monotonic()))

    def _run(
        self,
        execution: _Execution,
        job_id: int,
        argv: list[str],
        env: dict[str, str],
        start_at: float,
        timeout_s: float | None,
    ) -> None:
        try:
            outcome = self._execute(execution, job_id, argv, env, start_at, timeout_s)
            if outcome is not None:
                self._on_exit(execution.key, outcome)
        finally:
            with self._lock:
                if self._executions.get(execution.key) is execution:
                    del self._executions[execution.key]

    def _execute(
        self,
        execution: _Execution,
        job_id: int,
        argv: list[str],
        env: dict[str, str],
        start_at: float,
        timeout_s: float | None,
    ) -> Outcome | None:
        if execution.cancel.wait(max(0.0, start_at - time.time())):
            return None
        if not self._is_running(execution.key):
            return None
        os.makedirs(self.log_dir, exist_ok=True)
        # stdout and stderr apart: Cloud Logging shows a training job's stderr at ERROR (logging_api.py).
        with open(self.log_path(job_id), "ab") as log, open(self.log_path(job_id) + ".err", "ab") as err:
            try:
                proc = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                log.write(f"vertex-emulator: could not start {argv!r}: {exc}\n".encode())
                return Outcome("error", detail=f"The replica workerpool0-0 could not start: {exc}. ")
            deadline = time.monotonic() + timeout_s if timeout_s is not None else None
            while True:
                code = proc.poll()
                if code is not None:
                    return Outcome("exit", code=code)
                if execution.cancel.is_set():
                    _terminate(proc)
                    return Outcome("cancelled")
                if deadline is not None and time.monotonic() >= deadline:
                    _terminate(proc)
                    return Outcome("timeout")
                execution.cancel.wait(_POLL_S)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL it if it does not exit in time."""
    for sig, grace in ((signal.SIGTERM, _TERM_GRACE_S), (signal.SIGKILL, _TERM_GRACE_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue
