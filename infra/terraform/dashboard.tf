# One Cloud Monitoring dashboard for the pipeline: per lane the backlog and the age of the oldest unacknowledged
# message (Pub/Sub's subscription metrics), the dead letters, render time p50/p95, photos settled and failures by
# error code (the log-based metrics in monitoring.tf), and the lanes' instances and memory (Cloud Run's metrics).
# `gallery status` reads the same queue figures from the command line.

locals {
  pubsub_metric    = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription"
  cloud_run_metric = "resource.type = \"cloud_run_revision\" AND metric.type = \"run.googleapis.com/container"
  user_metric      = "metric.type = \"logging.googleapis.com/user"

  # Per lane: one line per lane (named after it) of one metric of the lane's subscription or service.
  lane_charts = [
    {
      title  = "Backlog: undelivered messages per lane", unit = "messages", suffix = ""
      names  = local.lane_subscription_names, label = "subscription_id", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX"
      metric = "${local.pubsub_metric}/num_undelivered_messages"
    },
    {
      title  = "Oldest unacknowledged message per lane", unit = "seconds", suffix = ""
      names  = local.lane_subscription_names, label = "subscription_id", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX"
      metric = "${local.pubsub_metric}/oldest_unacked_message_age"
    },
    {
      title  = "Instances per lane", unit = "instances", suffix = ""
      names  = local.lane_service_names, label = "service_name", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM"
      metric = "${local.cloud_run_metric}/instance_count"
    },
    {
      title  = "Memory utilization per lane (p99 of instances)", unit = "fraction of the limit", suffix = " p99"
      names  = local.lane_service_names, label = "service_name", aligner = "ALIGN_PERCENTILE_99", reducer = "REDUCE_MAX"
      metric = "${local.cloud_run_metric}/memory/utilizations"
    },
  ]

  # The rest: each chart is a list of lines; a line is one time-series query: its filter, how each series'
  # points are aligned over `period`, and how the series are combined (`reducer`, keeping `group_by` apart).
  pipeline_charts = [
    {
      title = "Dead letters waiting"
      unit  = "messages"
      plot  = "LINE"
      lines = [{
        legend = "dead letters", period = "60s", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group_by = []
        filter = "${local.pubsub_metric}/num_undelivered_messages\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\""
      }]
    },
    {
      title = "Render time p50 / p95"
      unit  = "ms"
      plot  = "LINE"
      lines = [for p in [50, 95] : {
        legend = "p${p}", period = "300s", aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_${p}", group_by = []
        filter = "${local.user_metric}/${local.render_latency_metric_name}\""
      }]
    },
    {
      title = "Photos settled per minute, by outcome"
      unit  = "photos"
      plot  = "STACKED_BAR"
      lines = [{
        legend = "$${metric.labels.outcome}", period = "60s", aligner = "ALIGN_DELTA", reducer = "REDUCE_SUM"
        filter = "${local.user_metric}/${local.photo_outcomes_metric_name}\"", group_by = ["metric.label.\"outcome\""]
      }]
    },
    {
      title = "Failed photos by error code"
      unit  = "photos"
      plot  = "STACKED_BAR"
      lines = [{
        legend   = "$${metric.labels.error_code}", period = "300s", aligner = "ALIGN_DELTA", reducer = "REDUCE_SUM"
        filter   = "${local.user_metric}/${local.photo_outcomes_metric_name}\" AND metric.labels.outcome = \"failed\""
        group_by = ["metric.label.\"error_code\""]
      }]
    },
  ]

  dashboard_charts = concat(
    [for chart in local.lane_charts : {
      title = chart.title
      unit  = chart.unit
      plot  = "LINE"
      lines = [for lane, name in chart.names : {
        legend = "${lane}${chart.suffix}", period = "60s", aligner = chart.aligner, reducer = chart.reducer, group_by = []
        filter = "${chart.metric}\" AND resource.labels.${chart.label} = \"${name}\""
      }]
    }],
    local.pipeline_charts,
  )
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
            yAxis = { label = chart.unit, scale = "LINEAR" }
            dataSets = [for line in chart.lines : {
              plotType       = chart.plot
              legendTemplate = line.legend
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = line.filter
                  aggregation = {
                    alignmentPeriod    = line.period
                    perSeriesAligner   = line.aligner
                    crossSeriesReducer = line.reducer
                    groupByFields      = line.group_by
                  }
                }
              }
            }]
          }
        }
      }]
    }
  })

  depends_on = [google_logging_metric.render_latency, google_logging_metric.photo_outcomes]
}
