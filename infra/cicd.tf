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
