# Topics: tick (Cloud Scheduler -> poll), shard (poll -> poll_shard), status (events for Polysync), and two dead-letter
# topics: one for Polysync's status subscription, one for the Eventarc subscriptions of the two triggers.
locals {
  topics = {
    tick                = { name = "${var.name_prefix}-poll-tick" }
    shard               = { name = "${var.name_prefix}-poll-shard" }
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

# Separate from the status dead letters: those are Polysync's events to replay, these are scheduler ticks and shard
# work the pollers refused, which only need an operator's attention (and are redone by the next tick anyway).
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

# Keeps dead-lettered ticks and shard messages; monitoring.tf alerts when it is not empty.
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

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the dead-letter topic and acknowledge
# (subscriber) on the source subscription. Granted on those resources only. For the Eventarc subscriptions the
# subscriber grant is part of the gcloud step in docs/deploy.md (Terraform does not know their names before apply).
locals {
  dead_letter_topics = {
    dead_letter         = { topic = google_pubsub_topic.dead_letter.name }
    trigger_dead_letter = { topic = google_pubsub_topic.trigger_dead_letter.name }
  }
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher_pubsub_agent" {
  for_each = local.dead_letter_topics

  project = var.project_id
  topic   = each.value.topic
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "status_subscriber_pubsub_agent" {
  project      = var.project_id
  subscription = google_pubsub_subscription.status.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
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
