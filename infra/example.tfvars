# Copy to <env>.tfvars, fill in, then: terraform apply -var-file=<env>.tfvars (docs/deploy.md).

project_id  = "my-project"
region      = "us-central1"
name_prefix = "polysync-vertex"

# Vertex AI projects and locations the connector may use; the first location is the default for runs without a
# template.
vertex_projects  = ["my-project"]
vertex_locations = ["us-central1", "europe-west4"]

# Service account the training jobs run as (their templates' jobSpec.serviceAccount); omit to use the Vertex AI
# service agent.
job_service_account = "vertex-jobs@my-project.iam.gserviceaccount.com"

# Existing Secret Manager secret with the webhook secret; omit to have Terraform create "<name_prefix>-webhook".
# webhook_secret_id = "polysync-webhook"

poll_schedule            = "* * * * *"
queued_threshold_seconds = 1800

# Polysync's consumer identity, allowed to pull the status subscription.
status_subscriber_members = ["serviceAccount:polysync-consumer@my-project.iam.gserviceaccount.com"]

labels = {
  env = "prod"
}
