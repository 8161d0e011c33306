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
  description = "Name of the thumbnailer function (and of the Cloud Run service behind it)."
  value       = google_cloudfunctions2_function.thumbnailer.name
}

output "function_uri" {
  description = "run.app URL of the thumbnailer; only the invoker service account may call it."
  value       = google_cloudfunctions2_function.thumbnailer.service_config[0].uri
}

output "function_source_object" {
  description = "gs:// URL of the deployed source zip (its name carries the zip's sha256)."
  value       = "gs://${google_storage_bucket.function_source.name}/${google_storage_bucket_object.function_source.name}"
}

output "request_concurrency" {
  description = "Per-instance request concurrency, derived from memory, vCPU and light_render_mib; memory itself is bounded by the code's admission of renders by estimate."
  value       = local.request_concurrency
}

output "ack_deadline_seconds" {
  description = "Ack deadline (= push request timeout) of the push subscription, above the function timeout."
  value       = local.ack_deadline_seconds
}

output "uploads_topic" {
  description = "Pub/Sub topic receiving the uploads bucket's notifications."
  value       = google_pubsub_topic.uploads.id
}

output "push_subscription" {
  description = "Push subscription delivering the notifications to the function."
  value       = google_pubsub_subscription.push.id
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
  description = "The function's settings as KEY=VALUE lines, for `gallery ls --env-file FILE` against the deployed stack."
  value       = join("\n", [for k in sort(keys(local.function_env)) : "${k}=${local.function_env[k]}"])
}

output "photo_events_topic" {
  description = "Topic receiving photo.registered / photo.deregistered events, or null when publish_photo_events is false."
  value       = one(google_pubsub_topic.photo_events[*].id)
}
