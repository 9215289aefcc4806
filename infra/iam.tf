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
    hint       = "hint"
  }

  # The identities Pub/Sub pushes to each event function with (OIDC token); each may invoke its own function only.
  trigger_accounts = {
    poll       = "poll-trg"
    poll_shard = "shard-trg"
    hint       = "hint-trg"
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
    hint       = "roles/datastore.user"
  }

  # Permissions per function in each Vertex AI project: exactly the calls its code makes there, for the three job
  # types. submit creates and awaits a job by label (create, get, list); the pollers read and list active jobs and
  # cancel orphaned duplicates (get, list, cancel); cancel cancels and re-reads (cancel, get); templates lists and
  # reads (get, list); hint GETs the jobs its log entries name (get, list); health, with deep=true, lists once per
  # type (list). Besides Vertex AI (functions/polysync_vertex/core/permissions.py, EXTRA):
  #   logging.logEntries.list - the pollers and hint read a failed job's log tail (issue 25, diagnostics), status
  #                             reads a run's logs for `status?logs=N`;
  #   logging.sinks.get, resourcemanager.projects.getIamPolicy, iam.roles.get - health reads the hints sink and the
  #                             IAM policy it asks Policy Troubleshooter about (read-only; it holds no one's tokens).
  # tests/infra/test_terraform.py holds this map against its own copy of the table.
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
      "iam.roles.get",
      "logging.sinks.get",
      "resourcemanager.projects.getIamPolicy",
    ]
    status = [
      "logging.logEntries.list",
    ]
    hint = [
      "aiplatform.batchPredictionJobs.get",
      "aiplatform.batchPredictionJobs.list",
      "aiplatform.customJobs.get",
      "aiplatform.customJobs.list",
      "aiplatform.pipelineJobs.get",
      "aiplatform.pipelineJobs.list",
      "logging.logEntries.list",
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
      "logging.logEntries.list",
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
      "logging.logEntries.list",
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

  # Publisher on single topics only: both pollers and hint publish status events; poll fans out to the shard topic.
  # health asks Policy Troubleshooter whether poll may publish, and publishes nothing.
  topic_publishers = {
    "poll/status"       = { fn = "poll", topic = google_pubsub_topic.status.name }
    "poll_shard/status" = { fn = "poll_shard", topic = google_pubsub_topic.status.name }
    "hint/status"       = { fn = "hint", topic = google_pubsub_topic.status.name }
    "poll/shard"        = { fn = "poll", topic = google_pubsub_topic.shard.name }
  }

  # submit creates jobs that run as these accounts (worker pools' and pipelines' serviceAccount): Vertex AI requires
  # the caller to be able to act as each of them.
  job_service_accounts = toset(var.job_service_accounts)

  # Documented minimal set for a custom Cloud Functions build account: Cloud Run Builder (read the staged source,
  # push the image to Artifact Registry, write build logs).
  build_roles = toset(["roles/run.builder"])

  # health asks Policy Troubleshooter whether each of these identities holds the permissions its function needs
  # (PSV_FUNCTION_IDENTITIES), without their credentials: no identity may act as another (issue 27, point 10).
  health_tested_accounts = { for fn in keys(local.function_accounts) : fn => fn if fn != "health" }

  pubsub_service_agent = google_project_service_identity.pubsub.member
}

# --- Service agents ----------------------------------------------------------

# On a fresh project the Pub/Sub service agent exists only after its first use; the grants that name it (token
# creator on the push identities, dead-lettering) fail until then. Creating it explicitly makes it exist first
# (hashicorp/terraform-provider-google#25294, #14584).
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [time_sleep.apis]
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
  description  = "Identity Pub/Sub pushes messages to the ${each.key} function with (OIDC token); may only invoke it."

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

# health reads, never acts: to test another function's permissions it asks Policy Troubleshooter
# (policytroubleshooter.googleapis.com, iam:troubleshoot) about that identity, which needs the IAM policies involved,
# not the identity's credentials. In each Vertex AI project its custom role above holds
# resourcemanager.projects.getIamPolicy and iam.roles.get; here, in project_id, it may read the policies of the
# project and of the topics and buckets it checks (status topic, hints topic, outputs bucket).
resource "google_project_iam_custom_role" "health_inspect" {
  project     = var.project_id
  role_id     = "${local.vertex_role_prefix}_health_inspect"
  title       = "polysync-vertex health: read IAM policies"
  description = "Read the IAM policies Policy Troubleshooter evaluates for the polysync-vertex health check; no data, no tokens."
  permissions = [
    "iam.roles.get",
    "pubsub.topics.getIamPolicy",
    "resourcemanager.projects.getIamPolicy",
    "storage.buckets.getIamPolicy",
  ]
  stage = "GA"

  depends_on = [time_sleep.apis]
}

resource "google_project_iam_member" "health_inspect" {
  project = var.project_id
  role    = google_project_iam_custom_role.health_inspect.id
  member  = google_service_account.function["health"].member
}

# Earlier versions let health impersonate the other functions (getAccessToken on their accounts, custom role
# <prefix>_health_impersonation): whoever took over health could have created jobs as submit. Both are gone; the next
# apply deletes them.

# --- Build -------------------------------------------------------------------

resource "google_project_iam_member" "build" {
  for_each = local.build_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.build.member
}

# --- Event delivery (Pub/Sub push) ------------------------------------------------------------------------------

# Each push identity may invoke its own function's Cloud Run service and nothing else.
resource "google_cloud_run_service_iam_member" "trigger_invoker" {
  for_each = local.event_functions_deployed

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.event[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.trigger[each.key].member
}

moved {
  from = google_cloud_run_service_iam_member.poll_trigger_invoker
  to   = google_cloud_run_service_iam_member.trigger_invoker["poll"]
}

moved {
  from = google_cloud_run_service_iam_member.poll_shard_trigger_invoker
  to   = google_cloud_run_service_iam_member.trigger_invoker["poll_shard"]
}

# The Pub/Sub service agent mints the OIDC tokens of the push subscriptions as the push identities. Projects whose
# agent predates April 2021 lack this right; granting it on the push identities only is harmless elsewhere.
resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  for_each = local.trigger_accounts

  service_account_id = google_service_account.trigger[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# IAM grants take effect within about a minute, sometimes more ("Access change propagation",
# https://cloud.google.com/iam/docs/access-change-propagation). Function builds read the source as the build account
# and instances read the secret at start-up: that happens while the functions are created, so they wait for the grants
# to propagate (the workaround in hashicorp/terraform-provider-google#25294). The triggers re-run the wait whenever a
# grant it covers changes.
resource "time_sleep" "iam" {
  create_duration = "60s"

  triggers = {
    build     = join(",", sort([for m in google_project_iam_member.build : "${m.role}=${m.member}"]))
    secret    = join(",", sort([for m in google_secret_manager_secret_iam_member.webhook : m.member]))
    pubsub    = join(",", sort([for m in google_service_account_iam_member.pubsub_agent_token_creator : m.id]))
    firestore = join(",", sort([for m in google_project_iam_member.firestore : m.id]))
    vertex    = join(",", sort([for m in google_project_iam_member.vertex : m.id]))
    act_as    = join(",", sort([for m in google_service_account_iam_member.submit_acts_as_job_account : m.id]))
    pipelines = join(",", sort([for m in google_service_account_iam_member.submit_acts_as_compute_default : m.id]))
  }
}

# --- HTTP invocation ---------------------------------------------------------

# Invoker policy of the HTTP functions (var.http_access). Polysync calls them as a webhook and has no Google identity,
# so Cloud Run must let its calls through, and the functions authenticate each request themselves:
# X-Polysync-Signature, HMAC-SHA256 over timestamp and payload with the secret from Secret Manager, 300 s freshness,
# constant-time comparison; anything else gets 401 before any read, write or Vertex AI call.
#   "allUsers"             - allUsers -> roles/run.invoker (the default: everything in Terraform). Refused where the
#                            organisation enforces domain-restricted sharing (iam.allowedPolicyMemberDomains).
#   "invoker_iam_disabled" - no IAM binding; Cloud Run's invoker IAM check is switched off on the five services, which
#                            Cloud Run recommends "when the project is subject to the domain restricted sharing
#                            constraint" (https://cloud.google.com/run/docs/authenticating/public). The Cloud
#                            Functions API cannot set it (hashicorp/terraform-provider-google#23360), so the apply
#                            pipeline does, after every apply (cloudbuild.yaml, step http-invoker; by hand:
#                            docs/deploy.md step 6), for the services in output http_invoker_iam_disabled_services.
#   "members"              - only http_invoker_members (e.g. an API gateway) may call them.
resource "google_cloud_run_service_iam_member" "http_public" {
  #checkov:skip=CKV_GCP_102:Intentional with http_access = "allUsers": Polysync's webhook has no Google identity; every request is authenticated by its HMAC signature in the function.
  for_each = var.http_access == "allUsers" ? local.http_functions : {}

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.http[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "http_invoker" {
  for_each = var.http_access == "members" ? {
    for pair in setproduct(keys(local.http_functions), var.http_invoker_members) : "${pair[0]}/${pair[1]}" => { fn = pair[0], member = pair[1] }
  } : {}

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.http[each.value.fn].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

# --- Pipeline Jobs without a service account (issue 27, point 6) --------------------------------------------------

# "If you don't specify a service account, Vertex AI Pipelines uses the Compute Engine default service account"
# (https://cloud.google.com/vertex-ai/docs/pipelines/configure-project#service-account), and creating such a job needs
# iam.serviceAccounts.actAs on it. That account is broad (often Editor), so submit may act as it only when the
# operator opts in; otherwise give Pipeline Job templates a serviceAccount listed in job_service_accounts.
data "google_project" "vertex" {
  for_each = var.pipelines_may_use_compute_default_sa ? toset(local.vertex_projects) : toset([])

  project_id = each.value
}

resource "google_service_account_iam_member" "submit_acts_as_compute_default" {
  for_each = data.google_project.vertex

  service_account_id = "projects/${each.key}/serviceAccounts/${each.value.number}-compute@developer.gserviceaccount.com"
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.function["submit"].member
}
