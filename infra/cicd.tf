# Two Cloud Build triggers with separate identities, so that the rule "only main deploys" lives in the trigger (which
# a branch cannot change) and not only in a YAML file the branch controls (docs/deploy.md, CI/CD):
#   plan  - every branch except main and every pull request: tests, checks and `terraform plan` as a read-only
#           account (infra/cloudbuild-plan.yaml); it cannot change anything even if the branch edits its build file.
#   apply - pushes to main only (branch filter on the trigger), approval required before the build starts, as the
#           deploy account (cloudbuild.yaml).
# Off unless cicd_github is set; the two accounts are created and granted during bootstrap (docs/deploy.md).

locals {
  cicd_enabled = var.cicd_github != null

  cicd_plan_triggers = local.cicd_enabled ? {
    branch = { description = "polysync-vertex plan: pushes to branches other than main", pull_request = false }
    pr     = { description = "polysync-vertex plan: pull requests into main", pull_request = true }
  } : {}

  cicd_substitutions = {
    _TF_STATE_BUCKET = coalesce(var.cicd_state_bucket, "unset")
    _TFVARS          = var.cicd_tfvars
  }
}

resource "google_cloudbuild_trigger" "plan" {
  for_each = local.cicd_plan_triggers

  project         = var.project_id
  location        = "global"
  name            = "${var.name_prefix}-plan-${each.key}"
  description     = each.value.description
  filename        = "infra/cloudbuild-plan.yaml"
  service_account = "projects/${var.project_id}/serviceAccounts/${coalesce(var.cicd_plan_service_account, "unset")}"
  substitutions   = local.cicd_substitutions

  github {
    owner = var.cicd_github.owner
    name  = var.cicd_github.name

    dynamic "push" {
      for_each = each.value.pull_request ? [] : [1]
      content {
        branch       = "^main$"
        invert_regex = true
      }
    }

    dynamic "pull_request" {
      for_each = each.value.pull_request ? [1] : []
      content {
        branch          = "^main$"
        comment_control = "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY"
      }
    }
  }

  include_build_logs = "INCLUDE_BUILD_LOGS_WITH_STATUS"

  lifecycle {
    precondition {
      condition     = var.cicd_plan_service_account != null && var.cicd_state_bucket != null
      error_message = "cicd_github needs cicd_plan_service_account and cicd_state_bucket."
    }
  }

  depends_on = [time_sleep.apis]
}

resource "google_cloudbuild_trigger" "apply" {
  count = local.cicd_enabled ? 1 : 0

  project         = var.project_id
  location        = "global"
  name            = "${var.name_prefix}-apply"
  description     = "polysync-vertex deploy: pushes to main, after approval"
  filename        = "cloudbuild.yaml"
  service_account = "projects/${var.project_id}/serviceAccounts/${coalesce(var.cicd_deploy_service_account, "unset")}"
  substitutions   = local.cicd_substitutions

  github {
    owner = var.cicd_github.owner
    name  = var.cicd_github.name

    push {
      branch = "^main$"
    }
  }

  # A person with roles/cloudbuild.builds.approver approves each build before it starts.
  approval_config {
    approval_required = true
  }

  include_build_logs = "INCLUDE_BUILD_LOGS_WITH_STATUS"

  lifecycle {
    precondition {
      condition     = var.cicd_deploy_service_account != null && var.cicd_state_bucket != null
      error_message = "cicd_github needs cicd_deploy_service_account and cicd_state_bucket."
    }
  }

  depends_on = [time_sleep.apis]
}

# --- The plan account's rights (issue 27, points 5 and 11) -----------------------------------------------------------

# Branch and pull-request builds run repository code as the plan account, so it must not read data: no roles/viewer
# (which reads Firestore documents, Pub/Sub messages' metadata and more), but a custom role with the metadata reads
# `terraform plan` refreshes - resources, their IAM policies, custom roles - and nothing inside them: no
# datastore.entities.*, no secretmanager.versions.access, no storage.objects.* except on the source bucket (the
# zipped code Terraform uploads), no logging.logEntries.list. One instance in project_id and, for the custom roles,
# bindings and log sinks Terraform keeps there, one in every other Vertex AI project (cross-project plans failed with
# 403 before). Takes effect from the second apply: the first one is by hand (docs/deploy.md, CI/CD).
locals {
  plan_permissions = sort([
    "artifactregistry.repositories.get",
    "artifactregistry.repositories.getIamPolicy",
    "cloudbuild.builds.get",
    "cloudbuild.builds.list",
    "cloudfunctions.functions.get",
    "cloudfunctions.functions.getIamPolicy",
    "cloudfunctions.functions.list",
    "cloudfunctions.operations.get",
    "cloudscheduler.jobs.get",
    "datastore.backupSchedules.get",
    "datastore.backupSchedules.list",
    "datastore.databases.get",
    "datastore.databases.getMetadata",
    "datastore.indexes.get",
    "datastore.indexes.list",
    "iam.roles.get",
    "iam.roles.list",
    "iam.serviceAccounts.get",
    "iam.serviceAccounts.getIamPolicy",
    "iam.serviceAccounts.list",
    "logging.logMetrics.get",
    "logging.sinks.get",
    "monitoring.alertPolicies.get",
    "monitoring.dashboards.get",
    "pubsub.subscriptions.get",
    "pubsub.subscriptions.getIamPolicy",
    "pubsub.topics.get",
    "pubsub.topics.getIamPolicy",
    "resourcemanager.projects.get",
    "resourcemanager.projects.getIamPolicy",
    "run.services.get",
    "run.services.getIamPolicy",
    "secretmanager.secrets.get",
    "secretmanager.secrets.getIamPolicy",
    "secretmanager.versions.list",
    "serviceusage.services.get",
    "serviceusage.services.list",
    "storage.buckets.get",
    "storage.buckets.getIamPolicy",
  ])

  # In the other Vertex AI projects Terraform keeps only custom roles, project IAM bindings and log sinks.
  plan_permissions_vertex = sort([
    "iam.roles.get",
    "iam.roles.list",
    "logging.sinks.get",
    "resourcemanager.projects.get",
    "resourcemanager.projects.getIamPolicy",
  ])

  plan_role_projects = local.cicd_enabled ? {
    for p in distinct(concat([var.project_id], local.vertex_projects)) : p => p == var.project_id ? local.plan_permissions : local.plan_permissions_vertex
  } : {}
}

resource "google_project_iam_custom_role" "plan" {
  for_each = local.plan_role_projects

  project     = each.key
  role_id     = "${local.vertex_role_prefix}_plan"
  title       = "polysync-vertex plan (read-only, no data)"
  description = "What terraform plan of polysync-vertex refreshes: resource metadata and IAM policies, never data."
  permissions = each.value
  stage       = "GA"

  depends_on = [time_sleep.apis]
}

resource "google_project_iam_member" "plan" {
  for_each = local.plan_role_projects

  project = each.key
  role    = google_project_iam_custom_role.plan[each.key].id
  member  = "serviceAccount:${coalesce(var.cicd_plan_service_account, "unset")}"
}

# The refresh of google_storage_bucket_object.functions reads the object's metadata: the source bucket only.
resource "google_storage_bucket_iam_member" "plan_source" {
  count = local.cicd_enabled ? 1 : 0

  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${coalesce(var.cicd_plan_service_account, "unset")}"
}
