# APIs this module enables in project_id. Two must be on before Terraform can run at all, because the provider
# calls them to enable the rest and to read the project: serviceusage.googleapis.com and
# cloudresourcemanager.googleapis.com (docs/deploy.md, step 2). They are listed here too so that they stay on.
locals {
  services = toset([
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    # health: projects.testIamPermissions on each Vertex AI project (billed to this project).
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    # Enabled explicitly (issue 27): Pub/Sub mints the push subscriptions' OIDC tokens through it.
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    # health: Policy Troubleshooter tells whether another function's identity holds a permission, without that
    # identity's credentials (https://cloud.google.com/policy-intelligence/docs/troubleshoot-access).
    "policytroubleshooter.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    # Enabled explicitly (issue 27): the source bucket and the Custom Job outputs bucket.
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "this" {
  for_each = local.services

  project = var.project_id
  service = each.value
  # Other workloads in the project may use these APIs: destroying the connector must not turn them off.
  disable_on_destroy = false
}

# An enabled API is not usable at once: the first calls after enablement (and the service agents it creates) can
# fail for a minute or so. Everything that calls one of these APIs depends on this wait, not on the enablement
# itself. The same pattern (explicit service identities, a sleep after enablement and another after the agents'
# grants) is the workaround in hashicorp/terraform-provider-google#25294 ("Functions v2 Eventarc trigger errors on
# first apply on fresh project").
resource "time_sleep" "apis" {
  create_duration = "60s"

  # A newly enabled API restarts the wait; an unchanged set does not.
  triggers = {
    services = join(",", sort([for s in google_project_service.this : s.service]))
  }
}

data "google_project" "this" {
  project_id = var.project_id
}
