"""Start and stop the emulators as process groups, so no Java server outlives its wrapper.

`gcloud emulators ... start` is a Python wrapper that starts a Java server; killing the wrapper alone leaves the
server running. Each emulator therefore starts in its own session (process group) and is stopped by signalling
the whole group: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class PrerequisiteError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_prerequisites() -> None:
    """Fail early, saying what to install, when gcloud or Java is missing."""
    missing = []
    if not shutil.which("gcloud"):
        missing.append("the gcloud CLI (https://cloud.google.com/sdk/docs/install)")
    if not shutil.which("java"):
        missing.append("a Java runtime >= 11 (e.g. `apt-get install default-jre-headless`)")
    if missing:
        raise PrerequisiteError(
            "the local Firestore and Pub/Sub emulators need "
            + " and ".join(missing)
            + "; then `gcloud components install cloud-firestore-emulator pubsub-emulator beta` "
            "(or the Debian packages google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator)"
        )


@dataclass
class ManagedProcess:
    name: str
    cmd: list[str]
    env: dict[str, str] | None = None
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> ManagedProcess:
        if self.log_path is None:
            fd, path = tempfile.mkstemp(prefix=f"psv-{self.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(path)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until it exits
        # Through the supervisor (leader of a new process group): it stops the group if this process dies first.
        supervised = [sys.executable, "-m", "polysync_local.supervise", str(os.getpid()), "--", *self.cmd]
        self.proc = subprocess.Popen(
            supervised,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, wait, then SIGKILL what is left."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_alive(pgid):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.1)
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def group_alive(pgid: int) -> bool:
    """Whether process group `pgid` has a live member (zombies do not count; a group we may not signal does)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc").exists():
        return True
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (for tests that prove nothing was left behind)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def wait_http(
    url: str, process: ManagedProcess, timeout: float = 90.0, *, cancel: threading.Event | None = None
) -> None:
    """Wait until `url` answers with any HTTP status below 500 (a 401 or 405 from a function counts as up).

    Raises RuntimeError if the process exits, the timeout passes (the process is then stopped), or `cancel` is set.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cancel is not None and cancel.is_set():
            raise RuntimeError(f"{process.name}: start-up cancelled")
        if not process.alive():
            raise RuntimeError(f"{process.name} exited early:\n{process.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    process.stop()
    raise RuntimeError(f"{process.name} did not become ready at {url} within {timeout:.0f}s:\n{process.log_tail()}")


@dataclass
class Emulator:
    name: str
    host: str  # host:port
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.process.stop()


def firestore_command(host: str, project: str = "local-project") -> list[str]:
    return ["gcloud", "emulators", "firestore", "start", f"--host-port={host}", f"--project={project}", "--quiet"]


def pubsub_command(host: str, project: str = "local-project") -> list[str]:
    return ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={host}", f"--project={project}", "--quiet"]


def vertex_command(port: int, *, time_factor: float = 1.0, execute: bool = False) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "vertex_emulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--time-factor",
        str(time_factor),
    ]
    if execute:
        cmd.append("--execute")
    return cmd


def storage_command(port: int) -> list[str]:
    """The Cloud Storage emulator (PyPI `gcp-storage-emulator`, pure Python), in memory: the official client talks
    to it through STORAGE_EMULATOR_HOST=http://127.0.0.1:<port>."""
    return [
        sys.executable,
        "-m",
        "gcp_storage_emulator",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
        "--quiet",
    ]


def start_firestore(port: int | None = None, project: str = "local-project") -> Emulator:
    check_prerequisites()
    host = f"127.0.0.1:{port or free_port()}"
    proc = ManagedProcess("firestore", firestore_command(host, project)).start()
    wait_http(f"http://{host}/", proc)
    return Emulator("firestore", host, proc)


def start_pubsub(port: int | None = None, project: str = "local-project") -> Emulator:
    check_prerequisites()
    host = f"127.0.0.1:{port or free_port()}"
    proc = ManagedProcess("pubsub", pubsub_command(host, project)).start()
    wait_http(f"http://{host}/", proc)
    return Emulator("pubsub", host, proc)


def start_vertex(port: int | None = None, *, time_factor: float = 1.0, execute: bool = False) -> Emulator:
    port = port or free_port()
    host = f"127.0.0.1:{port}"
    proc = ManagedProcess("vertex", vertex_command(port, time_factor=time_factor, execute=execute)).start()
    wait_http(f"http://{host}/emulator/health", proc, timeout=30)
    return Emulator("vertex", host, proc)


def start_storage(port: int | None = None, buckets: tuple[str, ...] = ()) -> Emulator:
    """The Cloud Storage emulator with `buckets` created. Its `url` is the STORAGE_EMULATOR_HOST value."""
    port = port or free_port()
    host = f"127.0.0.1:{port}"
    proc = ManagedProcess("storage", storage_command(port)).start()
    wait_http(f"http://{host}/", proc, timeout=30)
    for bucket in buckets:
        create_bucket(host, bucket)
    return Emulator("storage", host, proc)


def create_bucket(host: str, bucket: str, project: str = "local-project") -> None:
    """Create `bucket` in the Cloud Storage emulator at `host` (JSON API `buckets.insert`); one that exists is kept."""
    req = urllib.request.Request(
        f"http://{host}/storage/v1/b?project={project}",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise


def reset_firestore(host: str, project: str) -> None:
    req = urllib.request.Request(
        f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents", method="DELETE"
    )
    with urllib.request.urlopen(req, timeout=10):
        pass
