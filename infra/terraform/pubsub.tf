# Arrow 2: topic ──push (OIDC as the invoker service account)──▶ function URL, with retries and a dead-letter topic,
# once per lane (local.lanes): the uploads topic (live: the bucket's notifications) and the bulk topic (what
# `gallery backfill`, `gallery retry --all` and `gallery import` publish), each pushed to its own service.
#
# A 2xx answer acknowledges a notification. Anything else (the function answers 503 on a transient failure,
# 400 on something that is not a notification) makes Pub/Sub redeliver with exponential backoff; after
# max_delivery_attempts the message moves to the dead-letter topic, where the pull subscription keeps it for
# inspection and the alert (monitoring.tf) fires, and a second, push subscription hands it back to the function
# at /dead-letters, which records it on the photo's document (failed, dead_lettered) without rendering anything.

resource "google_pubsub_topic" "lane" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption; the messages are object metadata, not photo bytes. Add kms_key_name here if your policy requires CMEK.
  for_each = local.lanes

  project = var.project_id
  name    = each.value.topic_name
  labels  = merge(local.labels, { lane = each.key })

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption; the messages are object metadata, not photo bytes. Add kms_key_name here if your policy requires CMEK.
  project = var.project_id
  name    = "${var.name_prefix}-uploads-dead-letter"
  labels  = local.labels

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "push" {
  for_each = local.lanes

  project = var.project_id
  name    = each.value.subscription_name
  topic   = google_pubsub_topic.lane[each.key].id
  labels  = merge(local.labels, { lane = each.key })

  # For push delivery this is also the HTTP timeout of each request, so it outlasts the function's timeout.
  ack_deadline_seconds       = local.ack_deadline_seconds
  message_retention_duration = "${var.message_retention_days * 86400}s"

  push_config {
    # The run.app URL: with ingress ALLOW_INTERNAL_ONLY, Pub/Sub in the same project is internal traffic.
    push_endpoint = google_cloudfunctions2_function.thumbnailer[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = google_cloudfunctions2_function.thumbnailer[each.key].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${each.value.minimum_backoff}s"
    maximum_backoff = "${each.value.maximum_backoff}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # Never expire for inactivity (a quiet gallery would otherwise lose its subscription after 31 days).
  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_service_iam_member.invoker_runs_function,
    google_service_account_iam_member.pubsub_mints_invoker_tokens,
    google_pubsub_topic_iam_member.pubsub_publishes_dead_letters,
  ]
}

resource "google_pubsub_subscription" "dead_letter" {
  project = var.project_id
  name    = "${var.name_prefix}-uploads-dead-letter"
  topic   = google_pubsub_topic.dead_letter.id
  labels  = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "${var.message_retention_days * 86400}s"

  expiration_policy {
    ttl = ""
  }
}

# Dead letters back to the function (the live lane's service: there are few, and each is one Firestore write), at
# its own path: the same code, identity and settings record them on the
# photo's document (status failed, error.code dead_lettered), so `gallery failures` shows them. Only messages
# Pub/Sub itself dead-lettered arrive here (only its service agent may publish to the dead-letter topic), and the
# function checks each against the bucket like any notification. No dead-letter policy: retried with backoff
# until message_retention_days, while the pull subscription above keeps its own copy for inspection.
resource "google_pubsub_subscription" "dead_letter_recorder" {
  project = var.project_id
  name    = "${var.name_prefix}-dead-letter-recorder"
  topic   = google_pubsub_topic.dead_letter.id
  labels  = local.labels

  ack_deadline_seconds       = local.ack_deadline_seconds
  message_retention_duration = "${var.message_retention_days * 86400}s"

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.thumbnailer["live"].service_config[0].uri}/dead-letters"

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = google_cloudfunctions2_function.thumbnailer["live"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_seconds}s"
    maximum_backoff = "${max(var.retry_minimum_backoff_seconds, var.retry_maximum_backoff_seconds)}s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_service_iam_member.invoker_runs_function,
    google_service_account_iam_member.pubsub_mints_invoker_tokens,
  ]
}

# The Pub/Sub service agent moves undeliverable messages: it publishes to the dead-letter topic and
# acknowledges (subscriber) on each lane's push subscription. Every grant is on the single resource only.
resource "google_pubsub_topic_iam_member" "pubsub_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_forwards_dead_letters" {
  for_each = local.lanes

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The live lane's resources were single before the lanes existed: keep their state (no replacement on apply).
moved {
  from = google_pubsub_topic.uploads
  to   = google_pubsub_topic.lane["live"]
}

moved {
  from = google_pubsub_subscription.push
  to   = google_pubsub_subscription.push["live"]
}

moved {
  from = google_pubsub_subscription_iam_member.pubsub_forwards_dead_letters
  to   = google_pubsub_subscription_iam_member.pubsub_forwards_dead_letters["live"]
}
