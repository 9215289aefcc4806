"""Cloud Functions entry points. Each parses the request, calls one service and shapes the response."""

from __future__ import annotations

from typing import Any

import functions_framework
from cloudevents.http import CloudEvent

from polysync_vertex import bootstrap, web


def _secrets() -> tuple[str, ...]:
    return bootstrap.app().settings.webhook_secrets


@functions_framework.http
def submit(request: Any) -> Any:
    """POST: a Polysync run request -> one Vertex AI CustomJob (201 created, 200 replayed)."""
    return web.handle(request, "POST", _secrets, lambda body: bootstrap.app().submit.submit(body))


@functions_framework.http
def cancel(request: Any) -> Any:
    """POST {"runId"}: cancel a run this connector created (202, or 200 when it already ended)."""
    return web.handle(request, "POST", _secrets, lambda body: bootstrap.app().runs.cancel(body))


@functions_framework.http
def status(request: Any) -> Any:
    """GET ?runId=: the recorded run."""
    return web.handle(request, "GET", _secrets, lambda args: bootstrap.app().runs.status(web.single_arg(args, "runId")))


@functions_framework.http
def templates(request: Any) -> Any:
    """GET ?project=&location= (list) or ?externalId= (one): CustomJobs usable as templates, with their links."""
    return web.handle(request, "GET", _secrets, lambda args: bootstrap.app().templates.handle(args))


@functions_framework.cloud_event
def poll(event: CloudEvent) -> None:
    """Pub/Sub tick from Cloud Scheduler: poll every active run, or fan out to shard workers."""
    bootstrap.app().poll.tick(event.get("time"))


@functions_framework.cloud_event
def poll_shard(event: CloudEvent) -> None:
    """Pub/Sub message from `poll`'s fan-out: poll the runs of one shard range."""
    attributes = ((event.data or {}).get("message") or {}).get("attributes") or {}
    bootstrap.app().poll.shard(attributes)
