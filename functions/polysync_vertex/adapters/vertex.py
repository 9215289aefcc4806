"""Vertex AI jobs of every kind through the generated v1 clients (`google.cloud.aiplatform_v1`, REST transport).

Which client, message type and methods serve a job comes from its `JobKind` (`service`, `resource`): CustomJob and
BatchPredictionJob through `JobServiceClient`, PipelineJob through `PipelineServiceClient`; the method names are
the generated ones (`create_custom_job`, `list_pipeline_jobs`, ...). Jobs cross this boundary as the REST JSON
(camelCase dicts), so the core never sees protobuf. Every method
retries transient failures (429, 500, 503, 504, timeouts, connection errors) with capped exponential backoff
and full jitter inside the caller's deadline, then raises `UpstreamError`. Calls are counted by method.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from ..core import kinds
from ..core.errors import UpstreamError, code_of_http
from ..core.kinds import JobKind
from ..core.names import location_of
from ..core.retry import backoff
from . import aiplatform

T = TypeVar("T")


def _classify(exc: Exception) -> tuple[str, str]:
    """Canonical code and message of a client exception."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        code = code_of_http(int(exc.code or 0), "UNKNOWN") if exc.code else "UNKNOWN"
        response = getattr(exc, "response", None)
        if response is not None:
            try:
                status = response.json().get("error", {}).get("status")
                if isinstance(status, str) and status:
                    code = status
            except Exception:  # noqa: BLE001 - a non-JSON error body keeps the HTTP-derived code
                pass
        return code, str(exc.message)
    if isinstance(exc, gexc.RetryError):
        return "DEADLINE_EXCEEDED", str(exc)
    try:
        import requests

        if isinstance(exc, requests.Timeout):
            return "DEADLINE_EXCEEDED", str(exc)
        if isinstance(exc, requests.ConnectionError):
            return "UNAVAILABLE", f"cannot reach Vertex AI: {exc}"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, TimeoutError | ConnectionError):
        return "UNAVAILABLE", str(exc)
    raise exc


class VertexJobs:
    """Job operations for every kind. `endpoint` overrides the regional endpoint (the local emulator)."""

    def __init__(
        self,
        endpoint: str = "",
        *,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
        call_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.call_timeout = call_timeout
        self.sleep = sleep
        self.calls: Counter[str] = Counter()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    # -- clients -------------------------------------------------------------------------------------------
    def _client(self, location: str, service: str = "job") -> Any:
        with aiplatform.IMPORT_LOCK:  # first imports of two service packages from two threads could break one
            return self._client_locked(location, service)

    def _client_locked(self, location: str, service: str) -> Any:
        endpoint = self.endpoint or (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else f"https://{location}-aiplatform.googleapis.com"
        )
        with self._lock:
            client = self._clients.get((endpoint, service))
            if client is None:
                client_class = aiplatform.client_class(service)
                credentials = None
                if self.endpoint.startswith("http://"):
                    from google.auth.credentials import AnonymousCredentials

                    credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
                client = client_class(
                    transport="rest", credentials=credentials, client_options={"api_endpoint": endpoint}
                )
                self._clients[(endpoint, service)] = client
            return client

    # -- retry ---------------------------------------------------------------------------------------------
    def _call(self, method: str, fn: Callable[[float], T], deadline: float, *, retry: bool = True) -> T:
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamError("DEADLINE_EXCEEDED", "out of time before Vertex AI answered", method=method)
            self.calls[method] += 1
            try:
                return fn(min(self.call_timeout, max(remaining, 0.5)))
            except Exception as exc:  # noqa: BLE001 - classified below, unknown ones re-raised
                code, message = _classify(exc)
                error = UpstreamError(code, message, method=method)
            delay = backoff(attempt, base=self.base_delay, cap=self.max_delay)
            if not (retry and error.transient) or time.monotonic() + delay >= deadline:
                raise error
            attempt += 1
            self.sleep(delay)

    @staticmethod
    @functools.cache
    def accelerator_types() -> frozenset[str]:
        """The accelerator types of the Vertex AI API version this client speaks."""
        AcceleratorType = aiplatform.message("accelerator_type", "AcceleratorType")  # noqa: N806

        return frozenset(a.name for a in AcceleratorType)

    # -- conversions ---------------------------------------------------------------------------------------
    @staticmethod
    def _to_dict(message: Any) -> dict[str, Any]:
        from google.protobuf import json_format

        result: dict[str, Any] = json_format.MessageToDict(type(message).pb(message))
        return result

    @staticmethod
    def _to_proto(kind: JobKind, job: dict[str, Any]) -> Any:
        from google.protobuf.json_format import ParseError

        resource = aiplatform.message(VertexJobs._snake(kind), kind.resource)
        try:
            return resource.from_json(json.dumps(job))
        except ParseError as exc:  # e.g. an enum value this API version does not know
            raise UpstreamError(
                "INVALID_ARGUMENT", f"not a valid {kind.resource}: {exc}", method=f"Create{kind.resource}"
            ) from None

    @staticmethod
    def _snake(kind: JobKind) -> str:
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in kind.resource).lstrip("_")

    # -- operations ----------------------------------------------------------------------------------------
    def create(
        self,
        parent: str,
        job: dict[str, Any],
        deadline: float,
        *,
        kind: JobKind = kinds.DEFAULT,
        job_id: str | None = None,
        retry: bool = False,
    ) -> dict[str, Any]:
        """Create once by default: a retried create could make a second job (the caller looks it up first).
        `job_id`: a client-chosen id, for kinds whose create takes one (Pipeline Jobs' `pipelineJobId`)."""
        proto = self._to_proto(kind, job)
        client = self._client(location_of(parent), kind.service)
        snake = self._snake(kind)
        extra = {f"{snake}_id": job_id} if job_id else {}
        method = getattr(client, f"create_{snake}")
        result = self._call(
            f"Create{kind.resource}",
            lambda t: method(parent=parent, **{snake: proto}, **extra, timeout=t, retry=None),
            deadline,
            retry=retry,
        )
        return self._to_dict(result)

    def get(self, name: str, deadline: float) -> dict[str, Any]:
        """Any job by its resource name (the name's collection says the kind)."""
        kind = _kind_of(name)
        client = self._client(location_of(name), kind.service)
        method = getattr(client, f"get_{self._snake(kind)}")
        result = self._call(f"Get{kind.resource}", lambda t: method(name=name, timeout=t, retry=None), deadline)
        return self._to_dict(result)

    def cancel(self, name: str, deadline: float) -> None:
        kind = _kind_of(name)
        client = self._client(location_of(name), kind.service)
        method = getattr(client, f"cancel_{self._snake(kind)}")
        self._call(f"Cancel{kind.resource}", lambda t: method(name=name, timeout=t, retry=None), deadline)

    def list_page(
        self,
        parent: str,
        deadline: float,
        *,
        kind: JobKind = kinds.DEFAULT,
        filter: str = "",
        page_size: int = 100,
        page_token: str = "",
        read_mask: tuple[str, ...] = (),
        order_by: str = "",
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of jobs of `kind` and the next page token ("" at the end)."""
        from google.protobuf import field_mask_pb2

        client = self._client(location_of(parent), kind.service)
        snake = self._snake(kind)
        request = aiplatform.message(f"{kind.service}_service", f"List{kind.resource}sRequest")(
            parent=parent, filter=filter, page_size=page_size, page_token=page_token
        )
        if order_by:
            request.order_by = order_by
        if read_mask:
            request.read_mask = field_mask_pb2.FieldMask(paths=list(read_mask))
        method = getattr(client, f"list_{snake}s")

        def call(timeout: float) -> Any:
            # Only the pager's first page: exactly one HTTP request, no automatic walk over further pages.
            pager = method(request=request, timeout=timeout, retry=None)
            return next(iter(pager.pages))

        response = self._call(f"List{kind.resource}s", call, deadline)
        jobs = [self._to_dict(j) for j in getattr(response, f"{snake}s")]
        return jobs, response.next_page_token

    def find_by_label(
        self, parent: str, key: str, value: str, deadline: float, *, kind: JobKind = kinds.DEFAULT
    ) -> dict[str, Any] | None:
        jobs, _ = self.list_page(parent, deadline, kind=kind, filter=f'labels.{key}="{value}"', page_size=10)
        return jobs[0] if jobs else None


def _kind_of(name: str) -> JobKind:
    parts = name.split("/")
    kind = kinds.BY_COLLECTION.get(parts[4]) if len(parts) == 6 else None
    if kind is None:
        raise UpstreamError("INVALID_ARGUMENT", f"not a job resource name: {name[:200]}")
    return kind
