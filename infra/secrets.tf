# Only the secret container is managed here. Its value is added with gcloud (docs/deploy.md) so it is never in
# Terraform state, plans or this repository.
resource "google_secret_manager_secret" "webhook" {
  count = var.webhook_secret_id == null ? 1 : 0

  project   = var.project_id
  secret_id = "${var.name_prefix}-webhook"
  labels    = local.labels

  # Automatic replication unless data residency requires named regions (an org policy such as
  # constraints/gcp.resourceLocations rejects automatic replication).
  replication {
    dynamic "auto" {
      for_each = var.secret_replica_locations == null ? [1] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = var.secret_replica_locations == null ? [] : [var.secret_replica_locations]
      content {
        dynamic "replicas" {
          for_each = user_managed.value
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  depends_on = [time_sleep.apis]
}

locals {
  webhook_secret_id = var.webhook_secret_id == null ? google_secret_manager_secret.webhook[0].secret_id : var.webhook_secret_id
}
