"""Issue 27, on the parsed HCL, the build files and docs/deploy.md: a first apply that works in a fresh project and a
strict organisation, and no identity stronger than it must be. One test (or two) per point of the issue."""

from __future__ import annotations

import json
import re

from test_terraform import (
    CLOUDBUILD,
    CLOUDBUILD_PLAN,
    INFRA,
    ROOT,
    Tree,
    _build,
    _depends_on,
    config,
    deployed,
    first,
    topic_of,
    walk,
)

DEPLOY_MD = ROOT / "docs" / "deploy.md"


def _alerts() -> dict[str, Tree]:
    return config().resources.get("google_monitoring_alert_policy", {})


# --- 1. no secret without a version ---------------------------------------------------------------------------------


def test_the_webhook_secret_is_a_required_input_never_an_empty_secret() -> None:
    cfg = config()
    variable = cfg.variables["webhook_secret_id"]
    assert "default" not in variable, "webhook_secret_id must be required: an empty secret stops every HTTP function"
    assert "docs/deploy.md" in json.dumps(variable["validation"]), "the error names the fix"
    assert "google_secret_manager_secret" not in cfg.resources, "Terraform creates no secret (it would have no version)"
    assert "google_secret_manager_secret_version" not in cfg.resources, "the value never reaches state"
    removed = cfg.files["secrets.tf"]["removed"]
    assert removed[0]["from"] == "${google_secret_manager_secret.webhook}"
    assert first(removed[0]["lifecycle"])["destroy"] is False, "an upgrade forgets the old secret, never deletes it"
    for path in (CLOUDBUILD, CLOUDBUILD_PLAN):
        _, _, commands = _build(path)
        assert "gcloud secrets versions list" in commands["preflight"] and "state=ENABLED" in commands["preflight"]


# --- 2. the invoker option for domain-restricted sharing ------------------------------------------------------------


def test_http_access_offers_the_invoker_iam_check_off_without_all_users() -> None:
    cfg = config()
    variable = cfg.variables["http_access"]
    assert variable["default"] == "allUsers"
    for mode in ("allUsers", "invoker_iam_disabled", "members"):
        assert mode in json.dumps(variable["validation"]), f"http_access accepts {mode}"
    public = cfg.resource("google_cloud_run_service_iam_member", "http_public")
    assert public["for_each"] == '${var.http_access == "allUsers" ? local.http_functions : {}}'
    members = cfg.resource("google_cloud_run_service_iam_member", "http_invoker")
    assert 'var.http_access == "members"' in str(members["for_each"])
    # With the check off, no binding at all, and the services the pipeline switches are an output.
    output = str(cfg.outputs["http_invoker_iam_disabled_services"]["value"])
    assert 'var.http_access == "invoker_iam_disabled"' in output and "google_cloudfunctions2_function.http" in output
    # public_http is gone, and a tfvars still setting it fails instead of being ignored.
    assert "var.public_http" in json.dumps(cfg.variables["public_http"]["validation"])
    assert cfg.variables["public_http"]["default"] is None


def test_the_apply_pipeline_switches_the_invoker_check_off_after_every_apply() -> None:
    _, steps, commands = _build(CLOUDBUILD)
    assert "--no-invoker-iam-check" in commands["http-invoker"]
    assert "http_invoker_iam_disabled_services" in commands["terraform-outputs"]
    assert steps["terraform-outputs"]["waitFor"] == ["terraform-apply"]
    assert steps["http-invoker"]["waitFor"] == ["terraform-outputs"]
    assert "gcloud run services update" in DEPLOY_MD.read_text() and "--no-invoker-iam-check" in DEPLOY_MD.read_text()


# --- 3. alert policies after their metrics ---------------------------------------------------------------------------


def test_alert_policies_on_log_metrics_wait_the_ten_minutes_google_states() -> None:
    cfg = config()
    wait = cfg.resource("time_sleep", "log_metrics")
    assert int(wait["create_duration"].removesuffix("s")) >= 600, "'it could take up to 10 minutes' (#11102)"
    triggers = str(wait["triggers"])
    for name in cfg.resources["google_logging_metric"]:
        assert f"google_logging_metric.{name}" in triggers, f"the wait restarts when {name} is (re)created"
    readers = {**_alerts(), **cfg.resources.get("google_monitoring_dashboard", {})}
    waiting = [name for name, body in readers.items() if "time_sleep.log_metrics" in _depends_on(body)]
    for name, body in readers.items():
        if "google_logging_metric." in json.dumps(body) or "local.metric_prefix" in json.dumps(body):
            assert name in waiting, f"{name} reads a log-based metric and must wait for time_sleep.log_metrics"
    assert waiting, "at least the poller alert reads log-based metrics"


# --- 4. the provider lock file ---------------------------------------------------------------------------------------


def test_ci_needs_the_lock_file_and_says_how_to_make_it() -> None:
    lock = INFRA / ".terraform.lock.hcl"
    for path in (CLOUDBUILD, CLOUDBUILD_PLAN):
        _, _, commands = _build(path)
        assert "lockfile=readonly" in commands["terraform-init"]
        if not lock.exists():  # the registry is unreachable where this was written: the build must stop and say why
            preflight = commands["preflight"]
            assert "[ -f infra/.terraform.lock.hcl ] ||" in preflight, f"{path.name}: preflight checks the lock file"
            assert "providers lock -platform=linux_amd64 -platform=darwin_arm64" in preflight
            assert "docs/deploy.md, step 1" in preflight
    if lock.exists():
        text = lock.read_text()
        for provider in ("hashicorp/google", "hashicorp/google-beta", "hashicorp/time", "hashicorp/archive"):
            assert f'provider "registry.terraform.io/{provider}"' in text
    steps = re.findall(r"^## Step (\d+): (.*)$", DEPLOY_MD.read_text(), flags=re.M)
    assert steps and steps[0] == ("1", "the provider lock file"), f"the lock file is the first numbered step: {steps}"


def test_both_pipelines_check_the_provider_schema() -> None:
    for path in (CLOUDBUILD, CLOUDBUILD_PLAN):
        _, steps, commands = _build(path)
        assert "npm pack @cdktf/provider-google@16.12.1" in commands["provider-schema"], path.name
        assert "provider-schema" in steps["infra-tests"]["waitFor"]
        assert "PSV_REQUIRE_PROVIDER_SCHEMA=1" in commands["infra-tests"], "the schema test may not skip in CI"


# --- 5 and 11. the plan account: read-only, no data, in every Vertex AI project --------------------------------------

DATA_READS = ("datastore.entities.", "secretmanager.versions.access", "storage.objects.", "logging.logEntries.")


def test_the_plan_account_gets_a_read_only_role_without_data_reads_in_every_project() -> None:
    cfg = config()
    for key in ("plan_permissions", "plan_permissions_vertex"):
        permissions = cfg.locals[key].removeprefix("${sort(").removesuffix(")}")
        perms = json.loads(permissions)
        assert perms, key
        for p in perms:
            verb = p.rsplit(".", 1)[1]
            assert verb in ("get", "list", "getIamPolicy", "getMetadata"), f"{key}: {p} is not a read of metadata"
            assert not p.startswith(DATA_READS), f"{key}: {p} reads data"
    vertex = cfg.locals["plan_permissions_vertex"]
    for needed in ("resourcemanager.projects.getIamPolicy", "iam.roles.get", "logging.sinks.get"):
        assert needed in vertex, f"cross-project plans refresh what needs {needed}"
    projects = str(cfg.locals["plan_role_projects"])
    assert "local.vertex_projects" in projects and "var.project_id" in projects, "project_id and every Vertex project"
    grant = cfg.resource("google_project_iam_member", "plan")
    assert grant["role"] == "${google_project_iam_custom_role.plan[each.key].id}"
    assert "var.cicd_plan_service_account" in grant["member"]
    # The bootstrap in docs/deploy.md grants the plan account no basic role.
    text = DEPLOY_MD.read_text()
    plan_lines = [line for line in text.splitlines() if "$PLAN" in line or "PLAN=" in line]
    assert plan_lines and not any("roles/viewer" in line for line in plan_lines), plan_lines
    assert "roles/viewer" not in re.sub(r"`roles/viewer`[^\n]*", "", text.split("## CI/CD")[1].split("```")[1])


# --- 6. Pipeline Jobs without a service account ----------------------------------------------------------------------


def test_acting_as_the_compute_default_account_is_an_explicit_opt_in() -> None:
    cfg = config()
    assert cfg.variables["pipelines_may_use_compute_default_sa"]["default"] is False
    assert "Compute Engine default service account" in cfg.variables["job_service_accounts"]["description"]
    data = cfg.data["google_project"]["vertex"]
    assert "var.pipelines_may_use_compute_default_sa ?" in data["for_each"]
    grant = cfg.resource("google_service_account_iam_member", "submit_acts_as_compute_default")
    assert grant["for_each"] == "${data.google_project.vertex}"
    assert grant["service_account_id"].endswith("-compute@developer.gserviceaccount.com")
    assert grant["role"] == "roles/iam.serviceAccountUser"
    assert grant["member"] == '${google_service_account.function["submit"].member}'


# --- 7 and 8. Terraform-owned delivery, no retries for poll ----------------------------------------------------------


def test_event_functions_are_fed_by_push_subscriptions_with_oidc_retry_and_dead_letters() -> None:
    cfg = config()
    assert "google_eventarc_trigger" not in cfg.resources
    for fn in deployed():
        assert "event_trigger" not in fn.body, fn.address
    push = cfg.resource("google_pubsub_subscription", "push")
    assert push["for_each"] == "${local.event_functions_deployed}"
    for rtype, name in (
        ("google_cloudfunctions2_function", "event"),
        ("google_cloud_run_service_iam_member", "trigger_invoker"),
    ):
        assert cfg.resource(rtype, name)["for_each"] == "${local.event_functions_deployed}", f"{rtype}.{name}"
    assert set(cfg.locals["event_functions"]) == {"poll", "poll_shard", "hint"}
    assert {k: topic_of(v) for k, v in cfg.locals["event_topics"].items()} == {
        "poll": "tick",
        "poll_shard": "shard",
        "hint": "hints",
    }
    config_ = first(push["push_config"])
    uri = "${google_cloudfunctions2_function.event[each.key].service_config[0].uri}"
    assert config_["push_endpoint"] == uri
    oidc = first(config_["oidc_token"])
    assert oidc == {"service_account_email": "${google_service_account.trigger[each.key].email}", "audience": uri}
    assert first(push["expiration_policy"])["ttl"] == ""
    assert int(push["ack_deadline_seconds"]) >= 540, "the push waits for the function's 540 s"
    retry = first(push["retry_policy"])
    assert retry["maximum_backoff"] == "600s"
    dead = first(push["dynamic"])["dead_letter_policy"]
    assert dead["for_each"] == "${each.value.retries ? [1] : []}"
    content = first(dead["content"])
    assert topic_of(content["dead_letter_topic"]) == "trigger_dead_letter"
    assert content["max_delivery_attempts"] == "${var.trigger_max_delivery_attempts}"
    # Dead-lettering needs the Pub/Sub agent as subscriber on each retrying source and publisher on the topic.
    sources = str(cfg.locals["dead_letter_sources"])
    assert (
        "local.event_functions_deployed" in sources
        and "google_pubsub_subscription.push[k].name if f.retries" in sources
    )
    agent = cfg.resource("google_pubsub_subscription_iam_member", "dead_letter_source_pubsub_agent")
    assert agent["for_each"] == "${local.dead_letter_sources}" and agent["member"] == "${local.pubsub_service_agent}"
    # Each push identity may invoke its own function only, and the agent may mint its tokens.
    invoker = cfg.resource("google_cloud_run_service_iam_member", "trigger_invoker")
    assert invoker["service"] == "${google_cloudfunctions2_function.event[each.key].service_config[0].service}"
    assert invoker["member"] == "${google_service_account.trigger[each.key].member}"
    assert set(cfg.locals["trigger_accounts"]) == set(cfg.locals["event_functions"])
    assert "google_cloud_run_service_iam_member.trigger_invoker" in _depends_on(push)


def test_ticks_are_never_retried_but_shards_and_hints_are() -> None:
    cfg = config()
    retries = {k: v["retries"] for k, v in cfg.locals["event_functions"].items()}
    assert retries == {"poll": False, "poll_shard": True, "hint": True}
    push = cfg.resource("google_pubsub_subscription", "push")
    # Without retries a refused tick waits at least as long as it is retained: it expires before a redelivery.
    assert push["message_retention_duration"] == '${each.value.retries ? "3600s" : "600s"}'
    assert first(push["retry_policy"])["minimum_backoff"] == '${each.value.retries ? "10s" : "600s"}'
    assert cfg.locals["event_functions"]["poll"]["max_instances"] == 1
    # The scheduler publishes a non-empty body: Pub/Sub push omits `data` for an empty one, which
    # functions-framework would refuse (event_conversion._is_raw_pubsub_payload).
    job = next(iter(cfg.resources["google_cloud_scheduler_job"].values()))
    assert first(job["pubsub_target"])["data"] == '${base64encode("{}")}'


# --- 9. poll_errors matches the connector's own lines ----------------------------------------------------------------


def test_error_metrics_match_only_the_connectors_own_structured_lines() -> None:
    cfg = config()
    own = cfg.locals["own_lines"]
    assert 'logName=\\"projects/${var.project_id}/logs/run.googleapis.com%2Fstdout\\"' in json.dumps(own)
    assert "jsonPayload.message:*" in own, "structured lines only"
    assert "requests" not in own
    for name in ("poll_errors", "vertex_rate_limited"):
        assert "${local.own_lines}" in cfg.resource("google_logging_metric", name)["filter"], name


# --- 10. no identity may act as another --------------------------------------------------------------------------

TOKEN_PERMISSIONS = (
    "iam.serviceAccounts.getAccessToken",
    "iam.serviceAccounts.getOpenIdToken",
    "iam.serviceAccounts.signBlob",
    "iam.serviceAccounts.signJwt",
    "iam.serviceAccounts.implicitDelegation",
    "iam.serviceAccounts.actAs",
)


def test_no_function_may_act_as_another_identity_of_the_connector() -> None:
    cfg = config()
    for name, body in cfg.resources.get("google_service_account_iam_member", {}).items():
        if "google_service_account.function" in str(body["member"]):
            target = str(body["service_account_id"])
            assert "google_service_account." not in target, f"{name}: a function may act as the connector's {target}"
    for name, role in cfg.resources.get("google_project_iam_custom_role", {}).items():
        for _, value in walk(role.get("permissions")):
            assert value not in TOKEN_PERMISSIONS, f"custom role {name} holds {value}"
    assert "health_impersonation" not in cfg.resources.get("google_project_iam_custom_role", {})


def test_health_checks_the_others_through_policy_troubleshooter_with_read_only_rights() -> None:
    cfg = config()
    assert "policytroubleshooter.googleapis.com" in cfg.locals["services"]
    inspect = cfg.resource("google_project_iam_custom_role", "health_inspect")
    assert inspect["permissions"], "health reads IAM policies"
    for p in inspect["permissions"]:
        assert p.rsplit(".", 1)[1] in ("get", "getIamPolicy"), f"health_inspect: {p} is more than a read"
    assert cfg.resource("google_project_iam_member", "health_inspect")["member"] == (
        '${google_service_account.function["health"].member}'
    )
    health = set(cfg.locals["vertex_permissions"]["health"])
    assert {"resourcemanager.projects.getIamPolicy", "iam.roles.get", "logging.sinks.get"} <= health
    identities = str(cfg.locals["common_env"]["PSV_FUNCTION_IDENTITIES"])
    assert "local.health_tested_accounts" in identities, "health still knows whose permissions to check"
    assert 'fn != "health"' in str(cfg.locals["health_tested_accounts"])


# --- 12. alerts page someone, backups, APIs, waits -------------------------------------------------------------------


def test_alerts_need_a_channel_unless_silence_is_chosen() -> None:
    cfg = config()
    rules = json.dumps(cfg.variables["notification_channels"]["validation"])
    assert "length(var.notification_channels) > 0 || var.allow_silent_alerts" in rules
    assert cfg.variables["allow_silent_alerts"]["default"] is False
    for name, body in _alerts().items():
        assert body["notification_channels"] == "${var.notification_channels}", name
    versions = cfg.files["versions.tf"]["terraform"][0]
    assert versions["required_version"] == ">= 1.9.0", "validations that refer to other variables need 1.9"


def test_firestore_backups_apis_and_index_waits() -> None:
    cfg = config()
    backup = cfg.resource("google_firestore_backup_schedule", "daily")
    assert backup["retention"] == "${var.firestore_backup_retention_days * 86400}s"
    assert backup.get("daily_recurrence") == [{}]
    assert cfg.variables["firestore_backup_retention_days"]["default"] > 7, "beyond point-in-time recovery's 7 days"
    for api in ("iamcredentials.googleapis.com", "storage.googleapis.com"):
        assert api in cfg.locals["services"], f"{api} is enabled explicitly"
    for name, body in cfg.resources["google_firestore_index"].items():
        assert "time_sleep.apis" in _depends_on(body), f"google_firestore_index.{name} waits for the APIs"
