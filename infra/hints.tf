# Push hints (issue 24): in every Vertex AI project a log sink keeps only Vertex AI's own job-state entries and routes
# them to the hints topic, which the `hint` function's push subscription reads (functions.tf, pubsub.tf). A hint only
# makes the connector look at a job sooner; the poll tick stays the source of truth, so a lost or late hint costs
# latency, never correctness.
#
#   Pipeline Jobs: resource.type="aiplatform.googleapis.com/PipelineJob", log
#                  projects/P/logs/aiplatform.googleapis.com%2Fpipeline_job_events (jsonPayload.state, job id in
#                  resource.labels.pipeline_job_id) - documented: Vertex AI "View pipeline job logs".
#   Custom Jobs:   Vertex AI's service lines (resource.type="ml_job", resource.labels.task_name="service") that carry
#                  the label ml.googleapis.com/job_state - seen in public captures, not a documented contract: best
#                  effort.
#   Batch Prediction Jobs write no such signal; the tick covers them.
locals {
  # Only while the hint function is deployed (functions.tf, hints_on): a topic without a subscription drops messages.
  hint_sink_projects = local.hints_on ? toset(local.vertex_projects) : toset([])
  # The sink's id in every Vertex AI project (health reads it: PSV_HINT_SINK in locals.tf).
  hint_sink_name = "${var.name_prefix}-hints"

  hint_filters = {
    for p in local.vertex_projects : p => join(" OR ", [
      "(resource.type=\"aiplatform.googleapis.com/PipelineJob\" AND logName=\"projects/${p}/logs/aiplatform.googleapis.com%2Fpipeline_job_events\")",
      "(resource.type=\"ml_job\" AND resource.labels.task_name=\"service\" AND labels.\"ml.googleapis.com/job_state\":*)",
    ])
  }
}

resource "google_logging_project_sink" "hints" {
  for_each = local.hint_sink_projects

  project     = each.value
  name        = local.hint_sink_name
  description = "polysync-vertex: Vertex AI job-state log entries -> the connector's hints topic (a hint, never the source of truth)."
  destination = "pubsub.googleapis.com/${google_pubsub_topic.hints.id}"
  filter      = local.hint_filters[each.value]
  # Its own writer identity per sink, granted publish on the hints topic only (below).
  unique_writer_identity = true

  depends_on = [time_sleep.apis]
}

# Each sink's writer identity may publish to the hints topic, and nowhere else.
resource "google_pubsub_topic_iam_member" "hints_sink_writer" {
  for_each = google_logging_project_sink.hints

  project = var.project_id
  topic   = google_pubsub_topic.hints.name
  role    = "roles/pubsub.publisher"
  member  = each.value.writer_identity
}
