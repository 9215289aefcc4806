"""The local stack: everything polysync-vertex needs, on 127.0.0.1, with no Google account.

- Firestore and Pub/Sub emulators (gcloud) and the project's Vertex AI emulator, each in its own process group;
- every function of functions/main.py under functions-framework, one process (group) each;
- the Pub/Sub topics and subscriptions Terraform creates (tick, shard, status with an ordered pull subscription);
- a scheduler loop that publishes the poll tick to the tick topic, as Cloud Scheduler does;
- an Eventarc stand-in per event function: it pulls the trigger's subscription and POSTs each message to the
  function as a binary-mode CloudEvent `google.cloud.pubsub.topic.v1.messagePublished`, acking on 2xx and leaving
  the message for redelivery with back-off otherwise (the triggers' RETRY_POLICY_RETRY).

`LocalStack.start()` writes the endpoints file of the contract; `stop()` ends every process it started.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from . import processes
from .processes import ManagedProcess

log = logging.getLogger("polysync_local.stack")

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_SOURCE = ROOT / "functions" / "main.py"
HTTP_FUNCTIONS = ("submit", "cancel", "status", "templates")
EVENT_FUNCTIONS = ("poll", "poll_shard")
NAME_PREFIX = "polysync-vertex"  # Terraform's default name_prefix
ALLOWED_LOCATIONS = "us-central1,europe-west4"
# Settings the stack decides; any other PSV_* variable in the caller's environment is passed to the functions.
OWNED_SETTINGS = frozenset(
    {"PSV_PROJECT", "PSV_DEFAULT_LOCATION", "PSV_VERTEX_ENDPOINT", "PSV_STATUS_TOPIC", "PSV_SHARD_TOPIC"}
)
PUBSUB_MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
DELIVERY_TIMEOUT = 540.0  # the event functions' timeout_seconds in infra/functions.tf
RETRY_MIN_SECONDS, RETRY_MAX_SECONDS = 1, 10  # local back-off for failed deliveries (Pub/Sub's is 10 s .. 600 s)


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


@dataclass
class StackConfig:
    endpoints_file: Path = Path("local-endpoints.json")
    port_base: int | None = None
    time_factor: float = 1.0
    tick_seconds: float = 2.0
    execute: bool = False
    project: str = "local-project"
    location: str = "us-central1"
    log_dir: Path | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))  # PSV_* overrides are read from here


@dataclass
class _Ports:
    firestore: int
    pubsub: int
    vertex: int
    functions: dict[str, int]

    def all(self) -> list[int]:
        return [self.firestore, self.pubsub, self.vertex, *self.functions.values()]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _allocate_ports(base: int | None) -> _Ports:
    names = [*HTTP_FUNCTIONS, *EVENT_FUNCTIONS]
    if base is None:
        ports: list[int] = []
        while len(ports) < 3 + len(names):
            port = processes.free_port()
            if port not in ports:
                ports.append(port)
    else:
        ports = list(range(base, base + 3 + len(names)))
        busy = [p for p in ports if not _port_free(p)]
        if busy:
            raise RuntimeError(
                f"port(s) {', '.join(map(str, busy))} on 127.0.0.1 are in use; the stack needs {len(ports)} "
                f"consecutive ports from --port-base {base}: choose another base or omit it for free ports"
            )
    return _Ports(ports[0], ports[1], ports[2], dict(zip(names, ports[3:], strict=True)))


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rfc3339(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return _now_rfc3339()


class EventarcForwarder(threading.Thread):
    """Delivers the messages of one pull subscription to an event function, like an Eventarc Pub/Sub trigger.

    One delivery at a time (the functions run with max_instance_request_concurrency = 1). A 2xx answer acks the
    message; anything else leaves it unacked with an ack deadline of the back-off, so Pub/Sub redelivers it.
    """

    def __init__(self, subscriber: Any, subscription: str, topic: str, url: str, stop: threading.Event) -> None:
        super().__init__(name=f"eventarc-{url}", daemon=True)
        self.subscriber = subscriber
        self.subscription = subscription
        self.topic = topic
        self.url = url
        self.stop_event = stop
        self.delivered = 0
        self.failed = 0
        self._attempts: dict[str, int] = {}

    def run(self) -> None:
        from google.api_core import exceptions as gexc

        while not self.stop_event.is_set():
            try:
                response = self.subscriber.pull(
                    request={"subscription": self.subscription, "max_messages": 1}, timeout=2, retry=None
                )
            except (gexc.DeadlineExceeded, gexc.ServiceUnavailable):
                continue
            except Exception as exc:  # noqa: BLE001 - the emulator going away during shutdown, or a hiccup
                if not self.stop_event.is_set():
                    log.warning("pulling %s failed: %s", self.subscription, exc)
                    self.stop_event.wait(1)
                continue
            for received in response.received_messages:
                if self.stop_event.is_set():
                    return
                self._deliver(received)

    def _deliver(self, received: Any) -> None:
        message = received.message
        status = self.post(message)
        try:
            if 200 <= status < 300:
                self._attempts.pop(message.message_id, None)
                self.delivered += 1
                self.subscriber.acknowledge(request={"subscription": self.subscription, "ack_ids": [received.ack_id]})
                return
            self.failed += 1
            attempt = self._attempts.get(message.message_id, 0) + 1
            self._attempts[message.message_id] = attempt
            backoff = min(RETRY_MAX_SECONDS, RETRY_MIN_SECONDS * 2 ** (attempt - 1))
            if not self.stop_event.is_set():
                log.warning(
                    "%s answered %s to message %s (attempt %d); redelivered in %d s",
                    self.url,
                    status or "no response",
                    message.message_id,
                    attempt,
                    backoff,
                )
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": self.subscription,
                    "ack_ids": [received.ack_id],
                    "ack_deadline_seconds": backoff,
                }
            )
        except Exception as exc:  # noqa: BLE001 - an unacked message is redelivered anyway
            if not self.stop_event.is_set():
                log.warning("acknowledging on %s failed: %s", self.subscription, exc)

    def post(self, message: Any) -> int:
        """POST one Pub/Sub message as Eventarc does (binary content mode); returns the HTTP status (0: none)."""
        publish_time = _rfc3339(message.publish_time)
        wrapped: dict[str, Any] = {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message.message_id,
            "message_id": message.message_id,
            "publishTime": publish_time,
            "publish_time": publish_time,
        }
        if message.ordering_key:
            wrapped["orderingKey"] = message.ordering_key
        body = json.dumps({"message": wrapped, "subscription": self.subscription}).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "ce-specversion": "1.0",
                "ce-id": message.message_id,
                "ce-source": f"//pubsub.googleapis.com/{self.topic}",
                "ce-type": PUBSUB_MESSAGE_PUBLISHED,
                "ce-time": publish_time,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return 0


class Scheduler(threading.Thread):
    """Publishes the poll tick (data `{}`, as the Cloud Scheduler job in infra/scheduler.tf) every `interval` s."""

    def __init__(self, publisher: Any, topic: str, interval: float, stop: threading.Event) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.publisher = publisher
        self.topic = topic
        self.interval = interval
        self.stop_event = stop
        self.ticks = 0

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop_event.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.interval
            try:
                self.publisher.publish(self.topic, b"{}").result(timeout=10)
                self.ticks += 1
            except Exception as exc:  # noqa: BLE001 - a missed tick is covered by the next one
                if not self.stop_event.is_set():
                    log.warning("publishing the poll tick failed: %s", exc)
            next_at = max(next_at, time.monotonic())


class LocalStack:
    """`with LocalStack(StackConfig(...)) as stack:` starts everything; leaving the block stops everything."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.secret = ""
        self.endpoints: dict[str, Any] = {}
        self.processes: dict[str, ManagedProcess] = {}
        self.log_dir: Path = config.log_dir or Path(tempfile.mkdtemp(prefix="polysync-vertex-stack-"))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: list[Any] = []
        self._wrote_endpoints = False
        self._stopped = False
        self.ports: _Ports | None = None
        self.publisher: Any = None
        self.subscriber: Any = None

    # -- start -----------------------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> dict[str, Any]:
        """Start everything (in parallel), wait until every part answers, write the endpoints file."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> dict[str, Any]:
        cfg = self.config
        processes.check_prerequisites()
        if not FUNCTIONS_SOURCE.exists():
            raise RuntimeError(f"functions source not found at {FUNCTIONS_SOURCE}")
        with contextlib.suppress(FileNotFoundError):
            cfg.endpoints_file.unlink()  # nobody may mistake an old file for this stack's
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ports = self.ports = _allocate_ports(cfg.port_base)
        project = cfg.project
        self.secret = (cfg.env.get("PSV_WEBHOOK_SECRETS") or "").replace("\n", ",").split(",")[0].strip()
        self.secret = self.secret or secrets.token_hex(32)
        firestore_host = f"127.0.0.1:{ports.firestore}"
        pubsub_host = f"127.0.0.1:{ports.pubsub}"
        vertex_url = f"http://127.0.0.1:{ports.vertex}"
        topics = {
            "tick": f"projects/{project}/topics/{NAME_PREFIX}-poll-tick",
            "shard": f"projects/{project}/topics/{NAME_PREFIX}-poll-shard",
            "status": f"projects/{project}/topics/{NAME_PREFIX}-status",
        }
        subscriptions = {
            "tick": f"projects/{project}/subscriptions/{NAME_PREFIX}-poll-tick-eventarc",
            "shard": f"projects/{project}/subscriptions/{NAME_PREFIX}-poll-shard-eventarc",
            "status": f"projects/{project}/subscriptions/{NAME_PREFIX}-status-polysync",
        }
        function_env = self._function_env(firestore_host, pubsub_host, vertex_url, topics)

        # Every process is started here, in the calling thread, so that stop() always knows all of them.
        self._spawn("firestore", processes.firestore_command(firestore_host, project))
        self._spawn("pubsub", processes.pubsub_command(pubsub_host, project))
        self._spawn(
            "vertex",
            processes.vertex_command(ports.vertex, time_factor=cfg.time_factor, execute=cfg.execute),
            env={**cfg.env, "PYTHONUNBUFFERED": "1"},
        )
        for name, port in ports.functions.items():
            signature = "cloudevent" if name in EVENT_FUNCTIONS else "http"
            cmd = [
                sys.executable,
                "-m",
                "functions_framework",
                "--target",
                name,
                "--source",
                str(FUNCTIONS_SOURCE),
                "--signature-type",
                signature,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            self._spawn(name, cmd, env=function_env)

        checks: dict[str, tuple[str, float]] = {
            "firestore": (f"http://{firestore_host}/", 120.0),
            "pubsub": (f"http://{pubsub_host}/", 120.0),
            "vertex": (f"{vertex_url}/emulator/health", 60.0),
        }
        for name, port in ports.functions.items():
            checks[name] = (f"http://127.0.0.1:{port}/", 90.0)
        self._wait_all(checks)

        self._create_pubsub(pubsub_host, topics, subscriptions)
        self._start_loops(topics, subscriptions, ports)

        self.endpoints = {
            "project": project,
            "location": cfg.location,
            "functions": {name: f"http://127.0.0.1:{ports.functions[name]}/" for name in HTTP_FUNCTIONS},
            "vertexEndpoint": vertex_url,
            "firestoreHost": firestore_host,
            "pubsubHost": pubsub_host,
            "statusTopic": topics["status"],
            "statusSubscription": subscriptions["status"],
            "webhookSecret": self.secret,
        }
        self._write_endpoints()
        return self.endpoints

    def _function_env(
        self, firestore_host: str, pubsub_host: str, vertex_url: str, topics: dict[str, str]
    ) -> dict[str, str]:
        from polysync_vertex.config import SETTINGS

        cfg = self.config
        env = {k: v for k, v in cfg.env.items() if not k.startswith("PSV_")}
        for key in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
            env.pop(key, None)  # the emulators need no credentials; never pick up a real account
        env.update(
            {
                "FIRESTORE_EMULATOR_HOST": firestore_host,
                "PUBSUB_EMULATOR_HOST": pubsub_host,
                "GOOGLE_CLOUD_PROJECT": cfg.project,
                "PYTHONUNBUFFERED": "1",
                "PSV_PROJECT": cfg.project,
                "PSV_DEFAULT_LOCATION": cfg.location,
                "PSV_ALLOWED_PROJECTS": cfg.project,
                "PSV_ALLOWED_LOCATIONS": ALLOWED_LOCATIONS,
                "PSV_WEBHOOK_SECRETS": self.secret,
                "PSV_VERTEX_ENDPOINT": vertex_url,
                "PSV_STATUS_TOPIC": topics["status"],
                "PSV_SHARD_TOPIC": topics["shard"],
            }
        )
        for key in SETTINGS:
            if key in cfg.env and key not in OWNED_SETTINGS:
                env[key] = cfg.env[key]
        return env

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        if self._stop.is_set():
            raise Shutdown("stopping")
        proc = ManagedProcess(name, cmd, env=env, log_path=self.log_dir / f"{name}.log")
        with critical():  # a signal now must not leave a started process unrecorded
            self.processes[name] = proc
            proc.start()

    def _wait_all(self, checks: dict[str, tuple[str, float]]) -> None:
        errors: list[str] = []
        ready: dict[str, float] = {}
        started = time.monotonic()

        def wait(name: str, url: str, timeout: float) -> None:
            try:
                processes.wait_http(url, self.processes[name], timeout, cancel=self._stop)
                ready[name] = time.monotonic() - started
            except Exception as exc:  # noqa: BLE001 - collected and raised below
                errors.append(f"{name}: {exc}\n(log: {self.processes[name].log_path})")

        threads = [
            threading.Thread(target=wait, args=(name, url, timeout), daemon=True)
            for name, (url, timeout) in checks.items()
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)  # short joins keep the main thread responsive to signals
        if errors:
            raise RuntimeError("the local stack did not start:\n" + "\n".join(errors))
        log.info("ready after %s", ", ".join(f"{k} {v:.1f}s" for k, v in sorted(ready.items(), key=lambda i: i[1])))

    def _create_pubsub(self, host: str, topics: dict[str, str], subscriptions: dict[str, str]) -> None:
        os.environ["PUBSUB_EMULATOR_HOST"] = host  # read by the clients of this process (forwarders, demo, events)
        from google.cloud import pubsub_v1

        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        self._clients += [publisher, subscriber]
        self.publisher, self.subscriber = publisher, subscriber
        for topic in topics.values():
            publisher.create_topic(request={"name": topic})
        # Eventarc's push subscriptions have a 600 s ack deadline; Polysync's subscription is ordered (pubsub.tf).
        for kind in ("tick", "shard"):
            subscriber.create_subscription(
                request={"name": subscriptions[kind], "topic": topics[kind], "ack_deadline_seconds": 600}
            )
        subscriber.create_subscription(
            request={
                "name": subscriptions["status"],
                "topic": topics["status"],
                "enable_message_ordering": True,
                "ack_deadline_seconds": 60,
            }
        )

    def _start_loops(self, topics: dict[str, str], subscriptions: dict[str, str], ports: _Ports) -> None:
        from google.cloud import pubsub_v1

        # Each forwarder gets its own subscriber client: a blocking pull must not hold up another one's.
        for kind, target in (("tick", "poll"), ("shard", "poll_shard")):
            subscriber = pubsub_v1.SubscriberClient()
            self._clients.append(subscriber)
            url = f"http://127.0.0.1:{ports.functions[target]}/"
            self._threads.append(EventarcForwarder(subscriber, subscriptions[kind], topics[kind], url, self._stop))
        self._threads.append(Scheduler(self.publisher, topics["tick"], self.config.tick_seconds, self._stop))
        for t in self._threads:
            t.start()

    def _write_endpoints(self) -> None:
        path = self.config.endpoints_file
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the webhook secret
        with os.fdopen(fd, "w") as f:
            json.dump(self.endpoints, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)  # atomic: a reader sees no file or the whole file
        self._wrote_endpoints = True

    # -- while running ---------------------------------------------------------------------------------------
    def dead(self) -> list[str]:
        """Names of processes that exited on their own."""
        return [name for name, p in self.processes.items() if not p.alive()]

    def table(self) -> str:
        e = self.endpoints
        assert self.ports is not None
        rows = [(name, url) for name, url in e["functions"].items()]
        interval = f"{self.config.tick_seconds:g}"
        rows += [
            ("poll", f"http://127.0.0.1:{self.ports.functions['poll']}/  (CloudEvent; tick every {interval} s)"),
            ("poll_shard", f"http://127.0.0.1:{self.ports.functions['poll_shard']}/  (CloudEvent; shard topic)"),
            (
                "Vertex AI",
                f"{e['vertexEndpoint']}  (emulator, time factor {self.config.time_factor:g}"
                + (", --execute)" if self.config.execute else ")"),
            ),
            ("Firestore", e["firestoreHost"]),
            ("Pub/Sub", e["pubsubHost"]),
            ("status events", e["statusSubscription"]),
            ("endpoints file", str(self.config.endpoints_file.resolve())),
            ("logs", str(self.log_dir)),
        ]
        width = max(len(r[0]) for r in rows)
        head = f"polysync-vertex local stack (project {e['project']}, location {e['location']})"
        return "\n".join([head, *(f"  {name.ljust(width)}  {value}" for name, value in rows)])

    def wait(self, should_stop: Callable[[], bool] = lambda: False) -> str | None:
        """Block until a signal (raised by `signals_raise`), `should_stop()`, or a process dies (its name)."""
        while not should_stop():
            dead = self.dead()
            if dead:
                return dead[0]
            time.sleep(0.5)
        return None

    # -- stop ------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop loops, then every process group in parallel (SIGTERM, SIGKILL after 8 s); remove the endpoints file.

        A signal arriving meanwhile does not interrupt it (the stop is what the signal asks for anyway)."""
        if self._stopped:
            return
        self._stopped = True
        with critical(discard=True):
            self._stop.set()
            for t in self._threads:
                t.join(timeout=3)
            for client in self._clients:
                with contextlib.suppress(Exception):
                    client.close()
            stoppers = [
                threading.Thread(target=p.stop, kwargs={"grace": 8.0}, daemon=True) for p in self.processes.values()
            ]
            for t in stoppers:
                t.start()
            for t in stoppers:
                t.join()
            if self._wrote_endpoints:
                with contextlib.suppress(FileNotFoundError):
                    self.config.endpoints_file.unlink()

    def ports_in_use(self) -> list[int]:
        """Ports of this stack that still accept connections."""
        return [p for p in self.ports.all() if port_open(p)] if self.ports is not None else []


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
