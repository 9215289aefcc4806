"""End to end: `polysync-vertex smoke` against `polysync-vertex dev` (a subprocess, like test_local_stack.py): it
passes, fails with a clear message and exit code when refused, interrupted or when the stack stops halfway, and
leaves no subscription of its own behind in any of those cases."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from polysync_local.smoke import SUBSCRIPTION_PREFIX
from tests.e2e.test_local_stack import CLI, DevStack, start_dev, stop_dev

pytestmark = pytest.mark.timeout(300)


class Smoke:
    """`polysync-vertex smoke` in the background, its output lines collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "smoke", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_line(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.out):
            if time.monotonic() > deadline or self.proc.poll() is not None and self.lines.empty():
                pytest.fail(f"smoke printed no {text!r}: {self.out} {self.stderr()}")
            with contextlib.suppress(queue.Empty):
                self.out.append(self.lines.get(timeout=0.5))

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        time.sleep(0.2)
        while not self.lines.empty():
            self.out.append(self.lines.get())
        return code, "".join(self.out), self.stderr()

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""


def smoke_subscriptions(pubsub_host: str, monkeypatch: pytest.MonkeyPatch, project: str = "local-project") -> list[str]:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_host)
    from google.cloud import pubsub_v1

    client = pubsub_v1.SubscriberClient()
    try:
        names = [s.name for s in client.list_subscriptions(request={"project": f"projects/{project}"}, timeout=10)]
    finally:
        client.close()
    return [n for n in names if n.rsplit("/", 1)[1].startswith(SUBSCRIPTION_PREFIX)]


class TestSmokeAgainstDev:
    @pytest.fixture(scope="class")
    def stack(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
        stack = start_dev(tmp_path_factory.mktemp("smoke-dev"))
        try:
            yield stack
        finally:
            stop_dev(stack)

    def test_passes_with_a_pipeline_and_leaves_no_subscription(
        self, stack: DevStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        code, out, err = Smoke("--endpoints-file", str(stack.endpoints_file), "--pipeline", "--wait", "90").finish()
        assert code == 0, out + err
        assert "event of run A (Custom Job): #" in out and "Success (JOB_STATE_SUCCEEDED)" in out
        assert "Success (PIPELINE_STATE_SUCCEEDED)" in out
        assert "Cancelled (JOB_STATE_CANCELLED)" in out
        for run in ("A (Custom Job)", "P (Pipeline Job)", "B (Custom Job, cancelled)"):
            assert f"status of run {run}: " in out
        assert "passed: 3 runs" in out and "subscription" in out and "deleted" in out
        assert smoke_subscriptions(stack.endpoints["pubsubHost"], monkeypatch) == []

    def test_a_refused_request_exits_3_and_leaves_no_subscription(
        self, stack: DevStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        code, out, err = Smoke("--endpoints-file", str(stack.endpoints_file), "--secret", "wrong").finish()
        assert code == 3, out + err
        assert "smoke failed: submit of run A (Custom Job): HTTP 401 UNAUTHENTICATED" in err
        assert "deleted" in out
        assert smoke_subscriptions(stack.endpoints["pubsubHost"], monkeypatch) == []

    def test_interrupted_it_cancels_its_runs_and_deletes_its_subscription(
        self, stack: DevStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        smoke = Smoke("--endpoints-file", str(stack.endpoints_file), "--wait", "90")
        smoke.wait_line("submitted run B")
        os.killpg(smoke.proc.pid, signal.SIGTERM)
        code, out, err = smoke.finish()
        assert code == 130, out + err
        assert "smoke interrupted; cleaning up" in err
        assert "clean-up: cancel of run B (Custom Job, cancelled): HTTP 20" in out
        assert smoke_subscriptions(stack.endpoints["pubsubHost"], monkeypatch) == []
        run_b = next(line for line in out.splitlines() if "submitted run B" in line).split(": ", 2)[2].split()[0]
        status = subprocess.run(
            [*CLI, "status", run_b, "--json", "--endpoints-file", str(stack.endpoints_file)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(status.stdout)["vertexState"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")


def test_a_stack_stopped_halfway_fails_clearly_and_leaves_no_subscription(
    tmp_path: Path, cloud_emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The functions go away while the smoke waits for events. Its subscription lives on a Pub/Sub that stays up
    (as a deployment's does), on a topic of its own, so what the clean-up leaves there can be checked."""
    from google.cloud import pubsub_v1

    topic = f"projects/local-project/topics/smoke-halfway-{os.getpid()}"
    pubsub_v1.PublisherClient().create_topic(request={"name": topic})
    stack = start_dev(tmp_path)
    try:
        smoke = Smoke(
            "--endpoints-file",
            str(stack.endpoints_file),
            "--status-topic",
            topic,
            "--pubsub-host",
            cloud_emulators["pubsub"],
            "--probe-every",
            "2",
            "--wait",
            "120",
        )
        smoke.wait_line("cancel of run B")
        smoke.wait_line("waiting for run A")  # a status probe while the stack is up
    finally:
        stop_dev(stack)
    code, out, err = smoke.finish()
    assert code == 4, out + err
    assert "smoke failed: status of run" in err and "connector unreachable" in err
    assert "clean-up: run projects/local-project/locations/us-central1/customJobs/" in err  # could not cancel: said
    assert "deleted" in out
    assert smoke_subscriptions(cloud_emulators["pubsub"], monkeypatch) == []
