# Least privilege: one runtime service account per function, one trigger service account per event function, one
# build service account. No primitive role (owner/editor/viewer) anywhere; Pub/Sub publish rights only on topics.

locals {
  # function key -> service account id suffix ("<name_prefix>-<suffix>" stays within 30 characters).
  function_accounts = {
    submit     = "submit"
    cancel     = "cancel"
    status     = "status"
    templates  = "templates"
    poll       = "poll"
    poll_shard = "shard"
  }

  trigger_accounts = {
    poll       = "poll-trg"
    poll_shard = "shard-trg"
  }

  # Roles in project_id (Firestore). status only reads runs; templates does not touch Firestore.
  firestore_roles = {
    submit     = "roles/datastore.user"
    cancel     = "roles/datastore.user"
    status     = "roles/datastore.viewer"
    poll       = "roles/datastore.user"
    poll_shard = "roles/datastore.user"
  }

  # Roles in every Vertex AI project. submit creates and cancel cancels CustomJobs (Vertex AI User); templates and the
  # pollers only get and list them (Vertex AI Viewer); status answers from Firestore alone.
  vertex_roles = {
    submit     = "roles/aiplatform.user"
    cancel     = "roles/aiplatform.user"
    templates  = "roles/aiplatform.viewer"
    poll       = "roles/aiplatform.viewer"
    poll_shard = "roles/aiplatform.viewer"
  }

  project_grants = merge(
    { for fn, role in local.firestore_roles : "${fn}/${var.project_id}/${role}" => { fn = fn, project = var.project_id, role = role } },
    merge([
      for fn, role in local.vertex_roles : {
        for p in local.vertex_projects : "${fn}/${p}/${role}" => { fn = fn, project = p, role = role }
      }
    ]...),
  )

  # Publisher on single topics only: both pollers publish status events; poll fans out to the shard topic.
  topic_publishers = {
    "poll/status"       = { fn = "poll", topic = google_pubsub_topic.status.name }
    "poll_shard/status" = { fn = "poll_shard", topic = google_pubsub_topic.status.name }
    "poll/shard"        = { fn = "poll", topic = google_pubsub_topic.shard.name }
  }

  # Documented minimal set for a custom Cloud Functions build account: Cloud Run Builder (read the staged source,
  # push the image to Artifact Registry, write build logs).
  build_roles = toset(["roles/run.builder"])
}

# --- Service accounts --------------------------------------------------------

resource "google_service_account" "function" {
  for_each = local.function_accounts

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.value}"
  display_name = "polysync-vertex ${each.key} function"
  description  = "Runtime identity of the ${each.key} function; holds only the roles that function needs."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "trigger" {
  for_each = local.trigger_accounts

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.value}"
  display_name = "polysync-vertex ${each.key} trigger"
  description  = "Identity Eventarc uses to push Pub/Sub messages to the ${each.key} function; may only invoke it."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "polysync-vertex function builds"
  description  = "Cloud Build identity for building the polysync-vertex functions."

  depends_on = [google_project_service.this]
}

# --- Runtime roles -----------------------------------------------------------

resource "google_project_iam_member" "function" {
  for_each = local.project_grants

  project = each.value.project
  role    = each.value.role
  member  = google_service_account.function[each.value.fn].member
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.topic_publishers

  project = var.project_id
  topic   = each.value.topic
  role    = "roles/pubsub.publisher"
  member  = google_service_account.function[each.value.fn].member
}

# Only the HTTP functions verify signatures, so only they read the webhook secret, and only that secret.
resource "google_secret_manager_secret_iam_member" "webhook" {
  for_each = local.http_functions

  project   = var.project_id
  secret_id = local.webhook_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.key].member
}

# submit creates jobs that run as job_service_account: Vertex AI requires the caller to be able to act as it.
# Granted on that one account, never project-wide.
resource "google_service_account_iam_member" "submit_acts_as_job_account" {
  count = var.job_service_account == null ? 0 : 1

  service_account_id = "projects/-/serviceAccounts/${var.job_service_account}"
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.function["submit"].member
}

# --- Build -------------------------------------------------------------------

resource "google_project_iam_member" "build" {
  for_each = local.build_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.build.member
}

# --- Event delivery (Eventarc, Pub/Sub push) ---------------------------------

# The trigger accounts may invoke their own function's Cloud Run service and nothing else. Pub/Sub-sourced
# Eventarc triggers need no roles/eventarc.eventReceiver (only direct and audit-log events do).
resource "google_cloud_run_service_iam_member" "poll_trigger_invoker" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.poll.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.trigger["poll"].member
}

resource "google_cloud_run_service_iam_member" "poll_shard_trigger_invoker" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.poll_shard.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.trigger["poll_shard"].member
}

# The Pub/Sub service agent mints the OIDC tokens of the push subscriptions as the trigger accounts. Projects whose
# agent predates April 2021 lack this right; granting it on the two trigger accounts only is harmless elsewhere.
resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  for_each = local.trigger_accounts

  service_account_id = google_service_account.trigger[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# --- HTTP invocation ---------------------------------------------------------

# Invoker policy of the HTTP functions. Polysync calls them as a webhook and has no Google identity, so with
# public_http = true (the default) Cloud Run lets every caller through (allUsers -> roles/run.invoker) and the
# functions authenticate each request themselves: X-Polysync-Signature, HMAC-SHA256 over timestamp and payload with
# the secret from Secret Manager, 300 s freshness, constant-time comparison; anything else gets 401 before any read,
# write or Vertex AI call. With public_http = false only http_invoker_members (e.g. an API gateway) may call them.
resource "google_cloud_run_service_iam_member" "http_public" {
  #checkov:skip=CKV_GCP_102:Intentional: Polysync's webhook has no Google identity; every request is authenticated by its HMAC signature in the function, and public_http = false turns this off.
  for_each = var.public_http ? local.http_functions : {}

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.http[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "http_invoker" {
  for_each = var.public_http ? {} : {
    for pair in setproduct(keys(local.http_functions), var.http_invoker_members) : "${pair[0]}/${pair[1]}" => { fn = pair[0], member = pair[1] }
  }

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.http[each.value.fn].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}
