# Optional: photo lifecycle events for downstream consumers.
#
# With publish_photo_events, the function publishes photo.registered and photo.deregistered (JSON payload,
# attributes eventType, photoId, bucket, object, generation) to this topic; its service account may publish
# to this topic only.

resource "google_pubsub_topic" "photo_events" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption; the events carry photo metadata and URLs, not photo bytes.
  count   = var.publish_photo_events ? 1 : 0
  project = var.project_id
  name    = "${var.name_prefix}-photo-events"
  labels  = local.labels

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic_iam_member" "function_publishes_photo_events" {
  count   = var.publish_photo_events ? 1 : 0
  project = var.project_id
  topic   = google_pubsub_topic.photo_events[0].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function.email}"
}
