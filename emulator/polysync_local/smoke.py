"""`polysync-vertex smoke`: a deployment (or the local stack) end to end, through the real functions.

1. A temporary subscription of its own on the status topic (filter: this smoke run's jobName; expires after a day
   unused, should the clean-up below ever not run), created before anything is submitted.
2. `submit` of a tiny Custom Job (run A; with --pipeline also a Pipeline Job, run P) and of a second Custom Job
   (run B), then `cancel` of run B.
3. The status events of those runs until A (and P) reach Success and B Cancelled; a Failed or an unexpected end fails.
4. `status` of every run matches its last event (status and sequence).
5. Clean-up, whatever happened (failure, Ctrl-C, SIGTERM): runs not ended are cancelled, the subscription is deleted.

URLs and the webhook secret come from the same places as `doctor`'s (flags, POLYSYNC_VERTEX_<FUNCTION>_URL and
POLYSYNC_VERTEX_SECRET, the endpoints file of `polysync-vertex dev`); the status topic from --status-topic or the
endpoints file. Exit codes as `doctor`'s: 0 passed, 1 a step did not do what it should, 2 usage, 3 the connector
refused a request (4xx), 4 the connector or Pub/Sub unreachable (5xx, connection refused, timeout).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from .client import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    SECRET_ENV,
    Connector,
    Response,
    UsageError,
    event_record,
    load_endpoints,
    url_env,
)
from .signals import Shutdown, critical, signals_raise

DEFAULT_IMAGE = "mirror.gcr.io/library/busybox:1.36"  # a few MB; its default command exits at once
DEFAULT_MACHINE = "e2-standard-4"
FINAL = ("Success", "Failed", "Cancelled")
SUBSCRIPTION_PREFIX = "psv-smoke-"
SCENARIO = "VERTEX_EMULATOR_SCENARIO"  # the local emulator only: keeps run B running until it is cancelled


HELP = (
    "end to end through the real functions: a tiny Custom Job to Success (with --pipeline also a Pipeline Job), "
    "a second one cancelled, events on a temporary subscription of its own, status; cleans up whatever happens"
)
EXAMPLES = """
  polysync-vertex smoke                                # the local stack (./local-endpoints.json)
  polysync-vertex smoke --pipeline --wait 120          # also a Pipeline Job; give up after 2 minutes
  # a deployment (run it after `doctor`, before pointing Polysync at it):
  export POLYSYNC_VERTEX_SECRET=...                    # from Secret Manager
  export POLYSYNC_VERTEX_SUBMIT_URL="$(terraform -chdir=infra output -raw submit_url)"
  export POLYSYNC_VERTEX_CANCEL_URL="$(terraform -chdir=infra output -raw cancel_url)"
  export POLYSYNC_VERTEX_STATUS_URL="$(terraform -chdir=infra output -raw status_url)"
  polysync-vertex smoke --status-topic "$(terraform -chdir=infra output -raw status_topic)" \\
      --pipeline projects/my-proj/locations/us-central1/pipelineJobs/my-template-run

connection: URLs from POLYSYNC_VERTEX_{SUBMIT,CANCEL,STATUS}_URL, else the endpoints file (--endpoints-file, else
$POLYSYNC_VERTEX_ENDPOINTS, else ./local-endpoints.json); the secret from --secret, $POLYSYNC_VERTEX_SECRET or the
endpoints file. Against a deployment the Pub/Sub calls use Application Default Credentials.
"""


class SmokeFailed(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Run:
    label: str
    expect: str
    run_id: str = ""
    status: str = ""
    sequence: int = 0
    events: int = 0


@dataclass
class Smoke:
    connector: Connector
    topic: str
    pubsub_host: str
    local: bool
    wait_s: float
    image: str = DEFAULT_IMAGE
    machine_type: str = DEFAULT_MACHINE
    pipeline: str | None = None
    pipeline_root: str = ""
    out: TextIO = sys.stdout
    job_name: str = field(default_factory=lambda: f"psv-smoke-{datetime.now(UTC):%Y%m%dt%H%M%S}-{secrets.token_hex(3)}")
    subscription: str = ""
    probe_s: float = 30.0
    runs: list[Run] = field(default_factory=list)
    _subscriber: Any = None
    _pull_failures: int = 0

    def say(self, text: str) -> None:
        print(f"smoke: {text}", file=self.out, flush=True)

    # -- the steps ---------------------------------------------------------------------------------------------
    def run(self) -> None:
        self._subscribe()
        self._submit(Run("A (Custom Job)", "Success"), self._custom_body(keep_running=False))
        if self.pipeline is not None:
            self._submit(Run("P (Pipeline Job)", "Success"), self._pipeline_body())
        b = self._submit(Run("B (Custom Job, cancelled)", "Cancelled"), self._custom_body(keep_running=True))
        resp = self._call(f"cancel of run {b.label}", self.connector.cancel(b.run_id))
        b.status = str(resp.body.get("status") or "")
        self.say(f"cancel of run {b.label}: HTTP {resp.status} ({resp.body.get('vertexState', '?')})")
        if resp.status == 200 and b.status in FINAL:
            b.expect = b.status  # it ended before the cancel reached it: nothing left to cancel
        self._follow()
        for run in self.runs:
            got = self._call(f"status of run {run.label}", self.connector.status(run.run_id)).body
            if (got.get("status"), got.get("sequence")) != (run.status, run.sequence):
                raise SmokeFailed(
                    f"status of run {run.label} says {got.get('status')} #{got.get('sequence')}, its last event "
                    f"{run.status} #{run.sequence}"
                )
            self.say(f"status of run {run.label}: {run.status} (sequence {run.sequence}, as its last event)")

    def _subscribe(self) -> None:
        if self.pubsub_host:
            os.environ["PUBSUB_EMULATOR_HOST"] = self.pubsub_host
        from google.cloud import pubsub_v1

        project = self.topic.split("/")[1] if self.topic.startswith("projects/") else ""
        if not project or "/topics/" not in self.topic:
            raise UsageError(f"--status-topic must be projects/P/topics/T, got {self.topic!r}")
        name = f"projects/{project}/subscriptions/{SUBSCRIPTION_PREFIX}{self.job_name.removeprefix('psv-smoke-')}"
        self._subscriber = pubsub_v1.SubscriberClient()
        try:
            self._subscriber.create_subscription(
                request={
                    "name": name,
                    "topic": self.topic,
                    "filter": f'attributes.jobName = "{self.job_name}"',
                    "enable_message_ordering": True,
                    "ack_deadline_seconds": 60,
                    "expiration_policy": {"ttl": {"seconds": 24 * 3600}},
                },
                timeout=30,
            )
        except Exception as exc:  # noqa: BLE001 - reported with what to check
            raise SmokeFailed(
                f"cannot create a subscription on {self.topic}: {str(exc)[:300]} (the caller needs "
                "pubsub.subscriptions.create on the project and pubsub.topics.attachSubscription on the topic)",
                EXIT_UNAVAILABLE,
            ) from None
        self.subscription = name
        self.say(f"subscription {name} created (jobName {self.job_name})")

    def _custom_body(self, *, keep_running: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "jobName": self.job_name,
            "attributes": {"machineType": self.machine_type, "containerImageUri": self.image},
        }
        if self.local:
            scenario = "PENDING:1,RUNNING:600,SUCCEEDED" if keep_running else "PENDING:1,RUNNING:2,SUCCEEDED"
            body["parameters"] = [{"name": SCENARIO, "direction": "Input", "type": "String", "value": scenario}]
        return body

    def _pipeline_body(self) -> dict[str, Any]:
        template = self.pipeline or ""
        if template.startswith("projects/"):
            return {"jobName": self.job_name, "externalId": template}
        if not template and self.local:
            template = "https://us-kfp.pkg.dev/local-project/smoke/psv-smoke/latest"
        if not template or not self.pipeline_root:
            raise UsageError(
                "--pipeline needs a template (a PipelineJob's resource name, or a template URI with "
                "--pipeline-root gs://BUCKET/DIR)"
            )
        return {
            "jobName": self.job_name,
            "jobType": "Vertex AI Pipeline Job",
            "attributes": {"templateUri": template, "gcsOutputDirectory": self.pipeline_root},
        }

    def _submit(self, run: Run, body: dict[str, Any]) -> Run:
        body = {**body, "requestId": f"{self.job_name}-{len(self.runs) + 1}"}
        resp = self._call(f"submit of run {run.label}", self.connector.submit(body))
        run.run_id, run.status = str(resp.body["runId"]), str(resp.body.get("status") or "")
        run.sequence = int(resp.body.get("sequence") or 1)
        self.runs.append(run)
        self.say(f"submitted run {run.label}: {run.run_id} [HTTP {resp.status}]")
        return run

    def _follow(self) -> None:
        """Events until every run has ended; after `probe_s` without one, `status` of the runs still going (a
        stopped connector shows up here, not at the end of --wait)."""
        by_id = {r.run_id: r for r in self.runs}
        started = progress = time.monotonic()
        while any(r.status not in FINAL for r in self.runs):
            now = time.monotonic()
            if now - started > self.wait_s:
                waiting = ", ".join(f"{r.label} {r.status or '?'}" for r in self.runs if r.status not in FINAL)
                raise SmokeFailed(
                    f"no final event within {self.wait_s:.0f} s for: {waiting} (is the poll function running and the "
                    "scheduler ticking? `polysync-vertex doctor` checks the rest)"
                )
            if now - progress >= self.probe_s:
                for run in self.runs:
                    if run.status not in FINAL:
                        got = self._call(f"status of run {run.label}", self.connector.status(run.run_id)).body
                        self.say(f"waiting for run {run.label}: {got.get('status')} ({got.get('vertexState')})")
                progress = now
            for event in self._pull():
                if self._event(by_id, event):
                    progress = time.monotonic()

    def _pull(self) -> list[dict[str, Any]]:
        """What arrived within about 2 s (acked); Pub/Sub unreachable three times in a row fails the smoke."""
        from google.api_core import exceptions as gexc

        try:
            response = self._subscriber.pull(
                request={"subscription": self.subscription, "max_messages": 100}, timeout=2.0, retry=None
            )
        except gexc.DeadlineExceeded:
            return []
        except Exception as exc:  # noqa: BLE001 - Pub/Sub itself unreachable or the subscription gone
            self._pull_failures += 1
            if self._pull_failures >= 3:
                raise SmokeFailed(f"reading {self.subscription} failed: {str(exc)[:300]}", EXIT_UNAVAILABLE) from None
            time.sleep(1.0)
            return []
        self._pull_failures = 0
        received = list(response.received_messages)
        if received:
            self._subscriber.acknowledge(
                request={"subscription": self.subscription, "ack_ids": [r.ack_id for r in received]}
            )
        return [event_record(r) for r in received]

    def _event(self, by_id: dict[str, Run], event: dict[str, Any]) -> bool:
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        run = by_id.get(str(event.get("attributes", {}).get("ce-subject") or data.get("runId") or ""))
        if run is None or int(data.get("sequence") or 0) <= run.sequence:
            return False  # another run of the same job name, or a redelivery
        run.events += 1
        run.status, run.sequence = str(data.get("status") or ""), int(data.get("sequence") or 0)
        self.say(f"event of run {run.label}: #{run.sequence} {run.status} ({data.get('vertexState', '?')})")
        if run.status in FINAL and run.status != run.expect:
            error = data.get("error") or {}
            raise SmokeFailed(f"run {run.label} ended {run.status}, expected {run.expect}: {error.get('message', '')}")
        return True

    def _call(self, step: str, resp: Response) -> Response:
        if not resp.ok:
            raise SmokeFailed(f"{step}: {resp.describe_error()}", resp.exit_code)
        return resp

    # -- clean-up ----------------------------------------------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Cancel runs that have not ended, delete the subscription. Returns what could not be cleaned up."""
        problems: list[str] = []
        for run in self.runs:
            if run.status in FINAL:
                continue
            resp = self.connector.cancel(run.run_id)
            if resp.ok:
                self.say(f"clean-up: cancel of run {run.label}: HTTP {resp.status}")
            else:
                problems.append(f"run {run.run_id} not cancelled: {resp.describe_error()}")
        if self.subscription and self._subscriber is not None:
            try:
                self._subscriber.delete_subscription(request={"subscription": self.subscription}, timeout=30)
                self.say(f"clean-up: subscription {self.subscription} deleted")
            except Exception as exc:  # noqa: BLE001 - reported; it expires on its own after a day unused
                problems.append(
                    f"subscription {self.subscription} not deleted ({str(exc)[:200]}); it expires a day "
                    "after its last use, or: gcloud pubsub subscriptions delete " + self.subscription
                )
        if self._subscriber is not None:
            self._subscriber.close()
        return problems


def run_smoke(smoke: Smoke) -> int:
    code = EXIT_OK
    with signals_raise():
        try:
            smoke.run()
            smoke.say(f"passed: {len(smoke.runs)} runs through submit, events, cancel and status")
        except SmokeFailed as exc:
            print(f"error: smoke failed: {exc}", file=sys.stderr, flush=True)
            code = exc.code
        except (KeyboardInterrupt, Shutdown):
            print("error: smoke interrupted; cleaning up", file=sys.stderr, flush=True)
            code = 130
        finally:
            with critical(discard=True):
                problems = smoke.cleanup()
            for problem in problems:
                print(f"error: clean-up: {problem}", file=sys.stderr, flush=True)
            if problems and code == EXIT_OK:
                code = EXIT_FAILED
    return code


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoints-file", metavar="PATH", help="endpoints JSON of a local stack (URLs, secret, topic)")
    p.add_argument("--secret", help=f"webhook HMAC secret (prefer ${SECRET_ENV}: flags show up in `ps`)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each function's answer")
    p.add_argument("--status-topic", help="projects/P/topics/T (terraform output status_topic)")
    p.add_argument("--pubsub-host", help="Pub/Sub emulator host:port (default: the endpoints file's)")
    p.add_argument(
        "--pipeline",
        nargs="?",
        const="",
        metavar="TEMPLATE",
        help="also a Pipeline Job: a PipelineJob resource name, or a template URI with --pipeline-root",
    )
    p.add_argument("--pipeline-root", default="", metavar="GCS_DIR", help="gcsOutputDirectory for a template URI")
    p.add_argument("--image", default=DEFAULT_IMAGE, help=f"the Custom Jobs' container image (default {DEFAULT_IMAGE})")
    p.add_argument("--machine-type", default=DEFAULT_MACHINE, help=f"their machine type (default {DEFAULT_MACHINE})")
    p.add_argument("--wait", type=float, default=1800.0, help="seconds to wait for the final events (default 1800)")
    p.add_argument(
        "--probe-every",
        type=float,
        default=30.0,
        metavar="S",
        help="while no event arrives, ask `status` every S seconds (default 30)",
    )


def cmd_smoke(args: argparse.Namespace) -> int:
    urls = {fn: os.environ.get(url_env(fn), "") for fn in ("submit", "cancel", "status")}
    secret = args.secret or os.environ.get(SECRET_ENV, "")
    endpoints: dict[str, Any] = {}
    if not (all(urls.values()) and secret and args.status_topic):
        endpoints = load_endpoints(args.endpoints_file)
    for fn, url in urls.items():
        urls[fn] = url or str((endpoints.get("functions") or {}).get(fn) or "")
    topic = args.status_topic or str(endpoints.get("statusTopic") or "")
    if not topic:
        raise UsageError("no status topic: pass --status-topic (terraform output status_topic)")
    connector = Connector(urls, secret or str(endpoints.get("webhookSecret") or ""), timeout=args.timeout)
    smoke = Smoke(
        connector=connector,
        topic=topic,
        pubsub_host=args.pubsub_host or str(endpoints.get("pubsubHost") or ""),
        local=str(endpoints.get("vertexEndpoint") or "").startswith("http://"),
        wait_s=args.wait,
        probe_s=args.probe_every,
        image=args.image,
        machine_type=args.machine_type,
        pipeline=args.pipeline,
        pipeline_root=args.pipeline_root,
    )
    missing = [fn for fn, url in urls.items() if not url]
    if missing or not connector.secret:
        what = ", ".join(url_env(fn) for fn in missing) or SECRET_ENV
        raise UsageError(f"missing {what}: set it, or pass --endpoints-file of a local stack")
    if smoke.local and not smoke.pipeline_root:
        smoke.pipeline_root = f"gs://{topic.split('/')[1]}-smoke/pipeline-root"  # the emulator writes nothing there
    if smoke.pipeline is not None:
        smoke._pipeline_body()  # a usage error before anything is created
    return run_smoke(smoke)
