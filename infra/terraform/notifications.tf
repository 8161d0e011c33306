# Arrow 1: uploads bucket ──notification──▶ Pub/Sub topic (the live lane's: a live upload waits behind nothing but
# other live uploads).
#
# JSON_API_V1 payloads carry eventType, bucketId, objectId, objectGeneration and (on overwrites)
# overwroteGeneration / overwrittenByGeneration as attributes, and the object resource as data.
# Only FINALIZE (new photo or new generation) and DELETE (photo gone) matter to the pipeline.

# The Cloud Storage service agent publishes the notifications, so it needs publisher on this topic only.
resource "google_pubsub_topic_iam_member" "gcs_publishes_uploads" {
  project = var.project_id
  topic   = google_pubsub_topic.lane["live"].name
  role    = "roles/pubsub.publisher"
  member  = local.gcs_service_agent
}

resource "google_storage_notification" "uploads" {
  bucket         = google_storage_bucket.uploads.name
  payload_format = "JSON_API_V1"
  topic          = google_pubsub_topic.lane["live"].id
  event_types    = ["OBJECT_FINALIZE", "OBJECT_DELETE"]

  # Creating the notification fails unless the service agent can already publish.
  depends_on = [google_pubsub_topic_iam_member.gcs_publishes_uploads]
}
