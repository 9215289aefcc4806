# Copy to <env>.tfvars, fill in, then: terraform apply -var-file=<env>.tfvars (docs/deploy.md).

project_id  = "my-project"
region      = "us-central1"
name_prefix = "polysync-vertex"

# Vertex AI projects and locations the connector may use; the first location is the default for runs without a
# template.
vertex_projects  = ["my-project"]
vertex_locations = ["us-central1", "europe-west4"]

# Service accounts the jobs run as (Custom Job worker pools, Pipeline Jobs, Batch Prediction Jobs: the templates'
# serviceAccount); submit may act as each of them. Omit for jobs that run as the Vertex AI service agent.
job_service_accounts = [
  "vertex-jobs@my-project.iam.gserviceaccount.com",
  "vertex-pipelines@my-project.iam.gserviceaccount.com",
]

# Existing Secret Manager secret with the webhook secret and an enabled version (docs/deploy.md, step 3). Required.
webhook_secret_id = "polysync-webhook"

poll_schedule            = "* * * * *"
queued_threshold_seconds = 1800

# Polysync's consumer identity, allowed to pull the status subscription.
status_subscriber_members = ["serviceAccount:polysync-consumer@my-project.iam.gserviceaccount.com"]

# Ended runs and their request records are deleted by Firestore TTL this many days after they end.
retention_days = 90

# Alert policies notify these channels (docs/deploy.md, step 2). Required unless allow_silent_alerts = true: left
# empty, the plan stops with "Alerts would page no one" until you put the channel of step 2 here, e.g.
# ["projects/my-project/notificationChannels/1234567890"] (a made-up id would pass the plan and fail the apply).
notification_channels = []

# Slow clients: Cloud Run's request timeout and concurrency per HTTP function instance.
http_timeout_seconds = 60
http_concurrency     = 4

# Data residency (uncomment when an org policy restricts resource locations).
# message_storage_regions = ["us-central1"]

# Organisations that enforce domain-restricted sharing (iam.allowedPolicyMemberDomains) refuse allUsers: switch Cloud
# Run's invoker IAM check off instead (docs/deploy.md, step 6). The HMAC signature is the gate either way.
# http_access = "invoker_iam_disabled"

labels = {
  env = "prod"
}
