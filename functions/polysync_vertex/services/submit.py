"""submit: a Polysync request becomes exactly one Vertex AI CustomJob and one run record.

Exactly once, also under retries, concurrency and crashes:
1. Everything that can reject the request (validation, allow-list, template, job building) runs before any write.
2. The `requests/{key}` record is created if absent; a concurrent twin waits for the winner and answers the same run.
3. The job carries the label `polysync-request=<key>`. Whoever takes over a dead attempt's expired lease, or
   retries a create whose outcome is unknown, first looks the job up by that label instead of creating another.
4. The run record and the request's "done" mark are written in one batch.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

from .. import log
from ..core import runs
from ..core.errors import ApiError, UpstreamError
from ..core.jobs import LABEL_REQUEST, build_job, request_key, shard_of
from ..core.names import JobName, parent_name, parse_job_name
from ..core.request import SubmitRequest, parse_submit
from .upstream import api_error

LEASE_MARGIN_SECONDS = 15.0
# Failures after which Vertex AI may or may not have created the job.
AMBIGUOUS = frozenset({"DEADLINE_EXCEEDED", "UNKNOWN", "INTERNAL"})


class SubmitService:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.settings = app.settings
        self.lease_margin = LEASE_MARGIN_SECONDS
        self._templates: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- template cache ------------------------------------------------------------------------------------
    def template(self, name: JobName, deadline: float) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            hit = self._templates.get(name.name)
            if hit and hit[0] > now:
                return hit[1]
        try:
            job = self.app.vertex.get(name.name, deadline)
        except UpstreamError as err:
            if err.code == "NOT_FOUND":
                raise ApiError("NOT_FOUND", f"template {name.name} not found in Vertex AI", "externalId") from None
            raise api_error(err, project=name.project, field="externalId", what="template") from None
        with self._lock:
            self._templates[name.name] = (now + self.settings.template_cache_seconds, job)
        return job

    # -- the use case --------------------------------------------------------------------------------------
    def submit(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = parse_submit(body, self.app.vertex.accelerator_types())
        key = request_key(request.request_id)
        with log.context(requestId=request.request_id):
            return self._submit(request, key)

    def _check_allowed(self, project: str, location: str, field: str | None) -> None:
        s = self.settings
        if project not in s.allowed_projects:
            raise ApiError(
                "PERMISSION_DENIED",
                f"project {project} is not on the connector's allow-list (setting PSV_ALLOWED_PROJECTS)",
                field,
            )
        if location not in s.allowed_locations:
            raise ApiError(
                "PERMISSION_DENIED",
                f"location {location} is not on the connector's allow-list (setting PSV_ALLOWED_LOCATIONS)",
                field,
            )

    def _submit(self, request: SubmitRequest, key: str) -> tuple[int, dict[str, Any]]:
        s = self.settings
        deadline = time.monotonic() + s.request_budget_seconds
        if request.template is not None:
            project, location = request.template.project, request.template.location
        else:
            project, location = s.project, s.default_location
        self._check_allowed(project, location, "externalId" if request.template is not None else None)
        template = self.template(request.template, deadline) if request.template is not None else None
        job = build_job(request, template, key, datetime.now(UTC))
        parent = parent_name(project, location)

        while True:
            claim = self.app.store.claim(
                key,
                request.request_id,
                request.fingerprint,
                time.time() + s.request_budget_seconds + self.lease_margin,
                time.time(),
            )
            if claim.kind == "conflict":
                raise ApiError(
                    "ALREADY_EXISTS",
                    f"requestId {request.request_id} was already used with a different request body; "
                    "use a new requestId for a new run",
                    "requestId",
                )
            if claim.kind == "done":
                return 200, self._replay(claim.record or {})
            if claim.kind == "busy":
                if time.monotonic() + 0.5 > deadline:
                    raise ApiError(
                        "UNAVAILABLE",
                        f"another attempt with requestId {request.request_id} is still in progress; retry",
                        retry_after=5,
                    )
                time.sleep(random.uniform(0.05, 0.3))
                continue
            break

        created = None
        if claim.kind == "takeover":
            log.warning("taking over an unfinished attempt", requestKey=key)
            created = self._find(parent, key, deadline)
        if created is None:
            created = self._create_once(parent, job, key, deadline)
        name = parse_job_name(created.get("name"), "runId")
        log.bind(runId=name.name)
        run = runs.new_run(
            job_name_obj=name,
            job=created,
            request_id=request.request_id,
            key=key,
            job_name=request.job_name,
            template=request.template.name if request.template else None,
            fingerprint=request.fingerprint,
            warnings=request.warnings,
            shard=shard_of(key),
            now=datetime.now(UTC),
        )
        runs.announce_final_at_submit(run, datetime.now(UTC))
        try:
            stored = self.app.store.complete(key, run, name.doc_id)
        except Exception as exc:  # noqa: BLE001 - the job exists; the next attempt completes the record
            log.error("recording the run failed; a retry will complete it", error=repr(exc)[:500])
            raise ApiError(
                "UNAVAILABLE", "the run could not be recorded; retry the same request", retry_after=5
            ) from None
        log.info("run submitted", vertexState=stored.get("vertexState"))
        return 201, runs.public(stored, runs.SUBMIT_FIELDS)

    def _replay(self, record: dict[str, Any]) -> dict[str, Any]:
        name = parse_job_name(record.get("runId"), "runId")
        run = self.app.store.get_run(name.doc_id)
        if run is None:  # pragma: no cover - "done" is only written together with the run
            raise ApiError("UNAVAILABLE", "the run record is not readable yet; retry", retry_after=2)
        return runs.public(run, runs.SUBMIT_FIELDS)

    def _find(self, parent: str, key: str, deadline: float) -> dict[str, Any] | None:
        try:
            return self.app.vertex.find_by_label(parent, LABEL_REQUEST, key, deadline)
        except UpstreamError as err:
            raise api_error(err, project=parent.split("/")[1]) from None

    def _create_once(self, parent: str, job: dict[str, Any], key: str, deadline: float) -> dict[str, Any]:
        """Create the job, retrying rejections (429, 503: Vertex AI created nothing).

        After a failure whose outcome is unknown (timeout, 500) the create is never repeated in this request: the
        job may still be landing. It is looked up by its label until the deadline; if it does not show, the claim
        is kept and the answer is 503. The next attempt takes over once the lease expired (well after any
        in-flight create has landed), looks the job up once more, and only then creates it.
        """
        vertex = self.app.vertex
        project = parent.split("/")[1]
        attempt = 0
        while True:
            try:
                return vertex.create(parent, job, deadline)
            except UpstreamError as err:
                failure = err
            if failure.code in AMBIGUOUS:
                found = self._await_job(parent, key, deadline)
                if found is not None:
                    return found
                log.warning("create outcome unknown; the lease is kept for the next attempt", requestKey=key)
                raise api_error(failure, project=project)
            delay = random.uniform(0, min(5.0, 0.2 * 2**attempt))
            if not failure.transient or time.monotonic() + delay >= deadline:
                self.app.store.release(key)  # no job exists: nothing stays recorded, a retry starts afresh
                raise api_error(failure, project=project)
            attempt += 1
            time.sleep(delay)

    def _await_job(self, parent: str, key: str, deadline: float) -> dict[str, Any] | None:
        attempt = 0
        while time.monotonic() < deadline:
            try:
                found = self.app.vertex.find_by_label(parent, LABEL_REQUEST, key, deadline)
            except UpstreamError:
                found = None
            if found is not None:
                return found
            delay = min(2.0, 0.2 * 2**attempt)
            if time.monotonic() + delay >= deadline:
                return None
            attempt += 1
            time.sleep(delay)
        return None
