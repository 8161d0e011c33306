# Alerts and the log-based metrics behind them and behind the dashboard (dashboard.tf).
#
# Dead letters: a notification that failed max_delivery_attempts times sits in the dead-letter subscription.
# Optional (var.enable_dead_letter_alert). Two signals, one policy:
#   - the dead-letter subscription's backlog (built-in metric): something was dead-lettered and is waiting;
#   - a log-based metric counting the function's ERROR lines by error_code (transient failures and rejected
#     deliveries, each of which is one failed delivery on its way to the dead-letter topic if it persists).

resource "google_logging_metric" "function_errors" {
  count = var.enable_dead_letter_alert ? 1 : 0

  project     = var.project_id
  name        = "${var.name_prefix}-thumbnailer-errors"
  description = "ERROR (and worse) log lines of the thumbnailer (both lanes' services), by error_code: failed deliveries Pub/Sub will retry and, after max_delivery_attempts, dead-letter."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    resource.labels.service_name=(${join(" OR ", [for lane, f in google_cloudfunctions2_function.thumbnailer : "\"${f.name}\""])})
    severity>=ERROR
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Thumbnailer errors"

    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "The error code the function logged (jsonPayload.error_code), e.g. transient, bad_event."
    }
  }

  label_extractors = {
    error_code = "EXTRACT(jsonPayload.error_code)"
  }
}

resource "google_monitoring_notification_channel" "email" {
  for_each = var.enable_dead_letter_alert || var.enable_backlog_age_alerts ? toset(var.alert_notification_emails) : toset([])

  project      = var.project_id
  display_name = "Gallery alerts: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  count = var.enable_dead_letter_alert ? 1 : 0

  project               = var.project_id
  display_name          = "Gallery: notifications dead-lettered or failing (${var.name_prefix})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = [for c in google_monitoring_notification_channel.email : c.id]
  user_labels           = local.labels

  conditions {
    display_name = "Dead-letter subscription has messages"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "60s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "Thumbnailer error lines above threshold"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.function_errors[0].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.error_alert_threshold
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

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Notifications for the uploads bucket failed ${var.max_delivery_attempts} deliveries and were moved to the
      dead-letter subscription `${google_pubsub_subscription.dead_letter.name}`, or the thumbnailer is logging errors.

      Inspect: `gcloud pubsub subscriptions pull ${google_pubsub_subscription.dead_letter.name} --project ${var.project_id} --limit 10`
      and the function's logs (`severity>=ERROR`, label `error_code`). After fixing the cause, re-drive by
      re-uploading the photos or re-publishing the pulled messages to `${google_pubsub_topic.lane["bulk"].name}` (the bulk lane).
    EOT
  }
}

# Per-photo figures for the dashboard (dashboard.tf), from the function's JSON log lines: every settled photo
# logs one line with jsonPayload.outcome ("ready" with render_ms, or "failed" with error_code). Log-based
# metrics turn them into time series; nothing runs to produce them.

locals {
  render_latency_metric_name = "${var.name_prefix}-render-latency"
  photo_outcomes_metric_name = "${var.name_prefix}-photo-outcomes"
  lane_services_filter       = join(" OR ", [for name in values(local.lane_service_names) : "\"${name}\""])
}

resource "google_logging_metric" "render_latency" {
  count = var.enable_monitoring_dashboard ? 1 : 0

  project         = var.project_id
  name            = local.render_latency_metric_name
  description     = "Render time (ms) of each photo that became ready, from the thumbnailer's outcome log lines (jsonPayload.render_ms)."
  filter          = <<-EOT
    resource.type="cloud_run_revision"
    resource.labels.service_name=(${local.lane_services_filter})
    jsonPayload.outcome="ready"
  EOT
  value_extractor = "EXTRACT(jsonPayload.render_ms)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "Photo render time"
  }

  # 10 ms to ~75 s in 25 % steps.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 40
      growth_factor      = 1.25
      scale              = 10
    }
  }
}

resource "google_logging_metric" "photo_outcomes" {
  count = var.enable_monitoring_dashboard ? 1 : 0

  project     = var.project_id
  name        = local.photo_outcomes_metric_name
  description = "Photos the thumbnailer settled, by outcome (ready, failed) and error_code (failed ones): throughput and failures by code."
  filter      = <<-EOT
    resource.type="cloud_run_revision"
    resource.labels.service_name=(${local.lane_services_filter})
    jsonPayload.outcome=("ready" OR "failed")
  EOT

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Settled photos"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "ready or failed (jsonPayload.outcome)."
    }

    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "Why a failed photo failed (jsonPayload.error_code), e.g. corrupt_image; empty for ready ones."
    }
  }

  label_extractors = {
    outcome    = "EXTRACT(jsonPayload.outcome)"
    error_code = "EXTRACT(jsonPayload.error_code)"
  }
}

# The oldest unacknowledged message of each lane: a lane whose oldest notification waits longer than its
# threshold is not keeping up (or its function is down). One policy per lane, each with its own threshold.
resource "google_monitoring_alert_policy" "oldest_message_age" {
  for_each = var.enable_backlog_age_alerts ? local.lane_subscription_names : {}

  project               = var.project_id
  display_name          = "Gallery: ${each.key} lane's oldest message older than ${var.oldest_message_age_alert_seconds[each.key]}s (${var.name_prefix})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = [for c in google_monitoring_notification_channel.email : c.id]
  user_labels           = merge(local.labels, { lane = each.key })

  conditions {
    display_name = "Oldest unacknowledged message on ${each.value}"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${each.value}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.oldest_message_age_alert_seconds[each.key]
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

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The ${each.key} lane's subscription `${each.value}` has held a message for more than
      ${var.oldest_message_age_alert_seconds[each.key]} s: its service `${local.lane_service_names[each.key]}` is not
      keeping up, is failing, or is down.

      Look: `gallery status` (backlog and oldest message per lane, failures by code), the dashboard
      "Gallery (${var.name_prefix})" (instances, memory, render times) and the service's logs (`severity>=WARNING`).
    EOT
  }
}
