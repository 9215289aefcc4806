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
    # health tests each function's Vertex AI permissions as that function's identity (iam.tf, health_impersonates).
    PSV_FUNCTION_IDENTITIES = join(",", [for fn in sort(keys(local.health_tested_accounts)) : "${fn}=${google_service_account.function[fn].email}"])
    # Issue 26: Custom Job Output parameters; the bucket itself comes with its Terraform (empty: outputs off).
    PSV_OUTPUTS_BUCKET = ""
    PSV_OUTPUTS_PREFIX = "polysync-outputs"
    # Issue 25: the pollers' Cloud Logging reads per minute for failed runs' log tails (its variable comes with
    # issue 24's Terraform).
    PSV_LOG_READS_PER_MINUTE = "20"
  }
}
