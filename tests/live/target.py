"""Which Vertex AI endpoint the fidelity facts run against, with which credentials, and what it may cost.

- Nothing configured: our Vertex AI emulator (in-process, anonymous credentials), like tests/conftest.py's
  `vertex_server`. Its Cloud Logging `entries:list` is served by the same server.
- `PSV_LIVE_PROJECT` and `PSV_LIVE_LOCATION` set: Vertex AI itself, through the same generated
  `google.cloud.aiplatform_v1` clients (REST transport) and the regional endpoint the connector's adapter uses
  (`https://{location}-aiplatform.googleapis.com`, functions/polysync_vertex/adapters/vertex.py), with Application
  Default Credentials (`google.auth.default`); Cloud Logging at `https://logging.googleapis.com`.
  Optional: `PSV_LIVE_PIPELINE_ROOT` (gs:// directory the pipeline writes to; required for the pipeline facts),
  `PSV_LIVE_IMAGE` (the tiny public image), `PSV_LIVE_MACHINE_TYPE`, `PSV_LIVE_BATCH_INPUT` (gs://...jsonl, with
  `--live-batch-model`).

`python -m tests.live.target` prints the one line `make test-live` starts with.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FACTS_FILE = Path(__file__).with_name("facts.json")
PROJECT_ENV = "PSV_LIVE_PROJECT"
LOCATION_ENV = "PSV_LIVE_LOCATION"
PIPELINE_ROOT_ENV = "PSV_LIVE_PIPELINE_ROOT"
IMAGE_ENV = "PSV_LIVE_IMAGE"
MACHINE_ENV = "PSV_LIVE_MACHINE_TYPE"
BATCH_INPUT_ENV = "PSV_LIVE_BATCH_INPUT"
EMULATOR = "emulator"
VERTEX_AI = "vertex-ai"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# A public image of a few MB on Google's Docker Hub mirror; the job runs `sh -c` in it for seconds.
DEFAULT_IMAGE = "mirror.gcr.io/library/busybox:1.36"
LOGGING_ENDPOINT = "https://logging.googleapis.com"
# Every job the suite creates carries this label (its value names the session), so a leftover is easy to find:
#   gcloud ai custom-jobs list --region=LOCATION --filter='labels.psv-live:*'
RUN_LABEL = "psv-live"
# Not the connector's `managed-by=polysync-vertex`: a deployed connector polling the same location must not adopt
# the suite's jobs as orphans.
MANAGED_BY = "polysync-vertex-live"


def facts() -> dict[str, Any]:
    """The expected values (tests/live/facts.json), read fresh."""
    data: dict[str, Any] = json.loads(FACTS_FILE.read_text())
    return data


def configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get(PROJECT_ENV, "").strip())


def regional_endpoint(location: str) -> str:
    """The adapter's rule (VertexJobs._client_locked): the global endpoint for `global`, else the regional one."""
    return (
        "https://aiplatform.googleapis.com" if location == "global" else f"https://{location}-aiplatform.googleapis.com"
    )


@dataclass(frozen=True)
class Target:
    name: str  # EMULATOR or VERTEX_AI
    project: str
    location: str
    api_endpoint: str
    logging_endpoint: str
    credentials: Any
    pipeline_root: str
    image: str
    machine_type: str
    batch_input: str = ""
    session: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}")

    @property
    def live(self) -> bool:
        return self.name == VERTEX_AI

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def describe(self) -> str:
        if self.live:
            return (
                f"live facts: target = Vertex AI ({self.api_endpoint}, project {self.project}, Application Default "
                f"Credentials {type(self.credentials).__name__})"
            )
        return (
            f"live facts: target = the Vertex AI emulator ({self.api_endpoint}; set {PROJECT_ENV} and "
            f"{LOCATION_ENV} for Vertex AI)"
        )

    def client_options(self) -> dict[str, Any]:
        return {"api_endpoint": self.api_endpoint}

    def job_client(self) -> Any:
        from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

        return JobServiceClient(transport="rest", credentials=self.credentials, client_options=self.client_options())

    def pipeline_client(self) -> Any:
        from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient

        return PipelineServiceClient(
            transport="rest", credentials=self.credentials, client_options=self.client_options()
        )

    def http(self) -> Any:
        """An HTTP session for Cloud Logging's REST API (no generated Logging client is installed)."""
        if self.live:
            from google.auth.transport.requests import AuthorizedSession

            return AuthorizedSession(self.credentials)
        import requests

        return requests.Session()


def resolve(
    env: Mapping[str, str] | None = None,
    *,
    emulator_url: str = "",
    adc: Callable[..., tuple[Any, str | None]] | None = None,
) -> Target:
    """The target the environment asks for. Vertex AI needs both project and location; credentials come from
    `adc` (default `google.auth.default`, which reads GOOGLE_APPLICATION_CREDENTIALS or gcloud's ADC file)."""
    env = os.environ if env is None else env
    image = env.get(IMAGE_ENV, "") or DEFAULT_IMAGE
    machine = env.get(MACHINE_ENV, "") or str(facts()["cost"]["machine_type"])
    if not configured(env):
        if not emulator_url:
            raise ValueError("the emulator's URL is needed when PSV_LIVE_PROJECT is not set")
        from google.auth.credentials import AnonymousCredentials

        return Target(
            name=EMULATOR,
            project="live-project",
            location="us-central1",
            api_endpoint=emulator_url,
            logging_endpoint=emulator_url,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            pipeline_root="gs://emulator-live/pipeline-root",
            image=image,
            machine_type=machine,
            batch_input="gs://emulator-live/batch/instances.jsonl",
        )
    project = env[PROJECT_ENV].strip()
    location = env.get(LOCATION_ENV, "").strip()
    if not location:
        raise ValueError(f"{PROJECT_ENV} is set but {LOCATION_ENV} is not: name the Vertex AI region, e.g. us-central1")
    if adc is None:
        import google.auth

        adc = google.auth.default
    credentials, _ = adc(scopes=list(SCOPES))
    return Target(
        name=VERTEX_AI,
        project=project,
        location=location,
        api_endpoint=regional_endpoint(location),
        logging_endpoint=LOGGING_ENDPOINT,
        credentials=credentials,
        pipeline_root=env.get(PIPELINE_ROOT_ENV, "").strip().rstrip("/"),
        image=image,
        machine_type=machine,
        batch_input=env.get(BATCH_INPUT_ENV, "").strip(),
    )


def cost_estimate(budget: int, *, batch: bool) -> str:
    """What the suite may cost at most (list prices in facts.json), printed before anything is created."""
    cost = facts()["cost"]
    calls, running = budget_plan(batch=batch), RUNNING_JOBS | {"batch": 1 if batch else 0}
    spend = (
        running["custom"] * cost["usd_per_custom_job"]
        + running["pipeline"] * cost["usd_per_pipeline_job"]
        + running["batch"] * cost["usd_per_batch_job"]
    )
    return (
        f"live facts: cost estimate: at most {min(budget, sum(calls.values()))} create calls, of which "
        f"{running['custom']} Custom Jobs ({cost['machine_type']}, one cancelled), {running['pipeline']} Pipeline Job "
        f"and {running['batch']} Batch Prediction Job run; the others are refused by design. About US${spend:.2f} at "
        f"list prices, up to ~{cost['minutes_per_job']} min per job; --live-budget {budget} caps the create calls"
    )


# Jobs that run and cost money; budget_plan's other create calls are refused by Vertex AI and create nothing.
RUNNING_JOBS = {"custom": 2, "pipeline": 1}


def budget_plan(*, batch: bool) -> dict[str, int]:
    """Create calls the suite makes: Custom Jobs (one succeeding, one cancelled, five meant to be refused),
    Pipeline Jobs (one run, a repeated id twice: refused), one Batch Prediction Job with --live-batch-model."""
    return {"custom": 7, "pipeline": 3, "batch": 1 if batch else 0}


def default_budget() -> int:
    return sum(budget_plan(batch=True).values())


def main() -> int:
    target_name = VERTEX_AI if configured() else EMULATOR
    if target_name == EMULATOR:
        print(f"live facts: target = the Vertex AI emulator (set {PROJECT_ENV} and {LOCATION_ENV} for Vertex AI)")
    else:
        location = os.environ.get(LOCATION_ENV, "?")
        print(f"live facts: target = Vertex AI ({regional_endpoint(location)}, project {os.environ[PROJECT_ENV]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
