"""Pipeline Job facts after a run: runtimeConfig comes back as sent, outputs are the root task's output:<name>."""

from __future__ import annotations

from typing import Any

import pytest

from .target import facts

pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]
FACTS = facts()


@pytest.mark.fact("pipeline_runtime_config")
def test_runtime_config_is_unchanged_after_a_run(succeeded_pipeline: tuple[Any, Any], record: Any) -> None:
    sent, done = succeeded_pipeline
    assert done.state.name == "PIPELINE_STATE_SUCCEEDED", done.error
    got, want = dict(done.runtime_config.parameter_values), dict(sent.runtime_config.parameter_values)
    record(parameter_values=got, gcs_output_directory=done.runtime_config.gcs_output_directory)
    assert got == want, "runtimeConfig.parameterValues changed: a run's outputs are not read from there"
    assert done.runtime_config.gcs_output_directory == sent.runtime_config.gcs_output_directory


@pytest.mark.fact("pipeline_root_task_outputs")
def test_outputs_are_the_root_system_run_task_output_metadata(succeeded_pipeline: tuple[Any, Any], record: Any) -> None:
    fact = FACTS["pipeline_root_task_outputs"]
    _, done = succeeded_pipeline
    assert done.state.name == "PIPELINE_STATE_SUCCEEDED", done.error
    tasks = list(done.job_detail.task_details)
    record(
        tasks=[
            {"taskName": t.task_name, "schemaTitle": t.execution.schema_title, "parentTaskId": t.parent_task_id}
            for t in tasks
        ]
    )
    roots = [t for t in tasks if t.execution.schema_title == fact["schema_title"]]
    assert len(roots) == 1, f"one {fact['schema_title']} task expected among {[t.task_name for t in tasks]}"
    root = roots[0]
    metadata = dict(root.execution.metadata)
    key = fact["metadata_prefix"] + fact["output_name"]
    record(root_task_name=root.task_name, root_metadata=metadata)
    assert root.task_name == done.name.rsplit("/", 1)[1], "the root task is named after the job id"
    assert not root.parent_task_id
    assert metadata.get(key) == fact["output_value"], f"{key} missing or different: {metadata}"
