# One google_cloudfunctions2_function per entry point of functions/main.py:
#   HTTP (functions_framework.http):              submit, cancel, status, templates, health -> google_cloudfunctions2_function.http
#   CloudEvent (functions_framework.cloud_event): poll, poll_shard, hint                    -> google_cloudfunctions2_function.event
# The event functions have no Eventarc trigger: a Terraform-managed Pub/Sub push subscription per function
# (pubsub.tf, google_pubsub_subscription.push) delivers to them, so Terraform owns retries and dead-lettering.
# tests/infra/test_terraform.py derives the entry points from main.py and holds them against this file.

locals {
  runtime = "python312"

  http_functions = {
    submit    = { entry_point = "submit", description = "Polysync webhook: create a Vertex AI job (Custom, Pipeline, Batch Prediction) once per requestId." }
    cancel    = { entry_point = "cancel", description = "Polysync webhook: cancel a run this connector created." }
    status    = { entry_point = "status", description = "Polysync webhook: the recorded state of a run." }
    templates = { entry_point = "templates", description = "Polysync import: list, get and search Vertex AI jobs usable as templates." }
    health    = { entry_point = "health", description = "Polysync test connectivity: checks every permission a run needs; creates, cancels and publishes nothing." }
  }

  # The HTTP functions also fix functions-framework's gunicorn thread count (THREADS; its default is 4 per CPU the
  # container sees) to the concurrency Cloud Run routes to an instance: every admitted request has its own thread, so a
  # slow client never delays the others on its instance.
  http_env = merge(local.common_env, { THREADS = tostring(var.http_concurrency) })

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
    runtime           = local.runtime
    entry_point       = each.value.entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
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
    # Cloud Run's request timeout: the time within which a response must be returned, from the request's arrival,
    # after which Cloud Run closes the connection with 504 (https://cloud.google.com/run/docs/configuring/request-timeout).
    # It also bounds how long a slow client (a body that trickles in) holds one of an instance's concurrency slots.
    # Above PSV_REQUEST_BUDGET_SECONDS (precondition below) so the code answers, with Retry-After, first.
    timeout_seconds    = var.http_timeout_seconds
    min_instance_count = 0
    # Caps the Vertex AI call rate and the bill when the public endpoint is flooded: past it Cloud Run answers 429
    # and Polysync retries.
    max_instance_count = var.http_max_instances
    # Requests wait on Vertex AI and Firestore, not CPU: one instance serves a few at once. Cloud Run routes at most
    # this many requests to an instance; functions-framework's gunicorn runs as many threads, so a slot held by a
    # slow client never blocks the others (docs/deploy.md, "Slow clients").
    max_instance_request_concurrency = var.http_concurrency
    # Polysync calls from the internet; the HMAC signature, not the network, is the gate (see iam.tf).
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function[each.key].email
    environment_variables          = local.http_env

    # The one setting not in common_env: read from Secret Manager when an instance starts.
    secret_environment_variables {
      key        = "PSV_WEBHOOK_SECRETS"
      project_id = var.project_id
      secret     = local.webhook_secret_id
      version    = var.webhook_secret_version
    }
  }

  lifecycle {
    precondition {
      condition     = var.http_timeout_seconds >= var.request_budget_seconds + 10
      error_message = "http_timeout_seconds must exceed request_budget_seconds by at least 10 s, so the code answers before Cloud Run cuts the request off."
    }
  }

  depends_on = [
    google_project_service.this,
    google_firestore_database.this,
    google_project_iam_member.build,
    google_secret_manager_secret_iam_member.webhook,
    time_sleep.apis,
    time_sleep.iam,
    google_project_service_identity.pubsub,
  ]
}

# The event functions. Pub/Sub pushes the raw message envelope ({"message": {data, attributes, messageId,
# publishTime}, "subscription"}) to the function's URL; functions-framework turns it into a CloudEvent of type
# google.cloud.pubsub.topic.v1.messagePublished with `time` = publishTime and data = {"message": ...}, the shape the
# Eventarc trigger delivered before (functions_framework/event_conversion.py, marshal_background_event_data;
# tests/integration/test_push_delivery.py sends a push envelope through the real app). Without an event trigger
# Cloud Functions deploys them as HTTP functions; the @functions_framework.cloud_event decorator still decides how
# functions-framework calls them (_function_registry.get_func_signature_type: the decorator first, then the
# FUNCTION_SIGNATURE_TYPE the platform sets).
locals {
  event_functions = {
    poll = {
      entry_point = "poll"
      name        = "poll"
      description = "On each scheduler tick: read active runs, ask Vertex AI for their state, publish status events."
      # One poller at a time: ticks are serial by design, and a second instance would only repeat the same Vertex AI
      # reads. A tick delivered while one runs is refused by Cloud Run (429) and, like every tick, never retried
      # (pubsub.tf: the tick subscription's backoff outlasts its retention).
      max_instances = 1
      retries       = false
    }
    poll_shard = {
      entry_point = "poll_shard"
      name        = "poll-shard"
      description = "Polls one shard of the active runs when poll fans out."
      # Caps the rate of Vertex AI get calls (a per-region quota) however many shards poll fans out to.
      max_instances = var.poll_shard_max_instances
      retries       = true
    }
    hint = {
      entry_point   = "hint"
      name          = "hint"
      description   = "Vertex AI job-state log entries (log sink per Vertex AI project): GETs the named jobs that are the connector's and records their changes at once; the poll tick stays the source of truth."
      max_instances = var.hint_max_instances
      retries       = true
    }
  }

  # hint is deployed once functions/main.py defines it (issue 24's code lands apart from this Terraform): until then
  # the module plans without the hint function, its push subscription and the log sinks, instead of failing the
  # function build on a missing entry point.
  hint_code_present = strcontains(file("${path.module}/../functions/main.py"), "def hint(")
  hints_on          = var.hints_enabled && local.hint_code_present

  event_functions_deployed = { for k, f in local.event_functions : k => f if k != "hint" || local.hints_on }

  # Topic each event function's push subscription reads.
  event_topics = {
    poll       = google_pubsub_topic.tick.id
    poll_shard = google_pubsub_topic.shard.id
    hint       = google_pubsub_topic.hints.id
  }
}

resource "google_cloudfunctions2_function" "event" {
  for_each = local.event_functions_deployed

  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-${each.value.name}"
  description = each.value.description
  labels      = local.labels

  build_config {
    runtime           = local.runtime
    entry_point       = each.value.entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
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
    # The longest a poll of up to PSV_POLL_INLINE_MAX runs may take; the push subscriptions' ack deadline (600 s)
    # covers it.
    timeout_seconds                  = 540
    min_instance_count               = 0
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = 1
    # Only Pub/Sub push (an internal source in the same project) reaches them, and only with the OIDC token of the
    # function's own push identity (iam.tf, trigger_invoker).
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function[each.key].email
    environment_variables          = local.common_env
  }

  depends_on = [
    google_project_service.this,
    google_firestore_database.this,
    google_project_iam_member.build,
    time_sleep.apis,
    time_sleep.iam,
    google_project_service_identity.pubsub,
  ]
}

# Upgrades from the Eventarc-triggered functions: same functions under new addresses (the missing event_trigger
# still replaces them once).
moved {
  from = google_cloudfunctions2_function.poll
  to   = google_cloudfunctions2_function.event["poll"]
}

moved {
  from = google_cloudfunctions2_function.poll_shard
  to   = google_cloudfunctions2_function.event["poll_shard"]
}
