"""`python -m polysync_local.supervise PARENT_PID -- CMD...`: run CMD and take all it started down when told to
(SIGTERM) or when the process that started it (PARENT_PID) is gone.

ManagedProcess starts every emulator and function through this, as the leader of a new process group. The gcloud
emulator wrappers move themselves and their Java server into a process group of their own, so signalling the
supervisor's group is not enough: on SIGTERM the supervisor signals the command's group too and waits for it to
empty. If the starter dies without stopping it (SIGKILL, a crash, a CI timeout), nobody would, and the Java server
would run on forever: the supervisor notices the orphaning within half a second and stops everything itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from polysync_local.processes import group_alive, group_members

GRACE_SECONDS = 10.0


class Supervisor:
    def __init__(self, cmd: list[str]) -> None:
        self.child = subprocess.Popen(cmd)
        self.groups = {os.getpgid(0)}
        self._note_child_group()

    def _note_child_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.groups.add(os.getpgid(self.child.pid))

    def stop(self, *_: Any) -> None:
        """SIGTERM every group the command runs in, wait for them to empty, then SIGKILL what is left: also what
        is left in the supervisor's own group (a worker that outlived its master, a process ignoring SIGTERM)."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self._note_child_group()
        own = os.getpgid(0)
        others = self.groups - {own}
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and (
            self.child.poll() is None or any(group_alive(g) for g in others) or self._own_group_others(own) is True
        ):
            time.sleep(0.1)
        for group in others:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.child.poll() is None:
                self.child.kill()
        if self._own_group_others(own) is not False:
            # The group's last stragglers, and this process with them (it is exiting anyway).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(own, signal.SIGKILL)
        os._exit(143)

    @staticmethod
    def _own_group_others(own: int) -> bool | None:
        """Whether a process other than this one lives in group `own` (None: cannot tell, no /proc)."""
        if not Path("/proc").exists():
            return None
        return any(pid != os.getpid() for pid in group_members(own))


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m polysync_local.supervise PARENT_PID -- CMD...", file=sys.stderr)
        return 2
    parent = int(argv[0])
    supervisor = Supervisor(argv[2:])
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    while True:
        code = supervisor.child.poll()
        if code is not None:
            return code
        supervisor._note_child_group()
        if os.getppid() != parent:
            supervisor.stop()
        time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
