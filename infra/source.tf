data "archive_file" "functions" {
  type        = "zip"
  source_dir  = "${path.module}/../functions"
  output_path = "${path.module}/.build/functions.zip"
  # Fixed file mode: the same tree zips to the same MD5 on every machine, so CI and laptops agree on "no change".
  output_file_mode = "0644"
  excludes = [
    "**/__pycache__",
    "**/__pycache__/**",
    "**/*.pyc",
    "**/.pytest_cache/**",
    "**/*.egg-info/**",
  ]
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only the zipped function source that Terraform writes; changes show in Admin Activity audit logs and a usage-log bucket would record nothing of value.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-src"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }

  # A deploy replaces the object (new name), which leaves the old one noncurrent: kept 30 days for a rollback.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis]
}

# Named by the zip's MD5: any change to functions/ gives a new object name, which changes build_config and redeploys
# every function; an unchanged tree plans no change.
resource "google_storage_bucket_object" "functions" {
  bucket       = google_storage_bucket.source.name
  name         = "functions/${data.archive_file.functions.output_md5}.zip"
  source       = data.archive_file.functions.output_path
  content_type = "application/zip"

  # A new object name replaces this resource: upload the new zip before the old one goes, so the functions' builds
  # never point at a deleted object mid-apply.
  lifecycle {
    create_before_destroy = true
  }
}

# The images Cloud Build makes of the functions. Managed here (instead of the gcf-artifacts repository Cloud Functions
# creates on first deploy) so that old images are cleaned up: every deploy pushes one image per function.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption; the images hold the connector's public source code and dependencies, no data, and a customer-managed key is an organisation policy this module does not impose.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-functions"
  description   = "Images of the polysync-vertex functions (built by Cloud Build on deploy)."
  format        = "DOCKER"
  labels        = local.labels

  cleanup_policy_dry_run = false

  # Keep policies win over delete policies: the newest images of every function stay, older ones go after a while.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_keep_count
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "${var.image_retention_days * 86400}s"
    }
  }

  depends_on = [time_sleep.apis]
}
