# Custom Job Output parameters (issue 26): submit gives worker pool 0 POLYSYNC_OUTPUTS_PATH=/gcs/<bucket>/<prefix>/...
# (Vertex AI mounts Cloud Storage into custom training containers with Cloud Storage FUSE) and the pollers read the
# JSON object the job wrote there. Off with outputs_bucket_enabled = false (PSV_OUTPUTS_BUCKET is then empty and Output
# parameters are ignored with a warning, as before).
locals {
  outputs_bucket_name = coalesce(var.outputs_bucket_name, "${var.project_id}-${var.name_prefix}-outputs")

  # Who runs the jobs and so writes the outputs: the job service accounts, and in each Vertex AI project the Vertex AI
  # Custom Code Service Agent, which runs Custom Jobs that name no service account
  # (https://cloud.google.com/vertex-ai/docs/general/access-control#service-agents). No google_project_service_identity
  # exists for it, so its address is built from the project number.
  outputs_writers = var.outputs_bucket_enabled ? merge(
    { for a in var.job_service_accounts : "sa/${a}" => "serviceAccount:${a}" },
    var.outputs_custom_code_agent_writes ? {
      for p, proj in data.google_project.outputs_vertex : "agent/${p}" => "serviceAccount:service-${proj.number}@gcp-sa-aiplatform-cc.iam.gserviceaccount.com"
    } : {},
  ) : {}

  # Who reads them: every function that records a run's final state.
  outputs_readers = var.outputs_bucket_enabled ? toset(["poll", "poll_shard", "hint"]) : toset([])
}

data "google_project" "outputs_vertex" {
  for_each = var.outputs_bucket_enabled && var.outputs_custom_code_agent_writes ? toset(local.vertex_projects) : toset([])

  project_id = each.value
}

resource "google_storage_bucket" "outputs" {
  #checkov:skip=CKV_GCP_62:Holds small JSON objects of job outputs that live for the run retention; object changes are in Data Access audit logs when the organisation enables them, and a usage-log bucket would add nothing.
  count = var.outputs_bucket_enabled ? 1 : 0

  project                     = var.project_id
  name                        = local.outputs_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  # Versioning keeps an overwritten outputs.json recoverable for a day; the rules below bound what it keeps.
  versioning {
    enabled = true
  }

  # Outputs live as long as their run record (PSV_RETENTION_DAYS): then the live object becomes noncurrent...
  lifecycle_rule {
    condition {
      age = var.retention_days
    }
    action {
      type = "Delete"
    }
  }

  # ...and noncurrent versions go a day later.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.outputs_kms_key == null ? [] : [var.outputs_kms_key]
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [time_sleep.apis, google_kms_crypto_key_iam_member.outputs_storage_agent]
}

# CMEK: the Cloud Storage service agent of project_id must use the key.
data "google_storage_project_service_account" "this" {
  count = var.outputs_bucket_enabled && var.outputs_kms_key != null ? 1 : 0

  project = var.project_id
}

resource "google_kms_crypto_key_iam_member" "outputs_storage_agent" {
  count = var.outputs_bucket_enabled && var.outputs_kms_key != null ? 1 : 0

  crypto_key_id = var.outputs_kms_key
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = data.google_storage_project_service_account.this[0].member
}

# Writers: Storage Object User on this bucket only. Cloud Storage FUSE looks a path up (objects.get, objects.list)
# before it writes, and a rewritten file replaces the object (objects.delete), so Object Creator alone is not enough.
resource "google_storage_bucket_iam_member" "outputs_writer" {
  for_each = local.outputs_writers

  bucket = google_storage_bucket.outputs[0].name
  role   = "roles/storage.objectUser"
  member = each.value
}

resource "google_storage_bucket_iam_member" "outputs_reader" {
  for_each = local.outputs_readers

  bucket = google_storage_bucket.outputs[0].name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function[each.key].member
}
