"""Cloud Functions entry points. Each parses the request, calls one service and shapes the response."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from typing import Any

import functions_framework
from cloudevents.http import CloudEvent

from polysync_vertex import bootstrap, log, web

# Flask's own answers (404 of /favicon.ico, 405, werkzeug's 400) in the contract's error form. functions-framework
# imports this module inside its app context; imported elsewhere (a benchmark, a tool) there is no app to configure.
with contextlib.suppress(RuntimeError):
    web.install_error_handlers()


def _secrets() -> tuple[str, ...]:
    return bootstrap.app().settings.webhook_secrets


@functions_framework.http
def submit(request: Any) -> Any:
    """POST: a Polysync run request -> one Vertex AI job of the template's type (201 created, 200 replayed)."""
    return web.handle(request, "POST", _secrets, lambda body: bootstrap.app().submit.submit(body))


@functions_framework.http
def cancel(request: Any) -> Any:
    """POST {"runId"}: cancel a run this connector created (202, or 200 when it already ended)."""
    return web.handle(request, "POST", _secrets, lambda body: bootstrap.app().runs.cancel(body))


def _status(args: Any) -> Any:
    def arg(name: str) -> str | None:
        return web.single_arg(args, name, required=False)

    return bootstrap.app().runs.status(web.single_arg(args, "runId"), arg("logs"), arg("pageToken"))


@functions_framework.http
def status(request: Any) -> Any:
    """GET ?runId=[&logs=N[&pageToken=]]: the recorded run, with its last N log lines when asked."""
    return web.handle(request, "GET", _secrets, _status)


@functions_framework.http
def templates(request: Any) -> Any:
    """GET ?project=&location= (list) or ?externalId= (one): Vertex AI jobs usable as templates, with their links."""
    return web.handle(
        request, "GET", _secrets, lambda args: bootstrap.app().templates.answer(web.templates_query(args))
    )


@functions_framework.http
def health(request: Any) -> Any:
    """GET [?deep=true]: Polysync's "test connectivity" (200 when every check passed, else 503, same body)."""
    return web.handle(
        request,
        "GET",
        _secrets,
        lambda args: bootstrap.app().health.check(
            deep=web.parse_flag("deep", web.single_arg(args, "deep", required=False))
        ),
    )


@functions_framework.cloud_event
def poll(event: CloudEvent) -> None:
    """Pub/Sub tick from Cloud Scheduler: poll every active run, or fan out to shard workers.

    Never asks for a redelivery (issue 27, point 8): a tick carries no state and the next one follows within a minute,
    so a failed tick is logged at ERROR and acknowledged (infra/pubsub.tf lets a refused one expire unretried).
    """
    try:
        bootstrap.app().poll.tick(event.get("time"))
    except Exception as exc:  # noqa: BLE001 - acknowledged on purpose: the next tick redoes the work
        log.error("poll tick failed", error=f"{type(exc).__name__}: {str(exc)[:500]}")


@functions_framework.cloud_event
def poll_shard(event: CloudEvent) -> None:
    """Pub/Sub message from `poll`'s fan-out: poll the runs of one shard range."""
    attributes = ((event.data or {}).get("message") or {}).get("attributes") or {}
    bootstrap.app().poll.shard(attributes, event.get("time"))


def _log_entries(event: CloudEvent) -> list[Any]:
    """The LogEntries of a hint delivery: a log sink publishes one LogEntry (JSON) per Pub/Sub message
    (https://cloud.google.com/logging/docs/export/pubsub, "Logs in Pub/Sub"); a JSON list is taken as several.
    Undecodable data is an entry the service drops as malformed."""
    data = ((event.data or {}).get("message") or {}).get("data") or ""
    try:
        decoded = json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, TypeError):
        return [None]
    return decoded if isinstance(decoded, list) else [decoded]


@functions_framework.cloud_event
def hint(event: CloudEvent) -> None:
    """Pub/Sub push from the Vertex AI log sink: look at the jobs its entries name now, instead of at the next tick.

    Always acknowledged: a hint is never needed for correctness (the tick observes every active run), so a malformed
    or failed one is logged and dropped, never retried in a loop.
    """
    try:
        bootstrap.app().hints.handle(_log_entries(event))
    except Exception as exc:  # noqa: BLE001 - acknowledged on purpose: the next tick observes the job
        log.error("hint failed", error=f"{type(exc).__name__}: {str(exc)[:500]}")
