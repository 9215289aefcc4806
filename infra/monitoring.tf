# Monitoring as code: log-based metrics from the connector's structured logs, alert policies for each way it can be
# unhealthy, and one dashboard. docs/monitoring.md says what each alert means and what to do.
#
# Where the signals come from (functions/polysync_vertex/log.py writes one JSON object per line; Cloud Run puts it in
# jsonPayload, severity in the entry's severity):
#   - poll and poll_shard write one line per tick: "message": "poll tick" with changes, eventsPublished, seconds and
#     vertexCalls (a map: Vertex AI RPC name -> calls in that tick);
#   - hint writes one line per delivered batch of hints: "message": "hint batch" with entries, malformed, overBudget,
#     changes, eventsPublished and vertexCalls (numbers), at WARNING when hints were dropped over the GET budget;
#   - errors are logged with severity ERROR;
#   - Vertex AI quota refusals (HTTP 429) are logged at WARNING with "code": "RESOURCE_EXHAUSTED";
#   - HTTP status codes come from Cloud Run's own request metrics (run.googleapis.com/request_count).

locals {
  poll_services = [google_cloudfunctions2_function.event["poll"].name, google_cloudfunctions2_function.event["poll_shard"].name]
  http_services = [for k in keys(local.http_functions) : google_cloudfunctions2_function.http[k].name]
  all_services  = concat(local.http_services, [for k in keys(local.event_functions_deployed) : google_cloudfunctions2_function.event[k].name])

  # Logging filter fragments.
  poll_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${join(" OR ", [for s in local.poll_services : "\"${s}\""])})"
  all_logs  = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${join(" OR ", [for s in local.all_services : "\"${s}\""])})"

  # The connector's own structured lines only (functions/polysync_vertex/log.py prints one JSON object per line on
  # stdout; Cloud Run keeps its `message` in jsonPayload). Cloud Run's request log (run.googleapis.com%2Frequests:
  # 5xx, requests aborted at max instances) and platform lines never match (issue 27, point 9).
  own_lines = "logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Fstdout\" AND jsonPayload.message:*"

  # The hint function's own "hint batch" lines (issue 24); empty while hints are off (no hint function, no metrics).
  hint_services   = [for k, f in google_cloudfunctions2_function.event : f.name if k == "hint"]
  hint_batch_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${join(" OR ", [for s in local.hint_services : "\"${s}\""])}) AND ${local.own_lines} AND jsonPayload.message=\"hint batch\""

  # Monitoring filter fragment (a different syntax from Logging's).
  http_services_filter = "resource.label.service_name = one_of(${join(", ", [for s in local.http_services : "\"${s}\""])})"

  # The Vertex AI RPCs a poll tick makes (the keys of its vertexCalls map, as the Vertex AI adapter counts them):
  # one log-based metric each, since a log-based metric extracts one value per entry.
  poll_vertex_methods = toset([
    "ListCustomJobs", "GetCustomJob", "CancelCustomJob",
    "ListPipelineJobs", "GetPipelineJob", "CancelPipelineJob",
    "ListBatchPredictionJobs", "GetBatchPredictionJob", "CancelBatchPredictionJob",
  ])

  metric_prefix = "logging.googleapis.com/user"

  dead_letter_subscriptions = {
    status  = google_pubsub_subscription.dead_letter.name
    trigger = google_pubsub_subscription.trigger_dead_letter.name
  }

  alert_docs = "Runbook: docs/monitoring.md in the polysync-vertex repository. Deployment: ${var.name_prefix} in ${var.project_id}."
}

# --- Log-based metrics ---------------------------------------------------------

resource "google_logging_metric" "poll_ticks" {
  project     = var.project_id
  name        = "${var.name_prefix}/poll_ticks"
  description = "Poll ticks completed (one \"poll tick\" log line each), by function."
  filter      = "${local.poll_logs} AND jsonPayload.message=\"poll tick\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "polysync-vertex poll ticks"
    labels {
      key         = "service"
      value_type  = "STRING"
      description = "Cloud Run service (function) that wrote the line."
    }
  }

  label_extractors = {
    service = "EXTRACT(resource.labels.service_name)"
  }

  depends_on = [time_sleep.apis]
}

# Distributions of the per-tick numbers: their sum over a window is the total, their count the number of ticks.
resource "google_logging_metric" "poll_values" {
  for_each = {
    changes = { field = "changes", unit = "1", what = "Run state changes recorded per tick." }
    events  = { field = "eventsPublished", unit = "1", what = "Status events published per tick." }
    seconds = { field = "seconds", unit = "s", what = "Duration of one tick." }
  }

  project     = var.project_id
  name        = "${var.name_prefix}/poll_${each.key}"
  description = each.value.what
  filter      = "${local.poll_logs} AND jsonPayload.message=\"poll tick\""

  value_extractor = "EXTRACT(jsonPayload.${each.value.field})"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = each.value.unit
    display_name = "polysync-vertex poll ${each.key}"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 32
      growth_factor      = 2
      scale              = each.key == "seconds" ? 0.01 : 1
    }
  }

  depends_on = [time_sleep.apis]
}

resource "google_logging_metric" "poll_vertex_calls" {
  for_each = local.poll_vertex_methods

  project     = var.project_id
  name        = "${var.name_prefix}/poll_vertex_calls_${each.value}"
  description = "Vertex AI ${each.value} calls per poll tick (vertexCalls.${each.value})."
  filter      = "${local.poll_logs} AND jsonPayload.message=\"poll tick\" AND jsonPayload.vertexCalls.${each.value}:*"

  value_extractor = "EXTRACT(jsonPayload.vertexCalls.${each.value})"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "polysync-vertex poll ${each.value} calls"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [time_sleep.apis]
}

resource "google_logging_metric" "poll_errors" {
  project     = var.project_id
  name        = "${var.name_prefix}/poll_errors"
  description = "ERROR (and worse) structured log lines the poll and poll_shard code wrote (not Cloud Run's request log)."
  filter      = "${local.poll_logs} AND ${local.own_lines} AND severity>=ERROR"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "polysync-vertex poll errors"
  }

  depends_on = [time_sleep.apis]
}

resource "google_logging_metric" "vertex_rate_limited" {
  project     = var.project_id
  name        = "${var.name_prefix}/vertex_rate_limited"
  description = "Vertex AI answers RESOURCE_EXHAUSTED (429: quota), logged at WARNING by any function, by function."
  filter      = "${local.all_logs} AND ${local.own_lines} AND severity=WARNING AND jsonPayload.code=\"RESOURCE_EXHAUSTED\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "polysync-vertex Vertex AI 429s"
    labels {
      key         = "service"
      value_type  = "STRING"
      description = "Cloud Run service (function) that wrote the line."
    }
  }

  label_extractors = {
    service = "EXTRACT(resource.labels.service_name)"
  }

  depends_on = [time_sleep.apis]
}

# Hints (issue 24), only while the hint function is deployed: the hint rate (one line per delivered batch, each
# Pub/Sub message of the sink one batch), the batches that dropped hints over PSV_HINT_GETS_PER_MINUTE (logged at
# WARNING), and per batch the entries, the changes recorded, the hints dropped over budget, the malformed entries and
# the Vertex AI GETs spent (budget use).
resource "google_logging_metric" "hint_batches" {
  for_each = local.hints_on ? { batches = "", dropped = " AND severity=WARNING" } : {}

  project     = var.project_id
  name        = each.key == "batches" ? "${var.name_prefix}/hint_batches" : "${var.name_prefix}/hint_batches_over_budget"
  description = each.key == "batches" ? "Hint batches the hint function handled (\"hint batch\" lines): the hint rate." : "Hint batches that dropped hints over the GET budget (\"hint batch\" lines at WARNING, overBudget > 0)."
  filter      = "${local.hint_batch_logs}${each.value}"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = each.key == "batches" ? "polysync-vertex hint batches" : "polysync-vertex hint batches over budget"
  }

  depends_on = [time_sleep.apis]
}

resource "google_logging_metric" "hint_values" {
  for_each = local.hints_on ? {
    entries     = { field = "entries", what = "Log entries (hints) per hint batch." }
    changes     = { field = "changes", what = "Run state changes recorded via hints per batch." }
    over_budget = { field = "overBudget", what = "Hints dropped per batch because the minute's GET budget (PSV_HINT_GETS_PER_MINUTE) was spent." }
    malformed   = { field = "malformed", what = "Malformed log entries per hint batch (the sink filter lets other entries through)." }
    gets        = { field = "vertexCalls", what = "Vertex AI GETs per hint batch (budget use, against PSV_HINT_GETS_PER_MINUTE)." }
  } : {}

  project     = var.project_id
  name        = "${var.name_prefix}/hint_${each.key}"
  description = each.value.what
  filter      = local.hint_batch_logs

  value_extractor = "EXTRACT(jsonPayload.${each.value.field})"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "polysync-vertex hint ${each.key}"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [time_sleep.apis]
}

# --- Alert policies --------------------------------------------------------------

# A log-based metric's descriptor becomes usable in alert filters some time after the metric is created; until then
# creating the policy fails with 404 "Cannot find metric(s) ... it could take up to 10 minutes"
# (hashicorp/terraform-provider-google#11102, open; cloud-foundation-fabric#3739 fixes the same). The alert policies
# and the dashboard that read log-based metrics wait the full 10 minutes (issue 27, point 3). The wait runs again only
# when the set of metrics changes, so later applies do not pay it.
resource "time_sleep" "log_metrics" {
  create_duration = "600s"

  triggers = {
    metrics = join(",", sort(concat(
      [google_logging_metric.poll_ticks.id, google_logging_metric.poll_errors.id, google_logging_metric.vertex_rate_limited.id],
      [for m in google_logging_metric.poll_values : m.id],
      [for m in google_logging_metric.poll_vertex_calls : m.id],
      [for m in google_logging_metric.hint_batches : m.id],
      [for m in google_logging_metric.hint_values : m.id],
    )))
  }
}

# A dead-lettered status event is one Polysync never acknowledged (its consumer leaves a gap in that run's sequence);
# a dead-lettered tick or shard message is work the poller kept refusing.
resource "google_monitoring_alert_policy" "dead_letter_not_empty" {
  for_each = local.dead_letter_subscriptions

  project               = var.project_id
  display_name          = "${var.name_prefix}: ${each.key} dead-letter subscription is not empty"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "undelivered messages in ${each.value} > 0"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.label.subscription_id = \"${each.value}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages were dead-lettered to `${each.value}`. Inspect them with `gcloud pubsub subscriptions pull ${each.value} --limit=10` (without --auto-ack), fix the cause, then replay or acknowledge. ${local.alert_docs}"
  }
}

resource "google_monitoring_alert_policy" "status_backlog" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: Polysync is not consuming status events"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "oldest unacked status event older than ${var.alert_status_oldest_unacked_seconds} s"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.label.subscription_id = \"${google_pubsub_subscription.status.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_status_oldest_unacked_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Polysync's subscription `${google_pubsub_subscription.status.name}` has events older than ${var.alert_status_oldest_unacked_seconds} s: its consumer is down, lacks roles/pubsub.subscriber, or nacks. Events are kept 7 days, then lost. ${local.alert_docs}"
  }
}

resource "google_monitoring_alert_policy" "poller" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: the poller is failing or not running"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  depends_on = [time_sleep.log_metrics]

  conditions {
    display_name = "poll / poll_shard logged errors"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.metric_prefix}/${google_logging_metric.poll_errors.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "no \"poll tick\" log line for ${var.alert_missing_tick_minutes} min"
    condition_absent {
      filter   = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.metric_prefix}/${google_logging_metric.poll_ticks.name}\""
      duration = "${var.alert_missing_tick_minutes * 60}s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Status changes are not being recorded or published. Check the scheduler job (`gcloud scheduler jobs describe ${google_cloud_scheduler_job.poll_tick.name} --location=${google_cloud_scheduler_job.poll_tick.region}`), the poll function's logs (severity>=ERROR) and the trigger dead-letter subscription. ${local.alert_docs}"
  }
}

resource "google_monitoring_alert_policy" "http_5xx" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: HTTP functions answer 5xx"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "5xx ratio above ${var.alert_http_5xx_ratio} per function"
    condition_threshold {
      filter                  = "resource.type = \"cloud_run_revision\" AND ${local.http_services_filter} AND metric.type = \"run.googleapis.com/request_count\" AND metric.label.response_code_class = \"5xx\""
      denominator_filter      = "resource.type = \"cloud_run_revision\" AND ${local.http_services_filter} AND metric.type = \"run.googleapis.com/request_count\""
      comparison              = "COMPARISON_GT"
      threshold_value         = var.alert_http_5xx_ratio
      duration                = "300s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An HTTP function answers 5xx: 503 means Vertex AI, Firestore or Pub/Sub were unavailable within the request budget (Polysync retries after Retry-After); 500 is a bug (see its ERROR logs); 504 means Cloud Run's request timeout cut a request off. Run `polysync-vertex doctor`. ${local.alert_docs}"
  }
}

resource "google_monitoring_alert_policy" "vertex_rate_limited" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: Vertex AI quota exhausted (429)"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  depends_on = [time_sleep.log_metrics]

  conditions {
    display_name = "more than ${var.alert_vertex_429_per_5min} RESOURCE_EXHAUSTED in 5 min"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.metric_prefix}/${google_logging_metric.vertex_rate_limited.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_vertex_429_per_5min
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Vertex AI refused calls for quota (per-region read or create quota). Lower poll_shard_max_instances or the poll frequency, or request more quota for the region (IAM & Admin > Quotas, service aiplatform.googleapis.com). ${local.alert_docs}"
  }
}

# Hints dropped over the GET budget for 15 minutes: Custom and Pipeline Job changes wait for the poll tick again.
resource "google_monitoring_alert_policy" "hints_over_budget" {
  for_each = { for k, m in google_logging_metric.hint_batches : k => m if k == "dropped" }

  project               = var.project_id
  display_name          = "${var.name_prefix}: hints dropped over the GET budget"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  depends_on = [time_sleep.log_metrics]

  conditions {
    display_name = "hint batches over budget in every 5 min for 15 min"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.metric_prefix}/${each.value.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "900s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The hint function ignores hints because its per-minute Vertex AI GET budget is spent (`hint batch` lines at WARNING with `overBudget` > 0): those Custom and Pipeline Job changes wait for the poll tick, so events are slower, never lost. Raise `hint_gets_per_minute` (PSV_HINT_GETS_PER_MINUTE, of the region's 600 Vertex AI reads a minute shared with the poller) or accept tick latency for the excess. ${local.alert_docs}"
  }
}

# --- Dashboard -----------------------------------------------------------------

locals {
  dashboard_charts = [
    { title = "Poll ticks / min", filter = "metric.type=\"${local.metric_prefix}/${google_logging_metric.poll_ticks.name}\" resource.type=\"cloud_run_revision\"", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM" },
    { title = "Run changes per tick (p95)", filter = "metric.type=\"${local.metric_prefix}/${google_logging_metric.poll_values["changes"].name}\" resource.type=\"cloud_run_revision\"", aligner = "ALIGN_PERCENTILE_95", reducer = "REDUCE_MAX" },
    { title = "Status events published per tick (p95)", filter = "metric.type=\"${local.metric_prefix}/${google_logging_metric.poll_values["events"].name}\" resource.type=\"cloud_run_revision\"", aligner = "ALIGN_PERCENTILE_95", reducer = "REDUCE_MAX" },
    { title = "Tick duration p95 (s)", filter = "metric.type=\"${local.metric_prefix}/${google_logging_metric.poll_values["seconds"].name}\" resource.type=\"cloud_run_revision\"", aligner = "ALIGN_PERCENTILE_95", reducer = "REDUCE_MAX" },
    { title = "Poll errors", filter = "metric.type=\"${local.metric_prefix}/${google_logging_metric.poll_errors.name}\" resource.type=\"cloud_run_revision\"", aligner = "ALIGN_DELTA", reducer = "REDUCE_SUM" },
    { title = "Vertex AI 429s", filter = "metric.type=\"${local.metric_prefix}/${google_logging_metric.vertex_rate_limited.name}\" resource.type=\"cloud_run_revision\"", aligner = "ALIGN_DELTA", reducer = "REDUCE_SUM" },
    { title = "HTTP requests by response class", filter = "metric.type=\"run.googleapis.com/request_count\" resource.type=\"cloud_run_revision\" ${local.http_services_filter}", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["metric.label.response_code_class"] },
    { title = "HTTP latency p95 by function", filter = "metric.type=\"run.googleapis.com/request_latencies\" resource.type=\"cloud_run_revision\" ${local.http_services_filter}", aligner = "ALIGN_PERCENTILE_95", reducer = "REDUCE_MAX", group_by = ["resource.label.service_name"] },
    { title = "Status subscription: oldest unacked (s)", filter = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" resource.type=\"pubsub_subscription\" resource.label.subscription_id=\"${google_pubsub_subscription.status.name}\"", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX" },
    { title = "Dead-letter subscriptions: undelivered", filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" resource.type=\"pubsub_subscription\" resource.label.subscription_id=one_of(\"${google_pubsub_subscription.dead_letter.name}\", \"${google_pubsub_subscription.trigger_dead_letter.name}\")", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group_by = ["resource.label.subscription_id"] },
  ]

  # Hints (issue 24), while the hint function is deployed.
  hint_charts = concat(
    [for k, m in google_logging_metric.hint_batches : {
      title   = k == "batches" ? "Hint batches / min (hint rate)" : "Hint batches that dropped hints over budget"
      filter  = "metric.type=\"${local.metric_prefix}/${m.name}\" resource.type=\"cloud_run_revision\""
      aligner = k == "batches" ? "ALIGN_RATE" : "ALIGN_DELTA"
      reducer = "REDUCE_SUM"
    }],
    [for k, m in google_logging_metric.hint_values : {
      title   = "Hint ${k} per batch (p95)"
      filter  = "metric.type=\"${local.metric_prefix}/${m.name}\" resource.type=\"cloud_run_revision\""
      aligner = "ALIGN_PERCENTILE_95"
      reducer = "REDUCE_MAX"
    } if contains(["changes", "gets"], k)],
  )
  all_charts = concat(local.dashboard_charts, local.hint_charts)

  vertex_calls_chart = {
    title = "Vertex AI calls per tick, by RPC (p95)"
    sets = [for m in sort(tolist(local.poll_vertex_methods)) : {
      label  = m
      filter = "metric.type=\"${local.metric_prefix}/${google_logging_metric.poll_vertex_calls[m].name}\" resource.type=\"cloud_run_revision\""
    }]
  }

  dashboard_tiles = concat(
    [for i, c in local.all_charts : {
      xPos   = (i % 2) * 6
      yPos   = floor(i / 2) * 4
      width  = 6
      height = 4
      widget = {
        title = c.title
        xyChart = {
          dataSets = [{
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = c.filter
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = c.aligner
                  crossSeriesReducer = c.reducer
                  groupByFields      = lookup(c, "group_by", [])
                }
              }
            }
          }]
        }
      }
    }],
    [{
      xPos   = 0
      yPos   = ceil(length(local.all_charts) / 2) * 4
      width  = 12
      height = 4
      widget = {
        title = local.vertex_calls_chart.title
        xyChart = {
          dataSets = [for s in local.vertex_calls_chart.sets : {
            plotType       = "LINE"
            legendTemplate = s.label
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = s.filter
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_PERCENTILE_95"
                  crossSeriesReducer = "REDUCE_MAX"
                }
              }
            }
          }]
        }
      }
    }],
  )
}

resource "google_monitoring_dashboard" "connector" {
  project = var.project_id

  dashboard_json = jsonencode({
    displayName  = "${var.name_prefix} (polysync-vertex)"
    mosaicLayout = { columns = 12, tiles = local.dashboard_tiles }
  })

  depends_on = [time_sleep.log_metrics]
}
