# One Cloud Monitoring dashboard for the pipeline: per lane the backlog and the age of the oldest unacknowledged
# message (Pub/Sub's subscription metrics), the dead letters, render time p50/p95, photos settled and failures by
# error code (the log-based metrics in monitoring.tf), and the lanes' instances and memory (Cloud Run's metrics).
# `gallery status` reads the same queue figures from the command line.

locals {
  pubsub_metric    = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription"
  cloud_run_metric = "resource.type = \"cloud_run_revision\" AND metric.type = \"run.googleapis.com/container"
  user_metric      = "metric.type = \"logging.googleapis.com/user"

  # A line per lane (the legend says which), the same query on each lane's subscription or service.
  per_lane_subscription = {
    for metric in ["num_undelivered_messages", "oldest_unacked_message_age"] : metric => [
      for lane, subscription in local.lane_subscription_names : {
        plotType       = "LINE"
        legendTemplate = lane
        timeSeriesQuery = {
          timeSeriesFilter = {
            filter      = "${local.pubsub_metric}/${metric}\" AND resource.labels.subscription_id = \"${subscription}\""
            aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_MAX" }
          }
        }
      }
    ]
  }
  per_lane_service = {
    "instance_count" = [
      for lane, service in local.lane_service_names : {
        plotType       = "LINE"
        legendTemplate = lane
        timeSeriesQuery = {
          timeSeriesFilter = {
            filter      = "${local.cloud_run_metric}/instance_count\" AND resource.labels.service_name = \"${service}\""
            aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_SUM" }
          }
        }
      }
    ]
    "memory/utilizations" = [
      for lane, service in local.lane_service_names : {
        plotType       = "LINE"
        legendTemplate = "${lane} p99"
        timeSeriesQuery = {
          timeSeriesFilter = {
            filter      = "${local.cloud_run_metric}/memory/utilizations\" AND resource.labels.service_name = \"${service}\""
            aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_PERCENTILE_99", crossSeriesReducer = "REDUCE_MAX" }
          }
        }
      }
    ]
  }

  dashboard_charts = [
    { title = "Backlog: undelivered messages per lane", unit = "messages", dataSets = local.per_lane_subscription["num_undelivered_messages"] },
    { title = "Oldest unacknowledged message per lane", unit = "seconds", dataSets = local.per_lane_subscription["oldest_unacked_message_age"] },
    {
      title = "Dead letters waiting"
      unit  = "messages"
      dataSets = [{
        plotType       = "LINE"
        legendTemplate = "dead letters"
        timeSeriesQuery = {
          timeSeriesFilter = {
            filter      = "${local.pubsub_metric}/num_undelivered_messages\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\""
            aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_MAX" }
          }
        }
      }]
    },
    {
      title = "Render time p50 / p95"
      unit  = "ms"
      dataSets = [for p in [50, 95] : {
        plotType       = "LINE"
        legendTemplate = "p${p}"
        timeSeriesQuery = {
          timeSeriesFilter = {
            filter      = "${local.user_metric}/${local.render_latency_metric_name}\""
            aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_${p}" }
          }
        }
      }]
    },
    {
      title = "Photos settled per minute, by outcome"
      unit  = "photos"
      dataSets = [{
        plotType       = "STACKED_BAR"
        legendTemplate = "$${metric.labels.outcome}"
        timeSeriesQuery = {
          timeSeriesFilter = {
            filter      = "${local.user_metric}/${local.photo_outcomes_metric_name}\""
            aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.\"outcome\""] }
          }
        }
      }]
    },
    {
      title = "Failed photos by error code"
      unit  = "photos"
      dataSets = [{
        plotType       = "STACKED_BAR"
        legendTemplate = "$${metric.labels.error_code}"
        timeSeriesQuery = {
          timeSeriesFilter = {
            filter      = "${local.user_metric}/${local.photo_outcomes_metric_name}\" AND metric.labels.outcome = \"failed\""
            aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.\"error_code\""] }
          }
        }
      }]
    },
    { title = "Instances per lane", unit = "instances", dataSets = local.per_lane_service["instance_count"] },
    { title = "Memory utilization per lane (p99 of instances)", unit = "fraction of the limit", dataSets = local.per_lane_service["memory/utilizations"] },
  ]
}

resource "google_monitoring_dashboard" "gallery" {
  count = var.enable_monitoring_dashboard ? 1 : 0

  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "Gallery (${var.name_prefix})"
    mosaicLayout = {
      columns = 12
      tiles = [for i, chart in local.dashboard_charts : {
        xPos   = (i % 2) * 6
        yPos   = floor(i / 2) * 4
        width  = 6
        height = 4
        widget = {
          title = chart.title
          xyChart = {
            dataSets = chart.dataSets
            yAxis    = { label = chart.unit, scale = "LINEAR" }
          }
        }
      }]
    }
  })

  depends_on = [google_logging_metric.render_latency, google_logging_metric.photo_outcomes]
}
