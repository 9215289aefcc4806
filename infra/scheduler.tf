# Publishes the poll tick. Cloud Scheduler publishes as its own service agent, which holds Pub/Sub publish rights
# through its service agent role, so no grant is needed here.
resource "google_cloud_scheduler_job" "poll_tick" {
  project     = var.project_id
  region      = coalesce(var.scheduler_region, var.region)
  name        = "${var.name_prefix}-poll-tick"
  description = "Tick that makes the poll function read the state of active Vertex AI runs."
  schedule    = var.poll_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.tick.id
    data       = base64encode("{}")
  }

  depends_on = [time_sleep.apis]
}
