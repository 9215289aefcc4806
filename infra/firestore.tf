resource "google_firestore_database" "this" {
  count = var.create_firestore_database ? 1 : 0

  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = coalesce(var.firestore_location, var.region)
  type                              = "FIRESTORE_NATIVE"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # Runs and idempotency records outlive the connector's infrastructure: destroy leaves the database in place.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.this]
}

locals {
  runs_collection = "${var.collection_prefix}runs"
}

# Composite indexes; the code's queries (functions/polysync_vertex/adapters/firestore.py) define them, keep both in step:
#   active_shard:            runs where active == true and shard >= lo and shard < hi  (poll_shard's full scan)
#   active_recorded:         runs where active == true and recordedAt >= cursor      (poll: runs new since last tick)
# "runs where active == true" alone (poll, count_active) is served by the automatic single-field index.
resource "google_firestore_index" "runs_active_shard" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection

  fields {
    field_path = "active"
    order      = "ASCENDING"
  }
  fields {
    field_path = "shard"
    order      = "ASCENDING"
  }
  # Spelled out: the API appends __name__ itself, and leaving it implicit makes plans show a change forever.
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.this]
}

resource "google_firestore_index" "runs_active_recorded" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection

  fields {
    field_path = "active"
    order      = "ASCENDING"
  }
  fields {
    field_path = "recordedAt"
    order      = "ASCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.this]
}
