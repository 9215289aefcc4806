# Only the secret container is managed here. Its value is added with gcloud (docs/deploy.md) so it is never in
# Terraform state, plans or this repository.
resource "google_secret_manager_secret" "webhook" {
  count = var.webhook_secret_id == null ? 1 : 0

  project   = var.project_id
  secret_id = "${var.name_prefix}-webhook"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

locals {
  webhook_secret_id = var.webhook_secret_id == null ? google_secret_manager_secret.webhook[0].secret_id : var.webhook_secret_id
}
