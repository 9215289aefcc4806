# Cloud Scheduler -> tick -> poll.
resource "google_pubsub_topic" "tick" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = "${var.name_prefix}-poll-tick"
  labels  = local.labels

  depends_on = [google_project_service.this]
}

# poll -> shard -> poll_shard, when more than poll_inline_max runs are active.
resource "google_pubsub_topic" "shard" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = "${var.name_prefix}-poll-shard"
  labels  = local.labels

  depends_on = [google_project_service.this]
}

# Status events for Polysync (CloudEvents binary mode, ordering key = runId).
resource "google_pubsub_topic" "status" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = "${var.name_prefix}-status"
  labels  = local.labels

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages hold run metadata (ids, states, job names), never secrets, and a customer-managed key is an organisation policy this module does not impose.
  project = var.project_id
  name    = "${var.name_prefix}-dead-letter"
  labels  = local.labels

  depends_on = [google_project_service.this]
}

# Polysync's subscription. Ordering is on because events of one run carry the run id as ordering key and must arrive
# in sequence; it never expires, because an idle connector must not lose its consumer's subscription.
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

# Keeps dead-lettered messages for inspection and replay; a topic without a subscription would drop them.
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

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the dead-letter topic and acknowledge
# (subscriber) on the source subscription. Granted on those two resources only.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher_pubsub_agent" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "status_subscriber_pubsub_agent" {
  project      = var.project_id
  subscription = google_pubsub_subscription.status.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "status_subscriber" {
  for_each = toset(var.status_subscriber_members)

  project      = var.project_id
  subscription = google_pubsub_subscription.status.name
  role         = "roles/pubsub.subscriber"
  member       = each.value
}
