"""The emulator's own limits and error mappings hold the values in tests/live/facts.json, the file the live suite
checks against Vertex AI: a fact corrected from a live report fails here until the emulator follows it."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1

from tests.live.target import facts
from vertex_emulator import EmulatorServer, errors, listing, service_log, validation

from .support import create, make_client, wait_state

FACTS = facts()
SUCCEEDED = v1.JobState.JOB_STATE_SUCCEEDED


def test_label_limits_are_the_facts() -> None:
    labels = FACTS["labels"]
    assert validation.MAX_LABELS == labels["max_labels"]
    assert validation.MAX_LABEL_CHARS == labels["max_key_chars"] == labels["max_value_chars"]


def test_the_service_lines_state_label_is_the_facts() -> None:
    logs = FACTS["service_logs"]
    assert service_log.STATE_LABEL == logs["state_label"]


def test_page_size_cap_is_the_fact() -> None:
    assert listing.MAX_PAGE_SIZE == FACTS["page_size"]["emulator_max"]


@pytest.mark.parametrize(
    "expected",
    [
        FACTS["errors"]["invalid_argument"],
        FACTS["errors"]["not_found"],
        FACTS["errors"]["already_exists"],
        FACTS["pipeline_job_id_repeated"],
        FACTS["cancel"]["finished_job"],
        FACTS["labels"]["rejected"],
    ],
    ids=["invalid_argument", "not_found", "already_exists", "pipeline_job_id", "cancel_finished", "labels"],
)
def test_error_statuses_answer_the_facts_http_codes(expected: dict[str, Any]) -> None:
    assert errors.STATUS_TO_HTTP[expected["status"]] == expected["http"]


def test_cancel_of_a_finished_job_and_label_rules_as_the_facts_say(emulator: EmulatorServer, parent: str) -> None:
    client: v1.JobServiceClient = make_client(emulator.url)
    job = wait_state(client, create(client, parent, display_name="facts", scenario="SUCCEEDED").name, SUCCEEDED)
    want = FACTS["cancel"]["finished_job"]
    with pytest.raises(gexc.GoogleAPICallError) as exc:
        client.cancel_custom_job(name=job.name)
    assert (exc.value.code, exc.value.response.json()["error"]["status"]) == (want["http"], want["status"])
    too_long = {"k" * (FACTS["labels"]["max_key_chars"] + 1): "v"}
    with pytest.raises(gexc.GoogleAPICallError) as exc:
        create(client, parent, display_name="facts-labels", labels=too_long)
    assert exc.value.code == FACTS["labels"]["rejected"]["http"]
