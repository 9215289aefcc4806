# One google_cloudfunctions2_function per entry point of functions/main.py:
#   HTTP (functions_framework.http):         submit, cancel, status, templates  -> google_cloudfunctions2_function.http
#   CloudEvent (functions_framework.cloud_event): poll, poll_shard             -> .poll and .poll_shard
# tests/infra/test_terraform.py derives the entry points from main.py and holds them against this file.

locals {
  runtime = "python312"

  http_functions = {
    submit    = { entry_point = "submit", description = "Polysync webhook: create a Vertex AI CustomJob once per requestId." }
    cancel    = { entry_point = "cancel", description = "Polysync webhook: cancel a run this connector created." }
    status    = { entry_point = "status", description = "Polysync webhook: the recorded state of a run." }
    templates = { entry_point = "templates", description = "Polysync import: list, get and search CustomJobs usable as templates." }
  }

  source_bucket = google_storage_bucket.source.name
  source_object = google_storage_bucket_object.functions.name
}

resource "google_cloudfunctions2_function" "http" {
  #checkov:skip=CKV_GCP_124:Polysync calls these webhooks from the internet; ALLOW_ALL is required and every request must carry a valid HMAC signature (iam.tf, invoker policy).
  for_each = local.http_functions

  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-${each.key}"
  description = each.value.description
  labels      = local.labels

  build_config {
    runtime         = local.runtime
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = local.source_bucket
        object = local.source_object
      }
    }
  }

  service_config {
    available_memory = var.http_memory
    available_cpu    = "1"
    # Above PSV_REQUEST_BUDGET_SECONDS (<= 50 s, validated) so the code answers, with Retry-After, before Cloud Run
    # cuts the request off.
    timeout_seconds    = 60
    min_instance_count = 0
    # Caps the Vertex AI call rate and the bill when the public endpoint is flooded: past it Cloud Run answers 429
    # and Polysync retries.
    max_instance_count = var.http_max_instances
    # Requests wait on Vertex AI and Firestore, not CPU: one instance serves a few at once (functions-framework runs
    # 4 threads per vCPU by default).
    max_instance_request_concurrency = var.http_concurrency
    # Polysync calls from the internet; the HMAC signature, not the network, is the gate (see iam.tf).
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function[each.key].email
    environment_variables          = local.common_env

    # The one setting not in common_env: read from Secret Manager when an instance starts.
    secret_environment_variables {
      key        = "PSV_WEBHOOK_SECRETS"
      project_id = var.project_id
      secret     = local.webhook_secret_id
      version    = var.webhook_secret_version
    }
  }

  depends_on = [
    google_project_service.this,
    google_firestore_database.this,
    google_project_iam_member.build,
    google_secret_manager_secret_iam_member.webhook,
  ]
}

# The Eventarc triggers below create their own Pub/Sub push subscriptions. google_cloudfunctions2_function has no
# argument for a dead-letter policy on them (event_trigger only takes retry_policy), so failed deliveries are retried
# with back-off until Pub/Sub's retention runs out. That is safe here: ticks and shard messages carry no state of
# their own (the runs are in Firestore and the next tick covers them again). To dead-letter anyway, attach
# google_pubsub_topic.dead_letter to the trigger's subscription with gcloud (docs/deploy.md).

resource "google_cloudfunctions2_function" "poll" {
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-poll"
  description = "On each scheduler tick: read active runs, ask Vertex AI for their state, publish status events."
  labels      = local.labels

  build_config {
    runtime         = local.runtime
    entry_point     = "poll"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = local.source_bucket
        object = local.source_object
      }
    }
  }

  service_config {
    available_memory = var.poll_memory
    available_cpu    = "1"
    # The longest an event-triggered function may run: a poll of up to PSV_POLL_INLINE_MAX runs must fit.
    timeout_seconds    = 540
    min_instance_count = 0
    # One poller at a time: ticks are serial by design, and a second instance would only repeat the same Vertex AI
    # reads. A tick that arrives while one runs is refused and redelivered by Pub/Sub.
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    # Only Eventarc (Pub/Sub push) calls it.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function["poll"].email
    environment_variables          = local.common_env
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.tick.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger["poll"].email
  }

  depends_on = [
    google_project_service.this,
    google_firestore_database.this,
    google_project_iam_member.build,
  ]
}

resource "google_cloudfunctions2_function" "poll_shard" {
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-poll-shard"
  description = "Polls one shard of the active runs when poll fans out."
  labels      = local.labels

  build_config {
    runtime         = local.runtime
    entry_point     = "poll_shard"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = local.source_bucket
        object = local.source_object
      }
    }
  }

  service_config {
    available_memory   = var.poll_memory
    available_cpu      = "1"
    timeout_seconds    = 540
    min_instance_count = 0
    # Caps the rate of Vertex AI get calls (a per-region quota) however many shards poll fans out to.
    max_instance_count               = var.poll_shard_max_instances
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function["poll_shard"].email
    environment_variables            = local.common_env
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.shard.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger["poll_shard"].email
  }

  depends_on = [
    google_project_service.this,
    google_firestore_database.this,
    google_project_iam_member.build,
  ]
}
