# Least privilege: one runtime service account per function, one trigger service account per event function, one
# build service account. No primitive role (owner/editor/viewer) anywhere; Pub/Sub publish rights only on topics;
# Vertex AI rights only through the custom roles below, whose permissions are exactly the calls each function makes.

locals {
  # function key -> service account id suffix ("<name_prefix>-<suffix>" stays within 30 characters).
  function_accounts = {
    submit     = "submit"
    cancel     = "cancel"
    status     = "status"
    templates  = "templates"
    health     = "health"
    poll       = "poll"
    poll_shard = "shard"
  }

  trigger_accounts = {
    poll       = "poll-trg"
    poll_shard = "shard-trg"
  }

  # Firestore roles in project_id, each limited to the connector's database by an IAM condition. status and health
  # only read; templates does not touch Firestore.
  firestore_roles = {
    submit     = "roles/datastore.user"
    cancel     = "roles/datastore.user"
    status     = "roles/datastore.viewer"
    health     = "roles/datastore.viewer"
    poll       = "roles/datastore.user"
    poll_shard = "roles/datastore.user"
  }

  # Vertex AI permissions per function: exactly the calls its code makes through the Vertex AI adapter, for the three
  # job types. submit creates and awaits a job by label (create, get, list); the pollers read and list active jobs and
  # cancel orphaned duplicates (get, list, cancel); cancel cancels and re-reads (cancel, get); templates lists and
  # reads (get, list); health, with deep=true, lists once per type (list). status answers from Firestore alone and
  # gets no Vertex AI role. tests/infra/test_terraform.py holds this map against its own copy of the table.
  vertex_permissions = {
    submit = [
      "aiplatform.batchPredictionJobs.create",
      "aiplatform.batchPredictionJobs.get",
      "aiplatform.batchPredictionJobs.list",
      "aiplatform.customJobs.create",
      "aiplatform.customJobs.get",
      "aiplatform.customJobs.list",
      "aiplatform.pipelineJobs.create",
      "aiplatform.pipelineJobs.get",
      "aiplatform.pipelineJobs.list",
    ]
    cancel = [
      "aiplatform.batchPredictionJobs.cancel",
      "aiplatform.batchPredictionJobs.get",
      "aiplatform.customJobs.cancel",
      "aiplatform.customJobs.get",
      "aiplatform.pipelineJobs.cancel",
      "aiplatform.pipelineJobs.get",
    ]
    templates = [
      "aiplatform.batchPredictionJobs.get",
      "aiplatform.batchPredictionJobs.list",
      "aiplatform.customJobs.get",
      "aiplatform.customJobs.list",
      "aiplatform.pipelineJobs.get",
      "aiplatform.pipelineJobs.list",
    ]
    health = [
      "aiplatform.batchPredictionJobs.list",
      "aiplatform.customJobs.list",
      "aiplatform.pipelineJobs.list",
    ]
    poll = [
      "aiplatform.batchPredictionJobs.cancel",
      "aiplatform.batchPredictionJobs.get",
      "aiplatform.batchPredictionJobs.list",
      "aiplatform.customJobs.cancel",
      "aiplatform.customJobs.get",
      "aiplatform.customJobs.list",
      "aiplatform.pipelineJobs.cancel",
      "aiplatform.pipelineJobs.get",
      "aiplatform.pipelineJobs.list",
    ]
    poll_shard = [
      "aiplatform.batchPredictionJobs.cancel",
      "aiplatform.batchPredictionJobs.get",
      "aiplatform.batchPredictionJobs.list",
      "aiplatform.customJobs.cancel",
      "aiplatform.customJobs.get",
      "aiplatform.customJobs.list",
      "aiplatform.pipelineJobs.cancel",
      "aiplatform.pipelineJobs.get",
      "aiplatform.pipelineJobs.list",
    ]
  }

  # Custom role ids allow letters, digits, underscores and dots: "polysync-vertex" -> "polysync_vertex_submit".
  # The 403 message and docs/deploy.md name the role as projects/<vertex project>/roles/<this id>.
  vertex_role_prefix = replace(var.name_prefix, "-", "_")

  # One custom role per (function, Vertex AI project), granted to that function's identity in that project only.
  vertex_role_instances = merge([
    for fn in keys(local.vertex_permissions) : {
      for p in local.vertex_projects : "${fn}/${p}" => { fn = fn, project = p }
    }
  ]...)

  # IAM condition that limits a Firestore role to the connector's database (Firestore IAM Conditions,
  # https://cloud.google.com/firestore/docs/security/iam#iam_conditions: resource.name of a database).
  firestore_database_name = "projects/${var.project_id}/databases/${var.firestore_database}"

  # Publisher on single topics only: both pollers publish status events; poll fans out to the shard topic. health
  # tests the status topic's permissions (topics.testIamPermissions needs no role) and publishes nothing.
  topic_publishers = {
    "poll/status"       = { fn = "poll", topic = google_pubsub_topic.status.name }
    "poll_shard/status" = { fn = "poll_shard", topic = google_pubsub_topic.status.name }
    "poll/shard"        = { fn = "poll", topic = google_pubsub_topic.shard.name }
  }

  # submit creates jobs that run as these accounts (worker pools' and pipelines' serviceAccount): Vertex AI requires
  # the caller to be able to act as each of them.
  job_service_accounts = toset(var.job_service_accounts)

  # Documented minimal set for a custom Cloud Functions build account: Cloud Run Builder (read the staged source,
  # push the image to Artifact Registry, write build logs).
  build_roles = toset(["roles/run.builder"])

  # health runs projects.testIamPermissions as each function whose Vertex AI rights it checks (PSV_FUNCTION_IDENTITIES),
  # so that "submit may create" is tested with submit's identity, not health's own.
  health_tested_accounts = { for fn in keys(local.vertex_permissions) : fn => fn if fn != "health" }

  pubsub_service_agent   = google_project_service_identity.pubsub.member
  eventarc_service_agent = google_project_service_identity.eventarc.member
}

# --- Service agents ----------------------------------------------------------

# On a fresh project the Pub/Sub and Eventarc service agents exist only after their first use, and Eventarc trigger
# creation fails with "Permission denied while using the Eventarc Service Agent" until the agent exists and holds its
# role (hashicorp/terraform-provider-google#25294, #14584). Creating them explicitly makes them exist before the grants
# and triggers that name them; the Eventarc agent's role is granted explicitly for the same reason.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [time_sleep.apis]
}

resource "google_project_service_identity" "eventarc" {
  provider = google-beta

  project = var.project_id
  service = "eventarc.googleapis.com"

  depends_on = [time_sleep.apis]
}

resource "google_project_iam_member" "eventarc_agent" {
  #checkov:skip=CKV_GCP_49:The Eventarc service agent's own predefined role, which Google grants it automatically on enablement; granted here only so it exists before the triggers, and only to the Google-managed agent.
  project = var.project_id
  role    = "roles/eventarc.serviceAgent"
  member  = local.eventarc_service_agent
}

# --- Service accounts --------------------------------------------------------

resource "google_service_account" "function" {
  for_each = local.function_accounts

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.value}"
  display_name = "polysync-vertex ${each.key} function"
  description  = "Runtime identity of the ${each.key} function; holds only the roles that function needs."

  depends_on = [time_sleep.apis]
}

resource "google_service_account" "trigger" {
  for_each = local.trigger_accounts

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.value}"
  display_name = "polysync-vertex ${each.key} trigger"
  description  = "Identity Eventarc uses to push Pub/Sub messages to the ${each.key} function; may only invoke it."

  depends_on = [time_sleep.apis]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "polysync-vertex function builds"
  description  = "Cloud Build identity for building the polysync-vertex functions."

  depends_on = [time_sleep.apis]
}

# --- Runtime roles -----------------------------------------------------------

resource "google_project_iam_member" "firestore" {
  for_each = local.firestore_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.function[each.key].member

  condition {
    title       = "${var.name_prefix} database only"
    description = "Only the connector's Firestore database."
    expression  = "resource.name == \"${local.firestore_database_name}\""
  }
}

resource "google_project_iam_custom_role" "vertex" {
  for_each = local.vertex_role_instances

  project     = each.value.project
  role_id     = "${local.vertex_role_prefix}_${each.value.fn}"
  title       = "polysync-vertex ${each.value.fn}"
  description = "Exactly the Vertex AI calls of the polysync-vertex ${each.value.fn} function (Custom, Pipeline and Batch Prediction Jobs)."
  permissions = local.vertex_permissions[each.value.fn]
  stage       = "GA"

  depends_on = [time_sleep.apis]
}

resource "google_project_iam_member" "vertex" {
  for_each = local.vertex_role_instances

  project = each.value.project
  role    = google_project_iam_custom_role.vertex[each.key].id
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

# submit creates jobs that run as the job service accounts: Vertex AI requires the caller to be able to act as each
# (iam.serviceAccounts.actAs). Granted on those accounts only, never project-wide; accounts in other projects work
# too (docs/deploy.md, cross-project prerequisites).
resource "google_service_account_iam_member" "submit_acts_as_job_account" {
  for_each = local.job_service_accounts

  service_account_id = "projects/-/serviceAccounts/${each.value}"
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.function["submit"].member
}

# health impersonates the functions it tests (PSV_FUNCTION_IDENTITIES): a custom role with the one permission that
# needs, iam.serviceAccounts.getAccessToken (roles/iam.serviceAccountTokenCreator would add signBlob, signJwt and
# more), granted on each tested function account only. Trade-off, stated in docs/deploy.md: whoever controls the
# health function's code can act as those accounts; its code only calls testIamPermissions with the tokens.
resource "google_project_iam_custom_role" "health_impersonation" {
  project     = var.project_id
  role_id     = "${local.vertex_role_prefix}_health_impersonation"
  title       = "polysync-vertex health: test permissions as another function"
  description = "Mint a short-lived access token of a polysync-vertex function account, to test its permissions."
  permissions = ["iam.serviceAccounts.getAccessToken"]
  stage       = "GA"

  depends_on = [time_sleep.apis]
}

resource "google_service_account_iam_member" "health_impersonates" {
  for_each = local.health_tested_accounts

  service_account_id = google_service_account.function[each.key].name
  role               = google_project_iam_custom_role.health_impersonation.id
  member             = google_service_account.function["health"].member
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

# IAM grants take effect within about a minute, sometimes more ("Access change propagation",
# https://cloud.google.com/iam/docs/access-change-propagation). Function builds read the source as the build account,
# instances read the secret at start-up and Eventarc validates the trigger with its agent: all of that happens while
# the functions are created, so they wait for the grants to propagate (the workaround in
# hashicorp/terraform-provider-google#25294). The triggers re-run the wait whenever a grant it covers changes.
resource "time_sleep" "iam" {
  create_duration = "60s"

  triggers = {
    build     = join(",", sort([for m in google_project_iam_member.build : "${m.role}=${m.member}"]))
    secret    = join(",", sort([for m in google_secret_manager_secret_iam_member.webhook : m.member]))
    eventarc  = google_project_iam_member.eventarc_agent.id
    pubsub    = join(",", sort([for m in google_service_account_iam_member.pubsub_agent_token_creator : m.id]))
    firestore = join(",", sort([for m in google_project_iam_member.firestore : m.id]))
    vertex    = join(",", sort([for m in google_project_iam_member.vertex : m.id]))
    act_as    = join(",", sort([for m in google_service_account_iam_member.submit_acts_as_job_account : m.id]))
    health    = join(",", sort([for m in google_service_account_iam_member.health_impersonates : m.id]))
  }
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
