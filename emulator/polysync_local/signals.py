"""Signals of the local stack's main thread: SIGTERM and SIGINT become exceptions, deferred inside critical sections."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Shutdown(Exception):
    """Raised in the main thread by SIGTERM (see `signals_raise`)."""


_critical_depth = 0
_pending: BaseException | None = None


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM raises `Shutdown` and SIGINT `KeyboardInterrupt` in the main thread, once; later signals are
    ignored so that the clean-up the first one started is not itself interrupted. Inside `critical()` sections
    (starting a process, stopping the stack) the exception is deferred to the end of the section."""
    global _pending
    fired = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        global _pending
        if fired.is_set():
            return
        fired.set()
        exc: BaseException = KeyboardInterrupt() if signum == signal.SIGINT else Shutdown(signal.Signals(signum).name)
        if _critical_depth:
            _pending = exc
            return
        raise exc

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _pending = None


@contextlib.contextmanager
def critical(*, discard: bool = False) -> Iterator[None]:
    """Defer a signal's exception (see `signals_raise`) until the block ends; `discard` drops it instead."""
    global _critical_depth, _pending
    _critical_depth += 1
    try:
        yield
    finally:
        _critical_depth -= 1
        if _critical_depth == 0 and _pending is not None:
            exc, _pending = _pending, None
            if not discard:
                raise exc
