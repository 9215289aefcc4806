# The webhook secret is an input, never created here (issue 27, point 1): a secret created without a version makes
# every HTTP function's revision fail to start (they read PSV_WEBHOOK_SECRETS from it at start-up), and a version
# created by Terraform would put the value in state and plans. docs/deploy.md step 3 creates the secret and its first
# version with gcloud; variables.tf requires webhook_secret_id (no default), and the preflight of both Cloud Build
# pipelines checks that it has an enabled version before anything is deployed.
locals {
  webhook_secret_id = var.webhook_secret_id
}

# Earlier versions of this module created an empty "<name_prefix>-webhook" secret when webhook_secret_id was null.
# Forget it without deleting it (it may hold the versions the functions read): name it in webhook_secret_id.
removed {
  from = google_secret_manager_secret.webhook

  lifecycle {
    destroy = false
  }
}
