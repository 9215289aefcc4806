"""pytest options and hooks of the live suite (registered by tests/conftest.py, so they exist before collection).

--live-budget N        at most N create calls (default: what the suite needs, with Batch Prediction)
--live-batch-model M   run the Batch Prediction fact against Vertex AI with model M (a Model resource name)
--live-report PATH     where to write what the facts observed (default against Vertex AI: live-facts-report.json)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .support import REPORT
from .target import configured, cost_estimate, default_budget

DEFAULT_REPORT = "live-facts-report.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("live", "fidelity facts against a Vertex AI endpoint (tests/live)")
    group.addoption("--live-budget", type=int, default=default_budget(), help="most create calls the suite may make")
    group.addoption("--live-batch-model", default="", help="Model resource name for the Batch Prediction fact")
    group.addoption("--live-report", default="", help=f"report file (default on Vertex AI: ./{DEFAULT_REPORT})")


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not configured():
        return ["live facts: target = the Vertex AI emulator (PSV_LIVE_PROJECT unset)"]
    budget = int(config.getoption("--live-budget"))
    batch = bool(config.getoption("--live-batch-model"))
    return ["live facts: target = Vertex AI (PSV_LIVE_PROJECT set)", cost_estimate(budget, batch=batch)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/live/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or report.outcome != "passed":
        REPORT.outcomes[report.nodeid] = "xfailed" if hasattr(report, "wasxfail") else report.outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: Any) -> None:
    option = str(session.config.getoption("--live-report", default="") or "")
    if REPORT.target is None or not (option or REPORT.target.live):
        return
    path = REPORT.write(Path(option or DEFAULT_REPORT))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"live facts: report written to {path.resolve()} (attach it to an issue when a fact differs)"
        )
