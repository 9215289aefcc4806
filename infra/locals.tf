locals {
  vertex_locations = coalesce(var.vertex_locations, [var.region])
  vertex_projects  = coalesce(var.vertex_projects, [var.project_id])
  labels           = merge(var.labels, { app = "polysync-vertex" })

  # Every setting in functions/polysync_vertex/config.py (SETTINGS) is set here, on every function, except
  #   PSV_WEBHOOK_SECRETS  - a secret environment variable from Secret Manager (functions.tf), and
  #   PSV_VERTEX_ENDPOINT  - only for the local Vertex AI emulator; empty means Google's regional endpoint.
  # tests/infra/test_terraform.py holds this map against SETTINGS.
  common_env = {
    PSV_PROJECT                  = var.project_id
    PSV_DEFAULT_LOCATION         = local.vertex_locations[0]
    PSV_ALLOWED_PROJECTS         = join(",", local.vertex_projects)
    PSV_ALLOWED_LOCATIONS        = join(",", local.vertex_locations)
    PSV_STATUS_TOPIC             = google_pubsub_topic.status.id
    PSV_SHARD_TOPIC              = google_pubsub_topic.shard.id
    PSV_POLL_INLINE_MAX          = tostring(var.poll_inline_max)
    PSV_QUEUED_THRESHOLD_SECONDS = tostring(var.queued_threshold_seconds)
    PSV_FIRESTORE_DATABASE       = var.firestore_database
    PSV_COLLECTION_PREFIX        = var.collection_prefix
    PSV_REQUEST_BUDGET_SECONDS   = tostring(var.request_budget_seconds)
    PSV_TEMPLATE_CACHE_SECONDS   = tostring(var.template_cache_seconds)
    PSV_LOG_LEVEL                = var.log_level
    PSV_RETENTION_DAYS           = tostring(var.retention_days)
    # Whose permissions health checks (through Policy Troubleshooter, without their credentials: iam.tf).
    PSV_FUNCTION_IDENTITIES = join(",", [for fn in sort(keys(local.health_tested_accounts)) : "${fn}=${google_service_account.function[fn].email}"])
    # Issue 24: hints (GETs per minute the hint function may spend) and the poll cadence between scheduler ticks.
    PSV_HINT_GETS_PER_MINUTE  = tostring(var.hint_gets_per_minute)
    PSV_POLL_INTERVAL_SECONDS = tostring(var.poll_interval_seconds)
    PSV_POLL_CALLS_PER_MINUTE = tostring(var.poll_calls_per_minute)
    # health checks each Vertex AI project's hints sink and that its writer may publish to the hints topic; empty
    # while hints are off (functions.tf hints_on: no sinks, nothing to check).
    PSV_HINT_SINK   = local.hints_on ? local.hint_sink_name : ""
    PSV_HINTS_TOPIC = local.hints_on ? google_pubsub_topic.hints.id : ""
    # Issue 25: Cloud Logging entries:list reads per minute the pollers spend on failed jobs' log tails.
    PSV_LOG_READS_PER_MINUTE = tostring(var.log_reads_per_minute)
    # Issue 26: Custom Job Output parameters (empty bucket: outputs off, Output parameters are ignored with a warning).
    PSV_OUTPUTS_BUCKET = var.outputs_bucket_enabled ? google_storage_bucket.outputs[0].name : ""
    PSV_OUTPUTS_PREFIX = var.outputs_prefix
  }
}
