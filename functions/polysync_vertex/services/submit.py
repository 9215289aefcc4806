"""submit: a Polysync request becomes exactly one Vertex AI job (of the template's kind) and one run record.

Exactly once, also under retries, concurrency and crashes:
1. Everything that can reject the request (validation, allow-list, template, job building) runs before any write.
2. The `requests/{key}` record is created if absent; a concurrent twin waits for the winner and answers the same run.
3. The job carries the label `polysync-request=<key>`. Whoever takes over a dead attempt's expired lease, or
   retries a create whose outcome is unknown, first looks the job up by that label instead of creating another.
4. The run record and the request's "done" mark are written in one batch.
5. A kind whose create takes a client-chosen id (Pipeline Jobs) gets one derived from the key: a repeated create
   answers ALREADY_EXISTS and the existing job is used.
A create that Vertex AI accepts after this request gave up (it can land at any later time) is found by the poller,
which lists every connector job anyway: adopted if the request has no run, cancelled if it has another.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

from .. import log
from ..config import Settings
from ..core import kinds, outputs, record_budget, runs, states
from ..core.errors import ApiError, UpstreamError
from ..core.kinds import JobKind
from ..core.labels import LABEL_REQUEST, request_key
from ..core.names import JobResourceName, parent_name, split_parent
from ..core.request import SubmitRequest, parse_submit
from ..core.retry import backoff
from ..ports import ClaimStore, VertexPort
from .common import check_allowed, fetch_template
from .upstream import api_error, clean_detail

LEASE_MARGIN_SECONDS = 15.0
# How long the poller looks for a late duplicate of a request recorded by a takeover.
WATCH_SECONDS = 3600.0
# Failures after which Vertex AI may or may not have created the job.
AMBIGUOUS = frozenset({"DEADLINE_EXCEEDED", "UNKNOWN", "INTERNAL"})
# RESOURCE_EXHAUSTED (quota, HTTP 429) means "wait": at most this many creates, within this many seconds of the
# first, then 429 with Retry-After. Hammering a quota does not free it; google/rpc/error_details.proto (RetryInfo):
# clients retry with exponential backoff "until either a maximum number of retries have been reached or a maximum
# retry delay cap has been reached".
QUOTA_ATTEMPTS = 3
QUOTA_BUDGET_SECONDS = 8.0
QUOTA_RETRY_AFTER = 30


class SubmitService:
    def __init__(self, settings: Settings, vertex: VertexPort, claims: ClaimStore) -> None:
        self.settings = settings
        self.vertex = vertex
        self.claims = claims
        self.lease_margin = LEASE_MARGIN_SECONDS
        self.quota_attempts = QUOTA_ATTEMPTS
        self.quota_budget = QUOTA_BUDGET_SECONDS
        self._templates: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- template cache ------------------------------------------------------------------------------------
    def template(self, name: JobResourceName, deadline: float) -> dict[str, Any]:
        now = time.monotonic()
        key = name.resource_name
        with self._lock:
            hit = self._templates.get(key)
            if hit and hit[0] > now:
                return hit[1]
        job = fetch_template(self.vertex, name, deadline)
        with self._lock:
            self._templates[key] = (now + self.settings.template_cache_seconds, job)
        return job

    # -- the use case --------------------------------------------------------------------------------------
    def submit(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = parse_submit(body, self.vertex.accelerator_types(), outputs_file=bool(self.settings.outputs_bucket))
        key = request_key(request.request_id)
        with log.context(requestId=request.request_id):
            return self._submit(request, key)

    def _submit(self, request: SubmitRequest, key: str) -> tuple[int, dict[str, Any]]:
        s = self.settings
        deadline = time.monotonic() + s.request_budget_seconds
        if request.template is not None:
            project, location = request.template.project, request.template.location
        else:
            project, location = s.project, s.default_location
        field = "externalId" if request.template is not None else None
        check_allowed(s, project, location, (field, field))
        kind = request.kind
        template = self.template(request.template, deadline) if request.template is not None else None
        job = kind.build(request, template, key, datetime.now(UTC))
        outputs_file = self._outputs_file(request, key, job)
        parent = parent_name(project, location)
        origin = runs.RunOrigin(
            request.request_id,
            key,
            request.job_name,
            request.template.resource_name if request.template else None,
            request.fingerprint,
            request.warnings,
            request.output_names,
            outputs_file,
        )
        # InputOutput values may come back as outputs (Pipeline Jobs; Custom Jobs with an outputs bucket).
        returned = [p.typed for p in request.parameters if p.direction == "InputOutput"]
        record_budget.check_submit_budget(origin, kind, returned)

        while True:
            claim = self.claims.claim(
                key,
                request.request_id,
                request.fingerprint,
                time.time() + s.request_budget_seconds + self.lease_margin,
                time.time(),
                parent=parent,
                collection=kind.collection,
                output_names=request.output_names,
                outputs_file=outputs_file,
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
            created = self._find(kind, parent, key, deadline)
            if created is not None:
                created = self._full_if_final(kind, created, request.output_names, deadline)
        if created is None:
            created = self._create_once(kind, parent, job, key, deadline)
        _, name = kinds.parse_run_name(created.get("name"), "runId")
        log.bind(runId=name.resource_name)
        run = runs.new_run(origin, name, created, datetime.now(UTC))
        runs.announce_final_at_submit(run, datetime.now(UTC))
        try:
            # After a takeover the dead attempt's create may still land: the poller watches for it for a while.
            watch = time.time() + WATCH_SECONDS if claim.kind == "takeover" else 0.0
            stored = self.claims.complete(key, run, kinds.run_doc_id(name), watch_until=watch)
        except Exception as exc:  # noqa: BLE001 - the job exists; the next attempt completes the record
            log.error("recording the run failed; a retry will complete it", error=repr(exc)[:500])
            raise ApiError(
                "UNAVAILABLE", "the run could not be recorded; retry the same request", retry_after=5
            ) from None
        log.info("run submitted", vertexState=stored.get("vertexState"))
        return 201, runs.public(stored, runs.SUBMIT_FIELDS)

    def _outputs_file(self, request: SubmitRequest, key: str, job: dict[str, Any]) -> dict[str, Any] | None:
        """With an outputs bucket, a kind whose job writes its Output parameters to a file is told where (the same
        object for every attempt and replay of the request: it derives from the request key)."""
        s = self.settings
        if not (s.outputs_bucket and request.kind.outputs_via_file and request.output_names):
            return None
        where = outputs.location(s.outputs_bucket, s.outputs_prefix, key)
        request.kind.add_outputs_file(job, where)
        return {"uri": where.uri, "parameters": [d.to_record() for d in outputs.declared(request.parameters)]}

    def _replay(self, record: dict[str, Any]) -> dict[str, Any]:
        _, name = kinds.parse_run_name(record.get("runId"), "runId")
        run = self.claims.get_run(kinds.run_doc_id(name))
        if run is None:  # pragma: no cover - "done" is only written together with the run
            raise ApiError("UNAVAILABLE", "the run record is not readable yet; retry", retry_after=2)
        return runs.public(run, runs.SUBMIT_FIELDS)

    def _find(self, kind: JobKind, parent: str, key: str, deadline: float) -> dict[str, Any] | None:
        try:
            return self.vertex.find_by_label(parent, LABEL_REQUEST, key, deadline, kind=kind)
        except UpstreamError as err:
            raise api_error(err, project=_project(parent)) from None

    def _full_if_final(
        self, kind: JobKind, job: dict[str, Any], output_names: tuple[str, ...], deadline: float
    ) -> dict[str, Any]:
        """A job found by a list (a takeover) that already ended is recorded final at once: when what the run
        reports is not in the list view (a Pipeline Job's outputs are on jobDetail's root task, "Not available in
        the list view", v1 reference PipelineJob.job_detail), read it whole with one GET. If the GET fails, the
        list entry is used: the poller does not read it again, so the failure is logged."""
        if not (states.is_final(str(job.get("state") or "")) and kind.needs_full_job(job, output_names)):
            return job
        try:
            return self.vertex.get(str(job.get("name")), deadline)
        except UpstreamError as err:
            log.warning("reading a finished job whole failed; its outputs may be missing", error=str(err)[:300])
            return job

    def _create_once(
        self, kind: JobKind, parent: str, job: dict[str, Any], key: str, deadline: float
    ) -> dict[str, Any]:
        """Create the job, retrying rejections (Vertex AI created nothing): 503 within the deadline; 429 (quota)
        at most `quota_attempts` times within `quota_budget` seconds, then 429 with Retry-After.

        After a failure whose outcome is unknown (timeout, 500) the create is never repeated in this request: the
        job may still be landing. It is looked up by its label until the deadline; if it does not show, the claim
        is kept and the answer is 503. The next attempt takes over once the lease expired (well after any
        in-flight create has landed), looks the job up once more, and only then creates it.
        """
        project = _project(parent)
        job_id = kind.job_id(key)
        attempt = 0
        quota_deadline = min(deadline, time.monotonic() + self.quota_budget)
        quota_refusals = 0
        while True:
            try:
                return self.vertex.create(parent, job, deadline, kind=kind, job_id=job_id)
            except UpstreamError as err:
                failure = err
            if failure.code == "ALREADY_EXISTS" and job_id is not None:
                # An earlier create of this request (a retry, a takeover, a lost response) made it: use that job.
                try:
                    return self.vertex.get(kind.resource_name(parent, job_id), deadline)
                except UpstreamError as err:
                    raise api_error(err, project=project) from None
            if failure.code in AMBIGUOUS:
                found = self._await_job(kind, parent, key, deadline)
                if found is not None:
                    return found
                log.warning("create outcome unknown; the lease is kept for the next attempt", requestKey=key)
                raise api_error(failure, project=project)
            if failure.code == "RESOURCE_EXHAUSTED":
                quota_refusals += 1
                # Quota: a few spaced attempts (at least 1 s apart), then the caller waits Retry-After.
                delay = max(1.0, backoff(attempt, base=1.0, cap=4.0))
                if quota_refusals >= self.quota_attempts or time.monotonic() + delay >= quota_deadline:
                    self._release(key)
                    log.warning("Vertex AI quota exhausted; answering 429", creates=quota_refusals)
                    raise ApiError(
                        "RESOURCE_EXHAUSTED",
                        f"Vertex AI quota exhausted in project {project} ({clean_detail(failure.message)}); nothing "
                        f"was created: retry the same request after {QUOTA_RETRY_AFTER} s, or request more quota",
                        retry_after=QUOTA_RETRY_AFTER,
                    )
            else:
                delay = backoff(attempt)
                if not failure.transient or time.monotonic() + delay >= deadline:
                    self._release(key)
                    raise api_error(failure, project=project)
            attempt += 1
            time.sleep(delay)

    def _release(self, key: str) -> None:
        """Drop the claim of a request whose job Vertex AI refused (no job exists), so a retry starts afresh. The
        refusal is the answer even when the store does not take the release: the claim then keeps its lease, a
        retry answers 503 "in progress" until it expires, then takes over, finds no job and creates it."""
        try:
            self.claims.release(key)
        except Exception as exc:  # noqa: BLE001 - a stalled or failing store must not turn a 4xx into a 500
            log.warning("releasing the claim failed; it expires with its lease", requestKey=key, error=repr(exc)[:300])

    def _await_job(self, kind: JobKind, parent: str, key: str, deadline: float) -> dict[str, Any] | None:
        attempt = 0
        job_id = kind.job_id(key)
        while time.monotonic() < deadline:
            try:
                if job_id is not None:  # its name is known: read it (a list may lag behind a create)
                    found: dict[str, Any] | None = self.vertex.get(kind.resource_name(parent, job_id), deadline)
                else:
                    found = self.vertex.find_by_label(parent, LABEL_REQUEST, key, deadline, kind=kind)
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


def _project(parent: str) -> str:
    return split_parent(parent)[0]
