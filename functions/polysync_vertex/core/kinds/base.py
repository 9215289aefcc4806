"""The seam between the connector's machinery and one Vertex AI job type.

Everything that differs by job type lives behind `JobKind`, implemented once per type (`custom.py`,
`pipeline.py`, `batch.py`): the collection and its resource names, the state enum and its Polysync mapping, the
create body built from template + attributes + parameters, template reading (attributes, parameter schema, links),
the console URL, the list filter the poller may use, and what a final job yields for the run record. Services, the
Vertex AI adapter and the poller ask the kind; none of them names a collection. Pure: no I/O, no cloud imports.
"""

from __future__ import annotations

import copy
import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol

from ..labels import LABEL_MANAGED_BY, MANAGED_BY, display_name, job_labels
from ..names import JobResourceName, parse_name
from ..outputs import Location
from ..parameters import ENV_NAME_RE, Parameter
from ..shape import as_dict, as_str
from ..states import StateSet


class JobRequest(Protocol):
    """What a kind builds a job from: a parsed submit (`core.request.SubmitRequest`)."""

    @property
    def job_name(self) -> str: ...

    @property
    def attributes(self) -> dict[str, Any]: ...

    @property
    def parameters(self) -> tuple[Parameter, ...]: ...

    @property
    def output_names(self) -> tuple[str, ...]: ...


# Fields every kind's poll list reads (REST field paths, snake_case as `readMask` takes them).
BASE_READ_MASK = ("name", "state", "create_time", "start_time", "end_time", "update_time", "error", "labels")


class JobKind(ABC):
    """One Vertex AI job type. Class attributes describe it; methods build and read its resources."""

    job_type: ClassVar[str]  # Polysync's name, e.g. "Vertex AI Custom Job"
    collection: ClassVar[str]  # REST collection, e.g. "customJobs"
    resource: ClassVar[str]  # proto message / method stem, e.g. "CustomJob" (CreateCustomJob, ListCustomJobs)
    service: ClassVar[str]  # the generated client that serves it: "job" (JobService) or "pipeline"
    id_pattern: ClassVar[re.Pattern[str]]
    id_text: ClassVar[str]
    states: ClassVar[StateSet]
    console_path: ClassVar[str]  # console URL path segment before the id, e.g. "training"
    attributes: ClassVar[frozenset[str]]
    required_without_template: ClassVar[tuple[str, ...]]
    outputs_supported: ClassVar[bool] = False  # Output parameters are read back from the final job
    # What a parameter name may be (Custom Jobs: environment variable names).
    parameter_name: ClassVar[re.Pattern[str]] = ENV_NAME_RE
    parameter_name_rule: ClassVar[str] = "a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
    # Fields the poller's list calls read on top of BASE_READ_MASK, to record a final job without a GET.
    output_read_mask: ClassVar[tuple[str, ...]] = ()
    # The poller may list only jobs updated since its last tick (the type's list supports `update_time`).
    poll_by_update_time: ClassVar[bool] = False
    # Fields a final job carries into the run record (status, terminal event), as `outputs(job)` returns them.
    output_fields: ClassVar[tuple[str, ...]] = ()
    # The fields `to_template` reads, as a list's readMask: a template list never holds whole jobs. With
    # `template_by_get` the list reads only names and labels, and each template of the page is read by one GET, one
    # at a time (a Pipeline Job's spec can be megabytes: a page of them must not be in memory at once).
    template_read_mask: ClassVar[tuple[str, ...]] = ()
    template_by_get: ClassVar[bool] = False

    # -- names -------------------------------------------------------------------------------------------
    def console_url(self, name: JobResourceName) -> str:
        return (
            f"https://console.cloud.google.com/vertex-ai/locations/{name.location}/{self.console_path}/"
            f"{name.job_id}?project={name.project}"
        )

    def resource_name(self, parent: str, job_id: str) -> str:
        return f"{parent}/{self.collection}/{job_id}"

    def parse_name(self, value: object, field: str) -> JobResourceName:
        """A resource name of this kind's collection; anything else is INVALID_ARGUMENT."""
        return parse_name(value, field, {self.collection: (self.resource, self.id_pattern, self.id_text)})

    def stored_id(self, job_id: str) -> str:
        """The job's id inside the connector's stored keys (run document ids, poll index members): ids of
        different collections may coincide, so they carry the collection."""
        return f"{self.collection}~{job_id}"

    def run_doc_id(self, project: str, location: str, job_id: str) -> str:
        """The Firestore document id of the run of this job (no '/')."""
        return f"{project}~{location}~{self.stored_id(job_id)}"

    @property
    def read_mask(self) -> tuple[str, ...]:
        return BASE_READ_MASK + self.output_read_mask

    # -- submit ------------------------------------------------------------------------------------------
    @abstractmethod
    def parse_attributes(self, raw: Any, accelerators: Collection[str] | None = None) -> dict[str, Any]:
        """Validated attributes (400 naming the attribute on anything malformed)."""

    @abstractmethod
    def build(self, request: JobRequest, template: dict[str, Any] | None, key: str, now: datetime) -> dict[str, Any]:
        """The job to create (REST JSON), from the template as Vertex AI returned it (or None)."""

    def job_id(self, key: str) -> str | None:
        """A client-chosen job id derived from the request key, when the type's create takes one."""
        return None

    def accelerator(self, job: dict[str, Any]) -> str | None:
        """The accelerator the job waits for (named by queued_too_long), if any."""
        return None

    def outputs(self, job: dict[str, Any], output_names: tuple[str, ...]) -> dict[str, Any]:
        """Fields a final job contributes to the run record (empty for types without outputs)."""
        return {}

    def needs_full_job(self, job: dict[str, Any], output_names: tuple[str, ...]) -> bool:
        """Whether `outputs` needs the job as GET returns it, where `job` is a list entry (the list view lacks it)."""
        return False

    # The job writes its Output parameters to a file the connector reads back (`core/outputs.py`), when an outputs
    # bucket is configured; without one they are ignored with a warning.
    outputs_via_file: ClassVar[bool] = False

    def add_outputs_file(self, job: dict[str, Any], where: Location) -> None:
        """Tell the job to be created where to write its Output parameters (kinds with `outputs_via_file`)."""
        raise NotImplementedError(f"a {self.job_type} does not write its outputs to a file")

    # -- push hints (services/poll/hints.py) ------------------------------------------------------------
    # The Cloud Logging resource type of Vertex AI's own job-state entries for this kind and the resource label
    # holding the job id ("" when the kind writes no such entry: the tick alone observes it).
    hint_resource_type: ClassVar[str] = ""
    hint_job_id_label: ClassVar[str] = ""

    # -- diagnostics (core/diagnostics.py) ---------------------------------------------------------------
    # The job writes log entries of its own that Cloud Logging's entries:list can read.
    reads_logs: ClassVar[bool] = True
    # The list view lacks what `failed_tasks` reads: a failed job is read with a GET before it is diagnosed.
    failure_needs_detail: ClassVar[bool] = False
    # A Failed run carries `failedTasks` [{name, state, error}] at top level (in `output_fields`) and its error
    # message begins with the first failed task's name (core/diagnostics.py `name_failed_tasks`).
    failed_tasks_on_run: ClassVar[bool] = False
    # `status?logs=N` reads the job itself (one GET) for `log_jobs`: the run record does not name every job whose
    # entries are the run's (a running Pipeline Job's tasks are only in its jobDetail). False: no Vertex AI call.
    logs_need_job: ClassVar[bool] = False

    def log_filter(self, name: JobResourceName, job: dict[str, Any], *, all_tasks: bool = False) -> str:
        """The Cloud Logging filter of the job's entries. Vertex AI training writes them on resource `ml_job`
        labelled with the job id, Vertex AI's own lines as task_name "service", the workload's as
        "workerpool0-0" (gcloud ai custom-jobs stream-logs filters the same way:
        googlecloudsdk/command_lib/ai/log_util.py, `_LogFilters`)."""
        return ml_job_filter([name.job_id])

    def log_jobs(self, job: dict[str, Any]) -> list[str]:
        """Ids of the other jobs whose entries are the run's (a pipeline's tasks' CustomJobs), oldest first: what
        `run_log_filter` may name."""
        return []

    def run_log_filter(self, name: JobResourceName, job_ids: Sequence[str]) -> str:
        """`status?logs=N`'s filter: the job's own entries and those of `job_ids` (some of `log_jobs`)."""
        return self.log_filter(name, {}, all_tasks=True)

    def run_job_view(self, run: dict[str, Any]) -> dict[str, Any]:
        """A recorded run as the job its diagnostics read (state, error, times, the kind's output fields): what a
        later log read or `status?logs=N` knows without a Vertex AI call."""
        return {**run, "state": run.get("vertexState")}

    def logs_query(self, name: JobResourceName, job: dict[str, Any]) -> str:
        """The Logs Explorer query of `diagnostics.logsUrl`."""
        return self.log_filter(name, job)

    def log_sources(self, job: dict[str, Any]) -> dict[str, str]:
        """{job id in a log entry: the source its lines are shown as} for entries of other jobs (pipeline tasks)."""
        return {}

    def failed_tasks(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        """The failed parts of a failed job (Pipeline Jobs: tasks), as `diagnostics.failedTasks` lists them."""
        return []

    def failure_lines(self, job: dict[str, Any]) -> list[dict[str, str]]:
        """Log lines made from the job itself, for kinds whose logs say less than the job (time, severity,
        source, text)."""
        return []

    # -- templates ---------------------------------------------------------------------------------------
    @abstractmethod
    def to_template(self, job: dict[str, Any]) -> dict[str, Any]:
        """The template Polysync imports for one job of this type."""

    # -- shared helpers ----------------------------------------------------------------------------------
    def base_body(
        self, request: JobRequest, template: dict[str, Any] | None, key: str, now: datetime, *, drop: str = ""
    ) -> dict[str, Any]:
        """displayName and labels (template labels kept, except the connector's and those starting with `drop`)."""
        template_labels = dict((template or {}).get("labels") or {})
        if drop:
            template_labels = {k: v for k, v in template_labels.items() if not k.startswith(drop)}
        return {
            "displayName": display_name(request.job_name, now),
            "labels": job_labels(template_labels, key, request.job_name),
        }

    @staticmethod
    def clone(template: dict[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any]:
        if template is None:
            return {}
        return {f: copy.deepcopy(template[f]) for f in fields if template.get(f) not in (None, "", {}, [])}

    def list_filter(self, *, extra: tuple[str, ...] = ()) -> str:
        return " AND ".join((f'labels.{LABEL_MANAGED_BY}="{MANAGED_BY}"', *extra))

    def template_base(self, job: dict[str, Any]) -> dict[str, Any]:
        """The fields every kind's template carries."""
        template: dict[str, Any] = {
            "externalId": as_str(job.get("name")),
            "displayName": as_str(job.get("displayName")),
            "jobType": self.job_type,
        }
        return template

    def template_tail(self, job: dict[str, Any]) -> dict[str, Any]:
        tail: dict[str, Any] = {
            "labels": {k: v for k, v in as_dict(job.get("labels")).items() if isinstance(v, str)},
            "state": as_str(job.get("state")) or self.states.unspecified,
        }
        if isinstance(job.get("createTime"), str):
            tail["createTime"] = job["createTime"]
        return tail


def ml_job_filter(job_ids: list[str]) -> str:
    """`resource.type="ml_job"` entries of the given job ids (the Logging query language:
    https://cloud.google.com/logging/docs/view/logging-query-language)."""
    ids = " OR ".join(f'resource.labels.job_id="{i}"' for i in job_ids)
    return f'resource.type="ml_job" AND ({ids})' if len(job_ids) > 1 else f'resource.type="ml_job" AND {ids}'
