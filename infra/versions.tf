terraform {
  # 1.9: input variable validations that refer to other variables (notification_channels / allow_silent_alerts,
  # webhook_secret_id); 1.7: `removed` blocks (secrets.tf); preconditions (1.2) guard the remaining cross-object rules.
  required_version = ">= 1.9.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # Pinned to the schema this module was checked against (provider 6.50.0, as shipped in the npm package
      # @cdktf/provider-google 16.12.1): "~> 6.50" accepts 6.50.x and later 6.x, never 7.x. Commit the lock file
      # (docs/deploy.md, step 1: the build fails without it).
      version = "~> 6.50"
    }
    google-beta = {
      source = "hashicorp/google-beta"
      # google_project_service_identity exists only in google-beta (iam.tf, service agents).
      version = "~> 6.50"
    }
    time = {
      source = "hashicorp/time"
      # time_sleep: waits for API enablement and IAM propagation on a fresh project (apis.tf, iam.tf).
      version = "~> 0.12"
    }
    archive = {
      source = "hashicorp/archive"
      # 2.4.1 added glob patterns to archive_file.excludes (used to drop __pycache__ at any depth).
      version = "~> 2.4, >= 2.4.1"
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

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
