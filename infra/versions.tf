terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.x: build_config.service_account, secret replication.auto and firestore deletion_policy are all present.
      version = ">= 6.0.0, < 8.0.0"
    }
    archive = {
      source = "hashicorp/archive"
      # 2.4.1 added glob patterns to archive_file.excludes (used to drop __pycache__ at any depth).
      version = ">= 2.4.1, < 3.0.0"
    }
  }

  # State lives in a GCS bucket chosen at init time:
  #   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=polysync-vertex"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}
