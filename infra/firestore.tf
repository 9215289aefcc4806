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

  depends_on = [time_sleep.apis]
}

# Daily backups beyond point-in-time recovery's 7 days (issue 27, point 12): a daily schedule keeps each backup
# firestore_backup_retention_days (at most 14 weeks, https://cloud.google.com/firestore/docs/backups). 0 turns it off.
resource "google_firestore_backup_schedule" "daily" {
  count = var.firestore_backup_retention_days > 0 ? 1 : 0

  project   = var.project_id
  database  = var.firestore_database
  retention = "${var.firestore_backup_retention_days * 86400}s"

  daily_recurrence {}

  depends_on = [google_firestore_database.this, time_sleep.apis]
}

locals {
  runs_collection      = "${var.collection_prefix}runs"
  requests_collection  = "${var.collection_prefix}requests"
  pollindex_collection = "${var.collection_prefix}pollindex"
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

  depends_on = [google_firestore_database.this, time_sleep.apis]
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

  depends_on = [google_firestore_database.this, time_sleep.apis]
}

# --- Retention (PSV_RETENTION_DAYS) -------------------------------------------

# Ended runs and done requests get `expireAt` = end + retention_days (the code writes it; active runs and pending
# requests have none, so TTL never touches them). Firestore's TTL policy deletes a document some time after its
# expireAt has passed (typically within 24 hours, https://cloud.google.com/firestore/docs/ttl). The field is also
# exempt from indexing: it is only ever read by TTL, and an index on a timestamp that grows with time is a write
# hotspot (same page; and "Index exemptions", https://cloud.google.com/firestore/docs/query-data/indexing).
resource "google_firestore_field" "runs_expire_at" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "expireAt"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_database.this, google_firestore_index.runs_active_recorded]
}

resource "google_firestore_field" "requests_expire_at" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.requests_collection
  field      = "expireAt"

  ttl_config {}
  index_config {}

  # Field configuration changes of one database are applied one after another: chained to avoid contention errors.
  depends_on = [google_firestore_field.runs_expire_at]
}

# --- Index exemptions for fields no query reads ---------------------------------

# Firestore indexes every field automatically (each subfield of a map, each element of an array), so every write of
# such a field also writes an index entry per value. A string is indexed by its first 1,500 bytes and every entry
# counts against a document's limits of 40,000 index entries and 8 MiB of index entries
# (https://cloud.google.com/firestore/quotas, "Indexes"). An empty index_config is a single-field index exemption
# (https://cloud.google.com/firestore/docs/query-data/indexing#exemptions): the field, and a map's subfields, get no
# automatic index (Google's provider definition, magic-modules mmv1/products/firestore/Field.yaml: "Configuring the
# index configuration with an empty block disables all indexes on the field"; the arguments are checked against
# provider 6.50's schema by tests/infra/test_provider_schema.py). One google_firestore_field per field: the expireAt
# fields above carry their TTL policy and their exemption in one resource.
#
# Exempt here: what functions/polysync_vertex/adapters/firestore/stored.py lists in NOT_INDEXED: a run's outputs,
# diagnostics and outbox stored as JSON text (stored.FREE_FORM), its warnings, error, failed tasks, outputs file,
# Output names and pending full-job GET; a request's Output names and outputs file; and each poll-index shard's runs
# map (one entry per active run). Queried, so kept indexed: runs.active, runs.shard, runs.recordedAt,
# requests.phase, requests.watchUntil (the `where(` filters in adapters/firestore/); tests/infra checks both lists.
resource "google_firestore_field" "runs_outbox" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "outbox"

  index_config {}

  depends_on = [google_firestore_field.requests_expire_at]
}

resource "google_firestore_field" "pollindex_runs" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.pollindex_collection
  field      = "runs"

  index_config {}

  depends_on = [google_firestore_field.runs_outbox]
}

resource "google_firestore_field" "runs_outputs" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "outputs"

  index_config {}

  depends_on = [google_firestore_field.pollindex_runs]
}

resource "google_firestore_field" "runs_output_info" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "outputInfo"

  index_config {}

  depends_on = [google_firestore_field.runs_outputs]
}

resource "google_firestore_field" "runs_completion_stats" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "completionStats"

  index_config {}

  depends_on = [google_firestore_field.runs_output_info]
}

resource "google_firestore_field" "runs_partial_failures" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "partialFailures"

  index_config {}

  depends_on = [google_firestore_field.runs_completion_stats]
}

resource "google_firestore_field" "runs_diagnostics" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "diagnostics"

  index_config {}

  depends_on = [google_firestore_field.runs_partial_failures]
}

resource "google_firestore_field" "runs_failed_tasks" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "failedTasks"

  index_config {}

  depends_on = [google_firestore_field.runs_diagnostics]
}

resource "google_firestore_field" "runs_warnings" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "warnings"

  index_config {}

  depends_on = [google_firestore_field.runs_failed_tasks]
}

resource "google_firestore_field" "runs_error" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "error"

  index_config {}

  depends_on = [google_firestore_field.runs_warnings]
}

resource "google_firestore_field" "runs_outputs_file" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "outputsFile"

  index_config {}

  depends_on = [google_firestore_field.runs_error]
}

resource "google_firestore_field" "runs_output_names" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "outputNames"

  index_config {}

  depends_on = [google_firestore_field.runs_outputs_file]
}

resource "google_firestore_field" "runs_full_job_due" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.runs_collection
  field      = "fullJobDue"

  index_config {}

  depends_on = [google_firestore_field.runs_output_names]
}

resource "google_firestore_field" "requests_output_names" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.requests_collection
  field      = "outputNames"

  index_config {}

  depends_on = [google_firestore_field.runs_full_job_due]
}

resource "google_firestore_field" "requests_outputs_file" {
  project    = var.project_id
  database   = var.firestore_database
  collection = local.requests_collection
  field      = "outputsFile"

  index_config {}

  depends_on = [google_firestore_field.requests_output_names]
}
