output "uploads_bucket" {
  description = "Bucket to drop photos into (gcloud storage cp photo.jpg gs://THIS/)."
  value       = google_storage_bucket.uploads.name
}

output "renditions_bucket" {
  description = "Bucket the renditions are written to, as PHOTO_ID/GENERATION/WIDTH.EXT."
  value       = google_storage_bucket.renditions.name
}

output "renditions_base_url" {
  description = "Base URL the rendition URLs in Firestore start with."
  value       = local.renditions_base_url
}

output "renditions_public" {
  description = "Whether anyone can fetch a rendition by its URL (allUsers object read; the bucket is never listable)."
  value       = var.public_renditions
}

output "function_name" {
  description = "Name of the live lane's thumbnailer function (and of the Cloud Run service behind it)."
  value       = google_cloudfunctions2_function.thumbnailer["live"].name
}

output "function_uri" {
  description = "run.app URL of the live lane's thumbnailer; only the invoker service account may call it."
  value       = google_cloudfunctions2_function.thumbnailer["live"].service_config[0].uri
}

output "bulk_function_name" {
  description = "Name of the bulk lane's thumbnailer function (and of its Cloud Run service): same source, its own instances and concurrency."
  value       = google_cloudfunctions2_function.thumbnailer["bulk"].name
}

output "bulk_function_uri" {
  description = "run.app URL of the bulk lane's thumbnailer; only the invoker service account may call it."
  value       = google_cloudfunctions2_function.thumbnailer["bulk"].service_config[0].uri
}

output "function_source_object" {
  description = "gs:// URL of the deployed source zip (its name carries the zip's sha256)."
  value       = "gs://${google_storage_bucket.function_source.name}/${google_storage_bucket_object.function_source.name}"
}

output "request_concurrency" {
  description = "Per-instance request concurrency of the live lane, derived from memory, vCPU and light_render_mib; memory itself is bounded by the code's admission of renders by estimate."
  value       = local.request_concurrency
}

output "bulk_request_concurrency" {
  description = "Per-instance request concurrency of the bulk lane (bulk_request_concurrency, or derived like the live lane's)."
  value       = local.bulk_request_concurrency
}

output "ack_deadline_seconds" {
  description = "Ack deadline (= push request timeout) of the push subscription, above the function timeout."
  value       = local.ack_deadline_seconds
}

output "uploads_topic" {
  description = "Pub/Sub topic receiving the uploads bucket's notifications (the live lane; PUBSUB_TOPIC for the tools)."
  value       = google_pubsub_topic.lane["live"].id
}

output "push_subscription" {
  description = "Push subscription delivering the live lane's notifications to its function."
  value       = google_pubsub_subscription.push["live"].id
}

output "bulk_topic" {
  description = "Pub/Sub topic of the bulk lane (PUBSUB_BULK_TOPIC for the tools): `gallery backfill`, `gallery retry --all` and `gallery import` publish here."
  value       = google_pubsub_topic.lane["bulk"].id
}

output "bulk_topic_name" {
  description = "Short name of the bulk lane's topic."
  value       = google_pubsub_topic.lane["bulk"].name
}

output "bulk_push_subscription" {
  description = "Push subscription delivering the bulk lane's notifications to its function."
  value       = google_pubsub_subscription.push["bulk"].id
}

output "lanes" {
  description = "Per lane (live, bulk): topic, push subscription and Cloud Run service names."
  value       = { for lane in keys(local.lanes) : lane => { topic = local.lane_topic_names[lane], subscription = local.lane_subscription_names[lane], service = local.lane_service_names[lane] } }
}

output "dead_letter_topic" {
  description = "Topic that receives notifications after max_delivery_attempts failed deliveries."
  value       = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription" {
  description = "Pull subscription holding the dead letters for inspection (gcloud pubsub subscriptions pull ...)."
  value       = google_pubsub_subscription.dead_letter.name
}

output "firestore_database" {
  description = "Firestore database holding the photo documents."
  value       = local.firestore_database_name
}

output "photos_collection" {
  description = "Firestore collection of the photo documents."
  value       = var.photos_collection
}

output "function_service_account" {
  description = "Email of the function's runtime service account."
  value       = google_service_account.function.email
}

output "invoker_service_account" {
  description = "Email of the service account the push subscription authenticates as."
  value       = google_service_account.invoker.email
}

output "dead_letter_alert_policy" {
  description = "Name of the dead-letter alert policy, or null when enable_dead_letter_alert is false."
  value       = one(google_monitoring_alert_policy.dead_letters[*].name)
}

output "cli_env" {
  description = "The function's settings, both lanes' topics and the subscriptions `gallery status` reports, as KEY=VALUE lines, for `gallery ls --env-file FILE` (and backfill, retry, status) against the deployed stack."
  value       = join("\n", [for k in sort(keys(local.cli_env)) : "${k}=${local.cli_env[k]}"])
}

output "photo_events_topic" {
  description = "Topic receiving photo.registered / photo.deregistered events, or null when publish_photo_events is false."
  value       = one(google_pubsub_topic.photo_events[*].id)
}
