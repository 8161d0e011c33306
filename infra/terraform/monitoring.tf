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
  for_each = var.enable_dead_letter_alert ? toset(var.alert_notification_emails) : toset([])

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
