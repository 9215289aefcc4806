"""A small signed client of the connector's HTTP functions and a reader of its status events (CLI and demo)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from polysync_vertex.core.auth import HEADER, signature_header

DEFAULT_ENDPOINTS_FILE = "local-endpoints.json"
ENDPOINTS_ENV = "POLYSYNC_VERTEX_ENDPOINTS"
SECRET_ENV = "POLYSYNC_VERTEX_SECRET"
FUNCTIONS = ("submit", "cancel", "status", "templates", "health")

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_FAILED = 1  # dev / demo: the stack or the demo did not do what it should
EXIT_USAGE = 2  # bad flags, missing URL, secret or endpoints file
EXIT_CLIENT = 3  # the connector refused the request (HTTP 4xx)
EXIT_UNAVAILABLE = 4  # HTTP 5xx, connection refused, timeout


UNREACHABLE_HINT = (
    "is the local stack running (`polysync-vertex dev`)? is the endpoints file stale (left by a stack that is gone)? "
    "against a deployment: check --url"
)


class UsageError(Exception):
    """Something the caller must fix before a request can be sent (exit code 2)."""


def url_env(function: str) -> str:
    return f"POLYSYNC_VERTEX_{function.upper()}_URL"


def load_endpoints(path: str | os.PathLike[str] | None, *, required: bool = True) -> dict[str, Any]:
    """The endpoints file written by `polysync-vertex dev` ({} when absent and not required)."""
    p = Path(path or os.environ.get(ENDPOINTS_ENV) or DEFAULT_ENDPOINTS_FILE)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        if required:
            raise UsageError(
                f"endpoints file {p} not found: start the local stack with `polysync-vertex dev` (it writes "
                f"./{DEFAULT_ENDPOINTS_FILE}), pass --endpoints-file, or give --url and --secret"
            ) from None
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read endpoints file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"endpoints file {p} does not hold a JSON object")
    return data


@dataclass
class Response:
    status: int  # 0: no HTTP response (connection refused, timeout)
    body: Any
    error: str = ""  # transport error, when status == 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def exit_code(self) -> int:
        if self.ok:
            return EXIT_OK
        if 400 <= self.status < 500:
            return EXIT_CLIENT
        return EXIT_UNAVAILABLE

    def error_body(self) -> dict[str, Any]:
        """The answer in the contract's error form; a transport failure as UNAVAILABLE (for `--json`)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body
        if self.status == 0:
            return {"error": {"status": "UNAVAILABLE", "message": self.describe_error()}}
        return {"error": {"status": "UNKNOWN", "message": f"HTTP {self.status}: {str(self.body)[:500]}"}}

    def describe_error(self) -> str:
        if self.status == 0:
            return f"connector unreachable: {self.error} ({UNREACHABLE_HINT})"
        err = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(err, dict):
            text = f"HTTP {self.status} {err.get('status', '')}: {err.get('message', '')}"
            if err.get("field"):
                text += f" (field: {err['field']})"
            return text
        return f"HTTP {self.status}: {str(self.body)[:500]}"


class Connector:
    """Signed calls to the HTTP functions. `urls` maps function name -> URL."""

    def __init__(self, urls: dict[str, str], secret: str, timeout: float = 60.0) -> None:
        self.urls = urls
        self.secret = secret
        self.timeout = timeout
        self.secret_source = "the secret given"  # named in the hint for a secret the connector does not hold

    @classmethod
    def from_endpoints(cls, endpoints: dict[str, Any], timeout: float = 60.0) -> Connector:
        return cls(dict(endpoints.get("functions") or {}), str(endpoints.get("webhookSecret") or ""), timeout)

    def _url(self, function: str) -> str:
        url = self.urls.get(function)
        if not url:
            raise UsageError(f"no URL for the {function} function: pass --url or set {url_env(function)}")
        if not self.secret:
            raise UsageError(f"no webhook secret: pass --secret or set {SECRET_ENV}")
        return url

    def _send(self, request: urllib.request.Request) -> Response:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                raw, status = resp.read(), int(resp.status)
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), int(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return Response(0, None, f"{request.full_url}: {reason}")
        try:
            body: Any = json.loads(raw) if raw else {}
        except ValueError:
            body = raw.decode(errors="replace")
        return Response(status, body)

    def post(self, function: str, body: dict[str, Any]) -> Response:
        url = self._url(function)
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            HEADER: signature_header(self.secret, int(time.time()), payload),
        }
        return self._send(urllib.request.Request(url, data=payload, method="POST", headers=headers))

    def get(self, function: str, params: dict[str, str]) -> Response:
        url = self._url(function)
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        headers = {HEADER: signature_header(self.secret, int(time.time()), query.encode())}
        full = f"{url}?{query}" if query else url
        return self._send(urllib.request.Request(full, method="GET", headers=headers))

    # -- the contract's operations -------------------------------------------------------------------------
    def submit(self, body: dict[str, Any]) -> Response:
        return self.post("submit", body)

    def cancel(self, run_id: str) -> Response:
        return self.post("cancel", {"runId": run_id})

    def status(self, run_id: str) -> Response:
        return self.get("status", {"runId": run_id})

    def health(self, *, deep: bool = False) -> Response:
        return self.get("health", {"deep": "true" if deep else ""})

    def templates(
        self,
        *,
        project: str = "",
        location: str = "",
        job_type: str = "",
        filter: str = "",
        page_token: str = "",
        external_id: str = "",
    ) -> Response:
        if external_id:
            return self.get("templates", {"externalId": external_id})
        query = {"project": project, "location": location, "jobType": job_type, "filter": filter}
        return self.get("templates", {**query, "pageToken": page_token})


# -- status events -----------------------------------------------------------------------------------------
def event_record(received: Any) -> dict[str, Any]:
    """A pulled Pub/Sub message as plain JSON: messageId, publishTime, orderingKey, attributes, data."""
    m = received.message
    try:
        data: Any = json.loads(m.data) if m.data else None
    except ValueError:
        data = m.data.decode(errors="replace")
    publish_time = m.publish_time
    return {
        "messageId": m.message_id,
        "publishTime": publish_time.isoformat() if isinstance(publish_time, datetime) else str(publish_time),
        "orderingKey": m.ordering_key,
        "attributes": dict(m.attributes),
        "data": data,
    }


class PubSubUnavailable(Exception):
    """Pub/Sub (or its emulator) cannot be reached: connection refused, DNS, TLS."""


class EventReader:
    """Pulls (and acks) a status subscription. Uses PUBSUB_EMULATOR_HOST when `emulator_host` is given.

    `client`, `sleep` and `clock` are for tests (a fake subscriber, no real waiting)."""

    BACKOFF_FIRST = 0.5  # seconds before the first retry of an unreachable Pub/Sub, doubled up to BACKOFF_MAX
    BACKOFF_MAX = 8.0

    def __init__(
        self,
        subscription: str,
        emulator_host: str = "",
        *,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if emulator_host:
            os.environ["PUBSUB_EMULATOR_HOST"] = emulator_host
        self.subscription = subscription
        self.where = emulator_host or os.environ.get("PUBSUB_EMULATOR_HOST") or "pubsub.googleapis.com"
        self.sleep, self.clock = sleep, clock
        if client is None:
            from google.cloud import pubsub_v1

            client = pubsub_v1.SubscriberClient()  # google.auth's DefaultCredentialsError without an emulator / ADC
        self.client = client

    def pull(self, timeout: float = 1.0, max_messages: int = 100) -> list[dict[str, Any]]:
        """What arrived within about `timeout` seconds, acked, in delivery order ([] when nothing came).
        Raises PubSubUnavailable when Pub/Sub cannot be reached (gRPC UNAVAILABLE: e.g. connection refused)."""
        from google.api_core import exceptions as gexc

        try:
            response = self.client.pull(
                request={"subscription": self.subscription, "max_messages": max_messages},
                timeout=timeout,
                retry=None,
            )
        except gexc.DeadlineExceeded:
            return []  # nothing arrived in time
        except gexc.ServiceUnavailable as exc:
            raise PubSubUnavailable(f"Pub/Sub at {self.where} is unreachable ({_first_line(exc)})") from None
        received = list(response.received_messages)
        if not received:
            return []
        records = [event_record(r) for r in received]
        self.client.acknowledge(request={"subscription": self.subscription, "ack_ids": [r.ack_id for r in received]})
        return records

    def iter(self, *, follow: bool, idle_seconds: float = 2.0, retry_seconds: float = 60.0) -> Iterator[dict[str, Any]]:
        """Events as they arrive; without `follow`, stop once nothing arrived for `idle_seconds`.

        Unreachable Pub/Sub: without `follow` PubSubUnavailable at once; with `follow` retries with back-off
        (0.5 s doubling to 8 s: no busy loop) and raises once it stayed unreachable for `retry_seconds`."""
        idle_since = self.clock()
        down_since: float | None = None
        backoff = self.BACKOFF_FIRST
        while True:
            try:
                batch = self.pull(timeout=1.0)
            except PubSubUnavailable:
                now = self.clock()
                down_since = now if down_since is None else down_since
                if not follow or now - down_since >= retry_seconds:
                    raise
                self.sleep(backoff)
                backoff = min(backoff * 2, self.BACKOFF_MAX)
                continue
            down_since, backoff = None, self.BACKOFF_FIRST
            if batch:
                idle_since = self.clock()
                yield from batch
            elif not follow and self.clock() - idle_since >= idle_seconds:
                return

    def close(self) -> None:
        self.client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def format_event(event: dict[str, Any], *, clock: bool = True, run: bool = True) -> str:
    """One line per event: [time] sequence, status (vertex state) <- previous, [job name, run id]."""
    attrs = event.get("attributes") or {}
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    when = str(attrs.get("ce-time") or event.get("publishTime") or "")
    prefix = (when[11:19] if len(when) >= 19 else when) + "  " if clock else ""
    run_id = attrs.get("ce-subject") or data.get("runId", "")
    job = attrs.get("jobName") or data.get("jobName", "")
    which = f"  {job}  {run_id}" if run else ""
    if attrs.get("ce-type", "").endswith("queued_too_long"):
        return f"{prefix}QUEUED TOO LONG{which}: {data.get('message', '')}"
    seq = data.get("sequence", "?")
    change = f"{data.get('status', '?')} ({data.get('vertexState', '?')})"
    previous = data.get("previousVertexState")
    if previous:
        change += f" <- {previous}"
    line = f"{prefix}#{seq:<3} {change:<58}{which}".rstrip()
    err = data.get("error")
    if isinstance(err, dict) and err.get("message"):
        line += f"\n          error {err.get('code')}: {_shorten(str(err['message']), 300)}"
    return line


def _shorten(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, but never inside a URL (a cut link is a broken link)."""
    if len(text) <= limit:
        return text
    token_start = text.rfind(" ", 0, limit) + 1
    token_end = text.find(" ", limit)
    token_end = len(text) if token_end < 0 else token_end
    if "://" in text[token_start:token_end]:
        limit = token_end
    return text if limit >= len(text) else text[:limit] + " ..."


def duration_seconds(run: dict[str, Any]) -> float | None:
    """createTime -> endTime of a run record (None while it has not ended)."""
    start, end = run.get("createTime"), run.get("endTime")
    if not start or not end:
        return None
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (b - a).total_seconds()


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
