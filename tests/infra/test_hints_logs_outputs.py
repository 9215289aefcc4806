"""The Terraform of issues 24 (push hints), 25 (log reads) and 26 (Custom Job outputs), on the parsed HCL: the names
and settings the code of those issues relies on."""

from __future__ import annotations

import json

from test_terraform import _depends_on, config, deployed_by_entry_point, first, topic_of

# --- issue 24: hints -------------------------------------------------------------------------------------------------


def test_a_sink_per_vertex_project_keeps_only_vertex_ais_job_state_entries() -> None:
    cfg = config()
    sink = cfg.resource("google_logging_project_sink", "hints")
    assert sink["for_each"] == "${local.hint_sink_projects}"
    assert (
        "local.vertex_projects" in cfg.locals["hint_sink_projects"]
        and "local.hints_on" in (cfg.locals["hint_sink_projects"])
    )
    assert sink["project"] == "${each.value}"
    assert sink["unique_writer_identity"] is True
    assert sink["destination"] == "pubsub.googleapis.com/${google_pubsub_topic.hints.id}"
    assert sink["filter"] == "${local.hint_filters[each.value]}"
    filters = json.dumps(cfg.locals["hint_filters"])
    # Pipeline Jobs: the documented pipeline_job_events log of the job's project.
    assert 'resource.type=\\\\\\"aiplatform.googleapis.com/PipelineJob\\\\\\"' in filters
    assert 'logName=\\\\\\"projects/${p}/logs/aiplatform.googleapis.com%2Fpipeline_job_events\\\\\\"' in filters
    # Custom Jobs: Vertex AI's service lines that carry the job state label (best effort).
    for part in (
        'resource.type=\\\\\\"ml_job\\\\\\"',
        'resource.labels.task_name=\\\\\\"service\\\\\\"',
        'labels.\\\\\\"ml.googleapis.com/job_state\\\\\\":*',
    ):
        assert part in filters, part
    assert " OR " in filters and "batchPrediction" not in filters


def test_each_sink_writer_may_publish_to_the_hints_topic_only() -> None:
    cfg = config()
    grant = cfg.resource("google_pubsub_topic_iam_member", "hints_sink_writer")
    assert grant["for_each"] == "${google_logging_project_sink.hints}"
    assert grant["member"] == "${each.value.writer_identity}"
    assert grant["role"] == "roles/pubsub.publisher"
    assert topic_of(grant["topic"]) == "hints"
    topic = cfg.resource("google_pubsub_topic", "hints")
    assert topic["message_retention_duration"] == "600s"
    assert "time_sleep.apis" in _depends_on(cfg.resource("google_logging_project_sink", "hints"))


def test_the_hint_function_reads_the_hints_topic_with_its_own_identities() -> None:
    cfg = config()
    hint = deployed_by_entry_point()["hint"]
    assert hint.kind == "cloud_event" and hint.key == "hint"
    assert topic_of(cfg.locals["event_topics"]["hint"]) == "hints"
    assert cfg.locals["event_functions"]["hint"]["retries"] is True, "the same delivery as poll_shard"
    assert cfg.locals["event_functions"]["hint"]["max_instances"] == "${var.hint_max_instances}"
    assert cfg.locals["function_accounts"]["hint"] and cfg.locals["trigger_accounts"]["hint"]
    assert cfg.locals["firestore_roles"]["hint"] == "roles/datastore.user"
    assert {"fn": "hint", "topic": "${google_pubsub_topic.status.name}"} in cfg.locals["topic_publishers"].values()
    env = cfg.locals["common_env"]
    assert env["PSV_HINT_GETS_PER_MINUTE"] == "${tostring(var.hint_gets_per_minute)}"
    assert env["PSV_POLL_INTERVAL_SECONDS"] == "${tostring(var.poll_interval_seconds)}"
    assert env["PSV_POLL_CALLS_PER_MINUTE"] == "${tostring(var.poll_calls_per_minute)}"
    defaults = {v: cfg.variables[v]["default"] for v in ("hint_gets_per_minute", "poll_interval_seconds")}
    assert defaults == {"hint_gets_per_minute": 120, "poll_interval_seconds": 15}
    assert cfg.variables["poll_calls_per_minute"]["default"] == 120
    # 0 turns the cadence off (config.py: interval 0 or >= 60 is one pass a minute); docs/deploy.md tells users so.
    assert "var.poll_interval_seconds >= 0" in json.dumps(cfg.variables["poll_interval_seconds"]["validation"])
    assert cfg.variables["hints_enabled"]["default"] is True
    assert "hints_topic" in cfg.outputs and "hint_sinks" in cfg.outputs


def test_hint_is_deployed_once_main_py_defines_it_and_hints_are_on() -> None:
    cfg = config()
    assert cfg.locals["hint_code_present"] == '${strcontains(file("${path.module}/../functions/main.py"), "def hint(")}'
    assert cfg.locals["hints_on"] == "${var.hints_enabled && local.hint_code_present}"
    deployed_filter = cfg.locals["event_functions_deployed"]
    assert 'k != "hint" || local.hints_on' in deployed_filter and "local.event_functions" in deployed_filter
    # The sinks follow the function: a hints topic without its push subscription would drop their entries.
    assert "local.hints_on ?" in cfg.locals["hint_sink_projects"]


def test_health_may_read_the_sinks() -> None:
    assert "logging.sinks.get" in config().locals["vertex_permissions"]["health"]


def test_health_knows_the_sink_and_topic_and_may_ask_whether_the_writer_may_publish() -> None:
    """PSV_HINT_SINK / PSV_HINTS_TOPIC name the sink and topic of infra/hints.tf while hints are on, empty
    otherwise (no check); health asks Policy Troubleshooter about the writer, which needs the topic's and the
    project's IAM policies (its custom role health_inspect)."""
    cfg = config()
    env = cfg.locals["common_env"]
    assert cfg.resource("google_logging_project_sink", "hints")["name"] == "${local.hint_sink_name}"
    assert cfg.locals["hint_sink_name"] == "${var.name_prefix}-hints"
    assert env["PSV_HINT_SINK"] == '${local.hints_on ? local.hint_sink_name : ""}'
    assert env["PSV_HINTS_TOPIC"] == '${local.hints_on ? google_pubsub_topic.hints.id : ""}'
    inspect = cfg.resource("google_project_iam_custom_role", "health_inspect")["permissions"]
    assert {"pubsub.topics.getIamPolicy", "resourcemanager.projects.getIamPolicy", "iam.roles.get"} <= set(inspect)
    grant = cfg.resource("google_project_iam_member", "health_inspect")
    assert grant["member"] == '${google_service_account.function["health"].member}'


def test_hint_batch_lines_feed_metrics_and_an_alert_on_hints_dropped_over_budget() -> None:
    """The `hint batch` line (services/poll/hints.py: at WARNING when overBudget > 0) gives the hint rate, the batches
    that dropped hints, and per batch entries / changes / overBudget / malformed / GETs; 15 min of dropped hints
    alert. All only while hints are on (no hint function: no metrics)."""
    cfg = config()
    logs = cfg.locals["hint_batch_logs"]
    assert "${local.own_lines}" in logs and 'jsonPayload.message="hint batch"' in logs
    assert "local.hint_services" in logs and 'k == "hint"' in cfg.locals["hint_services"]
    metrics = cfg.resources["google_logging_metric"]
    batches = metrics["hint_batches"]
    assert batches["for_each"].startswith("${local.hints_on ?")
    assert "severity=WARNING" in batches["for_each"] and batches["filter"] == "${local.hint_batch_logs}${each.value}"
    values = metrics["hint_values"]
    assert values["for_each"].startswith("${local.hints_on ?") and values["filter"] == "${local.hint_batch_logs}"
    for field in ("entries", "changes", "overBudget", "malformed", "vertexCalls"):
        assert f'field = "{field}"' in values["for_each"], field
    assert values["value_extractor"] == "EXTRACT(jsonPayload.${each.value.field})"
    alert = cfg.resource("google_monitoring_alert_policy", "hints_over_budget")
    assert "google_logging_metric.hint_batches" in alert["for_each"] and 'k == "dropped"' in alert["for_each"]
    condition = first(first(alert["conditions"])["condition_threshold"])
    assert condition["duration"] == "900s" and condition["threshold_value"] == 0
    assert condition["comparison"] == "COMPARISON_GT"
    assert "time_sleep.log_metrics" in _depends_on(alert)
    assert "PSV_HINT_GETS_PER_MINUTE" in first(alert["documentation"])["content"]


# --- issue 25: log reads ---------------------------------------------------------------------------------------------


def test_the_log_readers_may_list_log_entries_in_every_vertex_project() -> None:
    cfg = config()
    table = cfg.locals["vertex_permissions"]
    for fn in ("poll", "poll_shard", "hint", "status"):
        assert "logging.logEntries.list" in table[fn], f"{fn} reads job logs"
    for fn in ("submit", "cancel", "templates", "health"):
        assert "logging.logEntries.list" not in table[fn], f"{fn} reads no logs"
    role = cfg.resource("google_project_iam_custom_role", "vertex")
    assert role["project"] == "${each.value.project}", "granted in each Vertex AI project"
    assert cfg.locals["common_env"]["PSV_LOG_READS_PER_MINUTE"] == "${tostring(var.log_reads_per_minute)}"
    assert cfg.variables["log_reads_per_minute"]["default"] == 20


# --- issue 26: Custom Job outputs ------------------------------------------------------------------------------------


def test_the_outputs_bucket_is_private_bounded_and_optional() -> None:
    cfg = config()
    bucket = cfg.resource("google_storage_bucket", "outputs")
    assert bucket["count"] == "${var.outputs_bucket_enabled ? 1 : 0}"
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert first(bucket["versioning"])["enabled"] is True
    rules = [first(r["condition"]) for r in bucket["lifecycle_rule"]]
    assert {"age": "${var.retention_days}"} in rules, "objects go with their run records"
    assert any("days_since_noncurrent_time" in r for r in rules), "noncurrent versions are bounded too"
    encryption = first(bucket["dynamic"])["encryption"]
    assert "var.outputs_kms_key" in encryption["for_each"], "CMEK optional"
    kms = cfg.resource("google_kms_crypto_key_iam_member", "outputs_storage_agent")
    assert kms["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert "google_kms_crypto_key_iam_member.outputs_storage_agent" in _depends_on(bucket)
    assert cfg.variables["outputs_bucket_enabled"]["default"] is True
    assert cfg.variables["outputs_kms_key"]["default"] is None


def test_job_identities_write_and_the_readers_read_the_outputs_bucket() -> None:
    cfg = config()
    writers = json.dumps(cfg.locals["outputs_writers"])
    assert "var.job_service_accounts" in writers
    assert (
        "@gcp-sa-aiplatform-cc.iam.gserviceaccount.com" in writers and "data.google_project.outputs_vertex" in writers
    )
    assert "local.vertex_projects" in cfg.data["google_project"]["outputs_vertex"]["for_each"]
    writer = cfg.resource("google_storage_bucket_iam_member", "outputs_writer")
    assert writer["for_each"] == "${local.outputs_writers}" and writer["role"] == "roles/storage.objectUser"
    reader = cfg.resource("google_storage_bucket_iam_member", "outputs_reader")
    assert reader["role"] == "roles/storage.objectViewer"
    assert reader["member"] == "${google_service_account.function[each.key].member}"
    assert "poll" in cfg.locals["outputs_readers"] and "submit" not in cfg.locals["outputs_readers"]
    for grant in (writer, reader):
        assert grant["bucket"] == "${google_storage_bucket.outputs[0].name}", "on the outputs bucket only"
    env = cfg.locals["common_env"]
    assert env["PSV_OUTPUTS_BUCKET"] == '${var.outputs_bucket_enabled ? google_storage_bucket.outputs[0].name : ""}'
    assert env["PSV_OUTPUTS_PREFIX"] == "${var.outputs_prefix}"
    assert cfg.variables["outputs_prefix"]["default"] == "polysync-outputs"
