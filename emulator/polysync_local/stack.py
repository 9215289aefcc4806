"""The local stack: everything polysync-vertex needs, on 127.0.0.1, with no Google account.

- Firestore and Pub/Sub emulators (gcloud) and the project's Vertex AI emulator, each in its own process group;
- every function of functions/main.py under functions-framework's app and gunicorn, one process (group) each,
  served by `serve.py` (socket read timeouts, JSON answers for the server's own errors);
- the Pub/Sub topics and subscriptions Terraform creates (tick, shard, status with an ordered pull subscription);
- a scheduler loop that publishes the poll tick to the tick topic, as Cloud Scheduler does;
- an Eventarc stand-in per event function: it pulls the trigger's subscription and POSTs each message to the
  function as a binary-mode CloudEvent `google.cloud.pubsub.topic.v1.messagePublished`, acking on 2xx and leaving
  the message for redelivery with back-off otherwise (the triggers' RETRY_POLICY_RETRY).

`LocalStack.start()` writes the endpoints file of the contract; `stop()` ends every process it started.
Its parts live next to it: `signals.py` (SIGTERM / SIGINT as exceptions), `addresses.py` (TCP port allocation, probes),
`standins.py` (the Eventarc and Cloud Scheduler stand-ins), `processes.py` and `supervise.py` (process groups).
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import processes
from .addresses import Ports, allocate, port_open
from .log_router import LogRouter
from .processes import ManagedProcess
from .signals import Shutdown, critical, signals_raise
from .standins import EventarcForwarder, Scheduler

__all__ = ["LocalStack", "Shutdown", "StackConfig", "critical", "function_command", "port_open", "signals_raise"]

log = logging.getLogger("polysync_local.stack")

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_SOURCE = ROOT / "functions" / "main.py"
HTTP_FUNCTIONS = ("submit", "cancel", "status", "templates", "health")
EVENT_FUNCTIONS = ("poll", "poll_shard", "hint")
FUNCTION_NAMES = (*HTTP_FUNCTIONS, *EVENT_FUNCTIONS)  # the port order from --port-base
NAME_PREFIX = "polysync-vertex"  # Terraform's default name_prefix
ALLOWED_LOCATIONS = "us-central1,europe-west4"
OUTPUTS_BUCKET = "local-outputs"  # PSV_OUTPUTS_BUCKET of the local stack (Custom Job Output parameters), if not set
# Settings the stack decides; any other PSV_* variable in the caller's environment is passed to the functions.
OWNED_SETTINGS = frozenset(
    {"PSV_PROJECT", "PSV_DEFAULT_LOCATION", "PSV_VERTEX_ENDPOINT", "PSV_STATUS_TOPIC", "PSV_SHARD_TOPIC"}
)


def defined_functions(source: Path = FUNCTIONS_SOURCE) -> list[str]:
    """The stack's functions that `source` defines (a function added to the list before main.py has it is
    skipped, e.g. `health` while it is being written)."""
    tree = ast.parse(source.read_text())
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return [name for name in FUNCTION_NAMES if name in names]


def function_command(name: str, port: int, *, read_timeout: float | None = None) -> list[str]:
    """How the stack serves one function: `polysync_local.serve` (functions-framework's app under gunicorn with
    read timeouts and JSON error answers) on 127.0.0.1:`port`."""
    signature = "cloudevent" if name in EVENT_FUNCTIONS else "http"
    cmd = [sys.executable, "-m", "polysync_local.serve", "--target", name, "--source", str(FUNCTIONS_SOURCE)]
    cmd += ["--signature-type", signature, "--host", "127.0.0.1", "--port", str(port)]
    if read_timeout is not None:
        cmd += ["--read-timeout", f"{read_timeout:g}"]
    return cmd


def live_stack_of(endpoints_file: Path) -> str:
    """If `endpoints_file` describes a stack of which some part still accepts connections: which part and where
    ("" when there is no file, it is unreadable, or nothing it names answers: a stale file, safe to replace)."""
    try:
        data = json.loads(endpoints_file.read_text())
    except (OSError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    named = {f"{k} function": str(v) for k, v in (data.get("functions") or {}).items()}
    named |= {k: str(data.get(k) or "") for k in ("vertexEndpoint", "firestoreHost", "pubsubHost")}
    for part, address in named.items():
        host, _, port = address.removeprefix("http://").split("/", 1)[0].rpartition(":")
        if host == "127.0.0.1" and port.isdigit() and port_open(int(port)):
            return f"its {part} answers on {host}:{port}"
    return ""


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
        self.log_router: LogRouter | None = None
        self._wrote_endpoints = False
        self._stopped = False
        self.ports: Ports | None = None
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
        owner = live_stack_of(cfg.endpoints_file)
        if owner:
            # Its file holds the only copy of that stack's secret: this stack neither replaces nor removes it.
            raise RuntimeError(
                f"{cfg.endpoints_file} belongs to a running stack ({owner}): stop that one first, or give this one "
                "another --endpoints-file"
            )
        processes.check_prerequisites()
        if not FUNCTIONS_SOURCE.exists():
            raise RuntimeError(f"functions source not found at {FUNCTIONS_SOURCE}")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ports = self.ports = allocate(cfg.port_base, list(FUNCTION_NAMES))
        served = defined_functions()
        project = cfg.project
        self.secret = (cfg.env.get("PSV_WEBHOOK_SECRETS") or "").replace("\n", ",").split(",")[0].strip()
        self.secret = self.secret or secrets.token_hex(32)
        firestore_host = f"127.0.0.1:{ports.firestore}"
        pubsub_host = f"127.0.0.1:{ports.pubsub}"
        vertex_url = f"http://127.0.0.1:{ports.vertex}"
        storage_port = processes.free_port()  # not in --port-base's range: only the stack's own parts talk to it
        storage_url = f"http://127.0.0.1:{storage_port}"
        topics = {
            "tick": f"projects/{project}/topics/{NAME_PREFIX}-poll-tick",
            "shard": f"projects/{project}/topics/{NAME_PREFIX}-poll-shard",
            "status": f"projects/{project}/topics/{NAME_PREFIX}-status",
            "hints": f"projects/{project}/topics/{NAME_PREFIX}-hints",
        }
        subscriptions = {
            "tick": f"projects/{project}/subscriptions/{NAME_PREFIX}-poll-tick-eventarc",
            "shard": f"projects/{project}/subscriptions/{NAME_PREFIX}-poll-shard-eventarc",
            "status": f"projects/{project}/subscriptions/{NAME_PREFIX}-status-polysync",
            "hints": f"projects/{project}/subscriptions/{NAME_PREFIX}-hints-eventarc",
        }
        function_env = self._function_env(firestore_host, pubsub_host, vertex_url, topics)
        function_env["STORAGE_EMULATOR_HOST"] = storage_url
        function_env["PSV_OUTPUTS_BUCKET"] = (
            function_env.get("PSV_OUTPUTS_BUCKET", OUTPUTS_BUCKET).removeprefix("gs://").strip("/")
        )

        # Every process is started here, in the calling thread, so that stop() always knows all of them.
        self._spawn("firestore", processes.firestore_command(firestore_host, project))
        self._spawn("pubsub", processes.pubsub_command(pubsub_host, project))
        self._spawn(
            "vertex",
            processes.vertex_command(ports.vertex, time_factor=cfg.time_factor, execute=cfg.execute),
            env={**cfg.env, "PYTHONUNBUFFERED": "1", "STORAGE_EMULATOR_HOST": storage_url},
        )
        self._spawn("storage", processes.storage_command(storage_port))
        for name in served:
            self._spawn(name, function_command(name, ports.functions[name]), env=function_env)

        checks: dict[str, tuple[str, float]] = {
            "firestore": (f"http://{firestore_host}/", 120.0),
            "pubsub": (f"http://{pubsub_host}/", 120.0),
            "vertex": (f"{vertex_url}/emulator/health", 60.0),
            "storage": (f"{storage_url}/", 60.0),
        }
        for name in served:
            checks[name] = (f"http://127.0.0.1:{ports.functions[name]}/", 90.0)
        self._wait_all(checks)
        if function_env["PSV_OUTPUTS_BUCKET"]:
            processes.create_bucket(f"127.0.0.1:{storage_port}", function_env["PSV_OUTPUTS_BUCKET"], project)

        self._create_pubsub(pubsub_host, topics, subscriptions)
        self._start_loops(topics, subscriptions, ports)

        self.endpoints = {
            "project": project,
            "location": cfg.location,
            "functions": {
                name: f"http://127.0.0.1:{ports.functions[name]}/" for name in HTTP_FUNCTIONS if name in served
            },
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
                # health's hints sink check (skipped locally: the emulators have no Cloud Logging sinks API).
                "PSV_HINT_SINK": f"{NAME_PREFIX}-hints",
                "PSV_HINTS_TOPIC": topics["hints"],
                # The poll cadence fills Cloud Scheduler's 60 s minute with passes (services/poll/cadence.py); with
                # another tick period the stack's own ticks are the cadence: one pass each (docs/local-stack.md).
                "PSV_POLL_INTERVAL_SECONDS": SETTINGS["PSV_POLL_INTERVAL_SECONDS"][0]
                if cfg.tick_seconds == 60
                else "0",
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
        for kind in ("tick", "shard", "hints"):
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

    def _start_loops(self, topics: dict[str, str], subscriptions: dict[str, str], ports: Ports) -> None:
        from google.cloud import pubsub_v1

        # Each forwarder gets its own subscriber client: a blocking pull must not hold up another one's.
        for kind, target in (("tick", "poll"), ("shard", "poll_shard"), ("hints", "hint")):
            subscriber = pubsub_v1.SubscriberClient()
            self._clients.append(subscriber)
            url = f"http://127.0.0.1:{ports.functions[target]}/"
            self._threads.append(EventarcForwarder(subscriber, subscriptions[kind], topics[kind], url, self._stop))
        self._threads.append(Scheduler(self.publisher, topics["tick"], self.config.tick_seconds, self._stop))
        # Cloud Logging's router with the hints sink (issue 24): Vertex AI's job-state entries -> hints -> `hint`.
        self.log_router = LogRouter(
            self.publisher, topics["hints"], f"http://127.0.0.1:{ports.vertex}", self.config.project, self._stop
        )  # the chaos run changes its drop rate and duplicates while it runs
        self._threads.append(self.log_router)
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
        """Stop loops, then every process group in parallel (SIGTERM, SIGKILL after 8 s); remove the endpoints file
        if this stack wrote it and it is still this stack's.

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
            if self._wrote_endpoints and self._owns_endpoints_file():
                with contextlib.suppress(FileNotFoundError):
                    self.config.endpoints_file.unlink()

    def _owns_endpoints_file(self) -> bool:
        """Whether the endpoints file still is the one this stack wrote (not replaced by another stack since)."""
        try:
            return bool(json.loads(self.config.endpoints_file.read_text()) == self.endpoints)
        except (OSError, ValueError):
            return False

    def ports_in_use(self) -> list[int]:
        """Ports of this stack that still accept connections."""
        return [p for p in self.ports.all() if port_open(p)] if self.ports is not None else []
