output "function_urls" {
  description = "HTTPS URL of each HTTP function, keyed by entry point: configure these in Polysync."
  value       = { for k, f in google_cloudfunctions2_function.http : k => f.service_config[0].uri }
}

output "submit_url" {
  description = "URL Polysync POSTs run requests to."
  value       = google_cloudfunctions2_function.http["submit"].service_config[0].uri
}

output "cancel_url" {
  description = "URL Polysync POSTs cancel requests to."
  value       = google_cloudfunctions2_function.http["cancel"].service_config[0].uri
}

output "status_url" {
  description = "URL Polysync GETs a run's status from."
  value       = google_cloudfunctions2_function.http["status"].service_config[0].uri
}

output "templates_url" {
  description = "URL Polysync's import GETs templates from."
  value       = google_cloudfunctions2_function.http["templates"].service_config[0].uri
}

output "health_url" {
  description = "URL of Polysync's \"test connectivity\" (GET, signed; ?deep=true adds one list call per job type): polysync-vertex doctor --url <this>."
  value       = google_cloudfunctions2_function.http["health"].service_config[0].uri
}

output "status_topic" {
  description = "Full name of the topic status events are published to."
  value       = google_pubsub_topic.status.id
}

output "status_subscription" {
  description = "Full name of Polysync's ordered subscription to the status events."
  value       = google_pubsub_subscription.status.id
}

output "dead_letter_topic" {
  description = "Topic that receives status events Polysync failed to acknowledge status_max_delivery_attempts times."
  value       = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription" {
  description = "Subscription that keeps dead-lettered status events for inspection and replay (Polysync's consumer may pull it)."
  value       = google_pubsub_subscription.dead_letter.id
}

output "trigger_dead_letter_topic" {
  description = "Dead-letter topic of the push subscriptions of poll_shard and hint (attached by Terraform)."
  value       = google_pubsub_topic.trigger_dead_letter.id
}

output "trigger_dead_letter_subscription" {
  description = "Subscription that keeps dead-lettered shard messages and hints."
  value       = google_pubsub_subscription.trigger_dead_letter.id
}

output "project_number" {
  description = "Number of project_id (service agents' addresses contain it)."
  value       = data.google_project.this.number
}

output "vertex_custom_roles" {
  description = "Custom role of each function in each Vertex AI project (\"<function>/<project>\" -> projects/<project>/roles/<id>)."
  value       = { for k, r in google_project_iam_custom_role.vertex : k => r.id }
}

output "dashboard" {
  description = "Cloud Monitoring dashboard of the connector."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", google_monitoring_dashboard.connector.id), 3)}?project=${var.project_id}"
}

output "artifact_repository" {
  description = "Artifact Registry repository that holds the function images (with a cleanup policy)."
  value       = google_artifact_registry_repository.functions.id
}

output "tick_topic" {
  description = "Topic Cloud Scheduler publishes the poll tick to."
  value       = google_pubsub_topic.tick.id
}

output "shard_topic" {
  description = "Topic poll fans out to poll_shard through."
  value       = google_pubsub_topic.shard.id
}

output "push_subscriptions" {
  description = "Pub/Sub push subscription of each event function (poll, poll_shard, hint): OIDC, retry policy and dead-letter policy managed here."
  value       = { for k, sub in google_pubsub_subscription.push : k => sub.id }
}

output "hints_topic" {
  description = "Topic the Vertex AI log sinks route job-state entries to; the hint function reads it."
  value       = google_pubsub_topic.hints.id
}

output "hint_sinks" {
  description = "Log sink of each Vertex AI project (\"<project>\" -> sink id) and its writer identity, allowed to publish to hints_topic."
  value       = { for p, sink in google_logging_project_sink.hints : p => { sink = sink.id, writer_identity = sink.writer_identity } }
}

output "outputs_bucket" {
  description = "Bucket Custom Jobs write their Output parameters to (PSV_OUTPUTS_BUCKET); empty when outputs_bucket_enabled = false."
  value       = var.outputs_bucket_enabled ? google_storage_bucket.outputs[0].name : ""
}

output "http_invoker_iam_disabled_services" {
  description = "Cloud Run services of the HTTP functions whose invoker IAM check must be off (http_access = \"invoker_iam_disabled\"; cloudbuild.yaml step http-invoker, docs/deploy.md step 6). Empty otherwise."
  value       = var.http_access == "invoker_iam_disabled" ? [for k in sort(keys(local.http_functions)) : google_cloudfunctions2_function.http[k].service_config[0].service] : []
}

output "region" {
  description = "Region of the functions (for gcloud run services update --region)."
  value       = var.region
}

output "webhook_secret_id" {
  description = "Secret Manager secret the HTTP functions read PSV_WEBHOOK_SECRETS from; add versions with gcloud."
  value       = local.webhook_secret_id
}

output "firestore_database" {
  description = "Firestore database id that holds runs and idempotency records."
  value       = var.firestore_database
}

output "source_bucket" {
  description = "Bucket that holds the zipped function source."
  value       = google_storage_bucket.source.name
}

output "service_accounts" {
  description = "Runtime service account of each function."
  value       = { for k, sa in google_service_account.function : k => sa.email }
}

output "scheduler_job" {
  description = "Cloud Scheduler job that publishes the poll tick (gcloud scheduler jobs run <this> --location=<scheduler_region>)."
  value       = google_cloud_scheduler_job.poll_tick.name
}

output "scheduler_region" {
  description = "Region of the Cloud Scheduler job."
  value       = google_cloud_scheduler_job.poll_tick.region
}
