"""Which endpoint and credentials the suite resolves, inspected without calling Google."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .target import EMULATOR, VERTEX_AI, configured, cost_estimate, default_budget, resolve

pytestmark = pytest.mark.live


def _adc_file(tmp_path: Path) -> Path:
    """An authorized-user ADC file like `gcloud auth application-default login` writes (made-up values)."""
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "psv-live-test.apps.googleusercontent.com",
                "client_secret": "not-a-secret",
                "refresh_token": "not-a-token",
                "quota_project_id": "my-proj",
            }
        )
    )
    return path


def test_with_psv_live_project_the_suite_targets_vertex_ai(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """google.auth.default reads the ADC file; the generated clients are built for the regional endpoint with
    those credentials. No request is sent (building a client and reading ADC make none)."""
    import socket

    import google.auth.credentials

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_adc_file(tmp_path)))
    env = {"PSV_LIVE_PROJECT": "my-proj", "PSV_LIVE_LOCATION": "europe-west4", "PSV_LIVE_PIPELINE_ROOT": "gs://b/r/"}
    target = resolve(env)
    assert configured(env) and target.live and target.name == VERTEX_AI
    assert (target.project, target.location, target.parent) == (
        "my-proj",
        "europe-west4",
        "projects/my-proj/locations/europe-west4",
    )
    assert target.api_endpoint == "https://europe-west4-aiplatform.googleapis.com"
    assert target.logging_endpoint == "https://logging.googleapis.com"
    assert target.pipeline_root == "gs://b/r"
    assert not isinstance(target.credentials, google.auth.credentials.AnonymousCredentials)
    assert type(target.credentials).__module__ == "google.oauth2.credentials"  # the user's ADC
    for client in (target.job_client(), target.pipeline_client()):
        transport = client._transport  # the generated client keeps what it will call with here
        assert transport._host == "https://europe-west4-aiplatform.googleapis.com"
        assert transport._credentials is target.credentials
    assert "Vertex AI" in target.describe() and "europe-west4" in target.describe()


def test_without_psv_live_project_the_suite_targets_the_emulator() -> None:
    import google.auth.credentials

    target = resolve({}, emulator_url="http://127.0.0.1:1")
    assert not configured({}) and target.name == EMULATOR and not target.live
    assert target.api_endpoint == target.logging_endpoint == "http://127.0.0.1:1"
    assert isinstance(target.credentials, google.auth.credentials.AnonymousCredentials)
    assert "emulator" in target.describe()
    assert target.job_client()._transport._host == "http://127.0.0.1:1"


def test_a_project_without_a_location_is_refused() -> None:
    with pytest.raises(ValueError, match="PSV_LIVE_LOCATION"):
        resolve({"PSV_LIVE_PROJECT": "p"}, adc=lambda **_: (object(), None))


def test_the_global_location_uses_the_global_endpoint() -> None:
    target = resolve({"PSV_LIVE_PROJECT": "p", "PSV_LIVE_LOCATION": "global"}, adc=lambda **_: (object(), None))
    assert target.api_endpoint == "https://aiplatform.googleapis.com"


def test_the_cost_estimate_names_the_budget() -> None:
    line = cost_estimate(default_budget(), batch=False)
    assert f"--live-budget {default_budget()}" in line and "US$" in line
    assert "at most 10 create calls" in line and "US$0.20" in line
    assert "US$0.70" in cost_estimate(default_budget(), batch=True)


def test_the_budget_caps_create_calls() -> None:
    from .support import BudgetExceeded, Jobs

    jobs = Jobs(resolve({}, emulator_url="http://127.0.0.1:1"), budget=1)
    made = jobs.create(lambda: type("Job", (), {"name": "projects/p/locations/l/customJobs/1"})())
    assert made.name == "projects/p/locations/l/customJobs/1" and jobs.created == [made.name]
    with pytest.raises(BudgetExceeded, match="--live-budget 1"):
        jobs.create(lambda: pytest.fail("a create call beyond the budget was made"))
    assert jobs.attempts == 1


def test_the_report_holds_expected_and_observed_values_with_date_and_region(tmp_path: Path) -> None:
    from .support import Report

    report = Report()
    report.target = resolve(
        {"PSV_LIVE_PROJECT": "secret-proj", "PSV_LIVE_LOCATION": "asia-northeast1"}, adc=lambda **_: (object(), None)
    )
    report.record("page_size", oversized_accepted=False)
    report.outcomes["tests/live/test_1_lists.py::test_page_sizes_and_tokens"] = "failed"
    written = json.loads(report.write(tmp_path / "r.json").read_text())
    assert written["target"] == VERTEX_AI and written["region"] == "asia-northeast1"
    assert written["date"][:2] == "20" and "T" in written["date"]
    assert written["facts"]["page_size"]["observed"] == {"oversized_accepted": False}
    assert written["facts"]["page_size"]["expected"]["connector_page_size"] == 100
    assert "secret-proj" not in json.dumps(written), "the project id stays out of a report meant to be shared"


def test_cleanup_cancels_what_runs_and_deletes_every_job() -> None:
    from google.api_core import exceptions as gexc

    from vertex_emulator import EmulatorServer

    from .support import Jobs, custom_job

    server = EmulatorServer(host="127.0.0.1", port=0, time_factor=0.02, cancel_delay=5).start()
    try:
        target = resolve({}, emulator_url=server.url)
        jobs = Jobs(target, budget=2)
        for scenario in ("SUCCEEDED", "PENDING:1,RUNNING:100000,SUCCEEDED"):
            body = custom_job(target, "psv-live-cleanup", seconds=1, scenario=scenario)
            jobs.create(lambda body=body: jobs.jobs.create_custom_job(parent=target.parent, custom_job=body))
        assert jobs.cleanup() == []
        for name in jobs.created:
            with pytest.raises(gexc.NotFound):
                jobs.get(name)
    finally:
        server.stop()


def test_the_first_line_of_make_test_live_names_the_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make test-live` starts with `python -m tests.live.target` (Makefile)."""
    from .target import main

    monkeypatch.delenv("PSV_LIVE_PROJECT", raising=False)
    main()
    assert capsys.readouterr().out.startswith("live facts: target = the Vertex AI emulator")
    monkeypatch.setenv("PSV_LIVE_PROJECT", "my-proj")
    monkeypatch.setenv("PSV_LIVE_LOCATION", "europe-west4")
    main()
    assert capsys.readouterr().out.startswith(
        "live facts: target = Vertex AI (https://europe-west4-aiplatform.googleapis.com, project my-proj)"
    )
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    recipe = makefile.split("\ntest-live:", 1)[1].split("\n\n", 1)[0].strip().splitlines()
    assert recipe[1].strip() == "@$(BIN)/python -m tests.live.target", recipe


def test_make_test_runs_the_live_suite_against_the_emulator() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    pytest_line = next(line for line in recipe.splitlines() if "pytest" in line)
    assert pytest_line.rstrip().endswith(" tests") and "live" not in pytest_line, pytest_line
