"""status and cancel: what Polysync sees of a recorded run, and stopping it. The same for every job kind."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .. import log
from ..config import Settings
from ..core import diagnostics, kinds, logpage, runs, states
from ..core.errors import ApiError, UpstreamError
from ..core.names import JobResourceName
from ..ports import LogReader, RunRecords, VertexPort
from .upstream import api_error, logging_error

LOGS_BUDGET_SECONDS = 10.0


class RunService:
    def __init__(
        self, settings: Settings, vertex: VertexPort, records: RunRecords, logs: LogReader | None = None
    ) -> None:
        self.settings = settings
        self.vertex = vertex
        self.records = records
        self.logs = logs

    def _load(self, name: JobResourceName) -> dict[str, Any]:
        run = self.records.get_run(kinds.run_doc_id(name))
        if run is None:
            raise ApiError("NOT_FOUND", f"run {name.resource_name} was not created by this connector", "runId")
        return run

    def status(
        self, run_id: object, logs: str | None = None, page_token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """The recorded run; with `logs` (1-200) also its last that many log lines (`pageToken`: the lines before)."""
        kind, name = kinds.parse_run_name(run_id, "runId")
        count = logpage.parse_count(logs) if logs is not None or page_token is not None else 0
        run = self._load(name)
        if run.get("active"):
            # The poller stamps each location once per tick instead of writing every run it found unchanged.
            polled = self.records.last_polled(name.project, name.location)
            if polled and (run.get("lastPolled") or "") < polled:
                run["lastPolled"] = polled
        body = runs.public(run)
        if count:
            body["logs"] = self._logs(kind, name, run, count, page_token)
        return 200, body

    def _logs(
        self, kind: kinds.JobKind, name: JobResourceName, run: dict[str, Any], count: int, page_token: str | None
    ) -> dict[str, Any]:
        """{"lines": [...] in time order, "nextPageToken"}: one entries:list call (none for kinds without logs), and
        for kinds whose logs need the job (`logs_need_job`) one GET of it first."""
        deadline = time.monotonic() + min(LOGS_BUDGET_SECONDS, self.settings.request_budget_seconds)
        job = kind.run_job_view(run)
        if kind.logs_need_job and kind.reads_logs and self.logs is not None:
            job = self._job_for_logs(name, job, deadline)
        since = run.get("createTime")

        def filter_of(job_ids: Sequence[str]) -> str:
            return diagnostics.combined_filter([kind.run_log_filter(name, job_ids)], since=since)

        upstream, others = logpage.decode_token(page_token, filter_of, kind.log_jobs(job))
        filter_ = filter_of(others)
        own = kind.failure_lines(job)
        if not kind.reads_logs or self.logs is None:
            return {"lines": own[-count:], "nextPageToken": ""}
        try:
            entries, token = self.logs.list_entries(
                [name.project], filter_, deadline, page_size=count, page_token=upstream
            )
        except UpstreamError as err:
            raise logging_error(err, project=name.project, field="pageToken" if upstream else "logs") from None
        sources = kind.log_sources(job)
        lines = sorted((diagnostics.line_of(e, sources) for e in entries), key=lambda line: line["time"])
        return {"lines": lines, "nextPageToken": logpage.encode_token(token, filter_, others) if token else ""}

    def _job_for_logs(self, name: JobResourceName, recorded: dict[str, Any], deadline: float) -> dict[str, Any]:
        """The job as Vertex AI has it now; when that GET fails, the run record's view (a warning, never a 500)."""
        try:
            return self.vertex.get(name.resource_name, deadline)
        except UpstreamError as err:
            log.warning(
                "status logs: reading the job failed; showing the lines of the jobs its record names",
                runId=name.resource_name,
                code=err.code,
            )
            return recorded

    def cancel(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        kind, name = kinds.parse_run_name(body.get("runId"), "runId")
        with log.context(runId=name.resource_name):
            run = self._load(name)
            if states.is_final(run["vertexState"]):
                return 200, runs.public(run)
            deadline = time.monotonic() + self.settings.request_budget_seconds
            observed: dict[str, Any] | None = None
            try:
                self.vertex.cancel(name.resource_name, deadline)
            except UpstreamError as err:
                if err.code == "FAILED_PRECONDITION":
                    observed = self._job(name, deadline)  # it finished first: record its final state
                elif err.code == "NOT_FOUND":
                    observed = {}
                else:
                    raise api_error(err, project=name.project, field="runId") from None
            now = datetime.now(UTC)
            cancelling = kind.states.cancelling

            def record(r: dict[str, Any]) -> dict[str, Any] | None:
                if observed == {}:
                    return runs.mark_deleted(r, now)
                if observed is not None:
                    return runs.apply_state(r, observed, now)
                if r["vertexState"] == cancelling:
                    return None
                return runs.apply_state(r, {"state": cancelling, "updateTime": runs.iso(now)}, now)

            _, latest = self.records.update_run(kinds.run_doc_id(name), record)
            run = latest or self._load(name)
            log.info("cancel requested", vertexState=run["vertexState"])
            return (200 if states.is_final(run["vertexState"]) else 202), runs.public(run)

    def _job(self, name: JobResourceName, deadline: float) -> dict[str, Any]:
        try:
            return self.vertex.get(name.resource_name, deadline)
        except UpstreamError as err:
            if err.code == "NOT_FOUND":
                return {}
            raise api_error(err, project=name.project, field="runId") from None
