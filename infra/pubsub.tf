# Topics: tick (Cloud Scheduler -> poll), shard (poll -> poll_shard), hints (log sinks -> hint), status (events for
# Polysync), and two dead-letter topics: one for Polysync's status subscription, one for the push subscriptions of the
# event functions.
locals {
  topics = {
    tick                = { name = "${var.name_prefix}-poll-tick" }
    shard               = { name = "${var.name_prefix}-poll-shard" }
    hints               = { name = "${var.name_prefix}-hints" }
    status              = { name = "${var.name_prefix}-status" }
    dead_letter         = { name = "${var.name_prefix}-dead-letter" }
    trigger_dead_letter = { name = "${var.name_prefix}-trigger-dead-letter" }
  }
}

# Cloud Scheduler -> tick -> poll.
resource "google_pubsub_topic" "tick" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = local.topics.tick.name
  labels  = local.labels

  dynamic "message_storage_policy" {
    for_each = var.message_storage_regions == null ? [] : [var.message_storage_regions]
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [time_sleep.apis]
}

# poll -> shard -> poll_shard, when more than poll_inline_max runs are active.
resource "google_pubsub_topic" "shard" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = local.topics.shard.name
  labels  = local.labels

  dynamic "message_storage_policy" {
    for_each = var.message_storage_regions == null ? [] : [var.message_storage_regions]
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [time_sleep.apis]
}

# Vertex AI project log sinks -> hints -> hint (hints.tf). Entries are hints only; the tick stays the source of truth.
resource "google_pubsub_topic" "hints" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages are Vertex AI's own job-state log entries (job ids and states), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = local.topics.hints.name
  labels  = local.labels
  # A hint is worth something for seconds: an undelivered one is dropped after 10 minutes, the minimum.
  message_retention_duration = "600s"

  dynamic "message_storage_policy" {
    for_each = var.message_storage_regions == null ? [] : [var.message_storage_regions]
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [time_sleep.apis]
}

# Status events for Polysync (CloudEvents binary mode, ordering key = runId).
resource "google_pubsub_topic" "status" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = local.topics.status.name
  labels  = local.labels

  dynamic "message_storage_policy" {
    for_each = var.message_storage_regions == null ? [] : [var.message_storage_regions]
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [time_sleep.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = local.topics.dead_letter.name
  labels  = local.labels

  dynamic "message_storage_policy" {
    for_each = var.message_storage_regions == null ? [] : [var.message_storage_regions]
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [time_sleep.apis]
}

# Separate from the status dead letters: those are Polysync's events to replay, these are shard work and hints the
# functions kept refusing, which only need an operator's attention (the next tick redoes their work anyway).
resource "google_pubsub_topic" "trigger_dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = local.topics.trigger_dead_letter.name
  labels  = local.labels

  dynamic "message_storage_policy" {
    for_each = var.message_storage_regions == null ? [] : [var.message_storage_regions]
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [time_sleep.apis]
}

# Polysync's subscription. Ordering is on because events of one run carry the run id as ordering key and must arrive
# in sequence; it never expires, because an idle connector must not lose its consumer's subscription. A dead-lettered
# event leaves a gap in its run's `sequence`: consumers detect gaps and read the run with `status` (docs/monitoring.md).
resource "google_pubsub_subscription" "status" {
  project = var.project_id
  name    = "${var.name_prefix}-status-polysync"
  topic   = google_pubsub_topic.status.id
  labels  = local.labels

  enable_message_ordering    = true
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.status_max_delivery_attempts
  }
}

# Keeps dead-lettered status events for inspection and replay; a topic without a subscription would drop them.
resource "google_pubsub_subscription" "dead_letter" {
  project = var.project_id
  name    = "${var.name_prefix}-dead-letter"
  topic   = google_pubsub_topic.dead_letter.id
  labels  = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

# Keeps dead-lettered shard messages and hints; monitoring.tf alerts when it is not empty.
resource "google_pubsub_subscription" "trigger_dead_letter" {
  project = var.project_id
  name    = "${var.name_prefix}-trigger-dead-letter"
  topic   = google_pubsub_topic.trigger_dead_letter.id
  labels  = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

# --- Delivery to the event functions (issue 27, point 7) -----------------------------------------------------------

# One Terraform-managed push subscription per event function (no Eventarc: its subscriptions cannot carry a
# dead-letter policy, hashicorp/terraform-provider-google#17697, and were lost whenever a trigger was re-created).
# Pub/Sub pushes with an OIDC token of the function's own push identity (google_service_account.trigger), which may
# invoke that function only (iam.tf). A 2xx response acknowledges; anything else is redelivered after retry_policy's
# backoff, and after var.trigger_max_delivery_attempts deliveries the message goes to the trigger dead-letter topic.
#
# poll has no retries (point 8): a tick carries no state and the next one comes within a minute, so its
# subscription keeps an unacknowledged tick for 600 s (Pub/Sub's minimum retention) and waits at least 600 s before a
# redelivery: a refused tick (Cloud Run answers 429 while the one poll instance is busy) expires before it could be
# delivered again, and the handler acknowledges every tick it receives, failed ones included (functions/main.py).
# Nothing piles up after an outage; the poll tick alert (monitoring.tf) notices ticks that do not run.
resource "google_pubsub_subscription" "push" {
  for_each = local.event_functions_deployed

  project = var.project_id
  name    = "${var.name_prefix}-${each.value.name}-push"
  topic   = local.event_topics[each.key]
  labels  = local.labels

  # The push request is the delivery: Pub/Sub waits this long for the function's answer (the functions' timeout is
  # 540 s).
  ack_deadline_seconds       = 600
  message_retention_duration = each.value.retries ? "3600s" : "600s"

  expiration_policy {
    ttl = ""
  }

  push_config {
    push_endpoint = google_cloudfunctions2_function.event[each.key].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.trigger[each.key].email
      audience              = google_cloudfunctions2_function.event[each.key].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = each.value.retries ? "10s" : "600s"
    maximum_backoff = "600s"
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.retries ? [1] : []
    content {
      dead_letter_topic     = google_pubsub_topic.trigger_dead_letter.id
      max_delivery_attempts = var.trigger_max_delivery_attempts
    }
  }

  depends_on = [
    google_cloud_run_service_iam_member.trigger_invoker,
    google_service_account_iam_member.pubsub_agent_token_creator,
    time_sleep.iam,
  ]
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the dead-letter topic and acknowledge
# (subscriber) on the source subscription. Granted on those resources only.
locals {
  dead_letter_topics = {
    dead_letter         = { topic = google_pubsub_topic.dead_letter.name }
    trigger_dead_letter = { topic = google_pubsub_topic.trigger_dead_letter.name }
  }

  # Source subscriptions the agent dead-letters from: Polysync's status subscription and every push subscription
  # with retries.
  dead_letter_sources = merge(
    { status = google_pubsub_subscription.status.name },
    { for k, f in local.event_functions_deployed : "push/${k}" => google_pubsub_subscription.push[k].name if f.retries },
  )
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher_pubsub_agent" {
  for_each = local.dead_letter_topics

  project = var.project_id
  topic   = each.value.topic
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_source_pubsub_agent" {
  for_each = local.dead_letter_sources

  project      = var.project_id
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

moved {
  from = google_pubsub_subscription_iam_member.status_subscriber_pubsub_agent
  to   = google_pubsub_subscription_iam_member.dead_letter_source_pubsub_agent["status"]
}

# Polysync's consumer pulls its status subscription and, to replay what was dead-lettered, the status dead-letter
# subscription.
resource "google_pubsub_subscription_iam_member" "status_subscriber" {
  for_each = {
    for pair in setproduct(["status", "dead_letter"], var.status_subscriber_members) : "${pair[0]}/${pair[1]}" => { sub = pair[0], member = pair[1] }
  }

  project      = var.project_id
  subscription = each.value.sub == "status" ? google_pubsub_subscription.status.name : google_pubsub_subscription.dead_letter.name
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}
