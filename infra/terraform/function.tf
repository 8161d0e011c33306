# Arrow 3: the thumbnailer (a Cloud Run function, gen 2). Plain HTTP function `handle` from main.py: the push
# subscription in pubsub.tf is its only trigger (no event_trigger, so no Eventarc trigger without a dead-letter
# policy). It reads the uploads bucket and writes the renditions bucket and Firestore (iam.tf).

resource "google_cloudfunctions2_function" "thumbnailer" {
  project     = var.project_id
  name        = local.function_name
  location    = var.region
  description = "Renders thumbnails of uploaded photos and registers them in Firestore."
  labels      = local.labels

  build_config {
    runtime         = var.function_runtime
    entry_point     = "handle"
    service_account = local.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        # Named by the zip's sha256: a new bundle is a new object, which redeploys the function.
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    available_memory                 = "${var.function_memory_mib}Mi"
    available_cpu                    = tostring(var.function_cpu)
    timeout_seconds                  = var.function_timeout_seconds
    min_instance_count               = var.min_instance_count
    max_instance_count               = var.max_instance_count
    max_instance_request_concurrency = local.request_concurrency
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function.email
    environment_variables            = local.function_env
  }

  lifecycle {
    precondition {
      condition     = var.function_memory_mib <= local.max_memory_mib_for_cpu[tostring(var.function_cpu)] && var.function_memory_mib >= local.min_memory_mib_for_cpu[tostring(var.function_cpu)]
      error_message = "function_memory_mib does not fit function_cpu: Cloud Run allows at most 4 GiB with 1 vCPU, 8 GiB with 2, 16 GiB with 4, 24 GiB with 6, 32 GiB with 8, and needs at least 2 GiB with 4 vCPUs and 4 GiB with 6 or 8."
    }
    precondition {
      condition     = var.max_attempts < var.max_delivery_attempts
      error_message = "max_attempts must be below max_delivery_attempts: the function records a photo that keeps failing before Pub/Sub dead-letters its notification."
    }
    precondition {
      condition     = var.retry_maximum_backoff_seconds >= var.retry_minimum_backoff_seconds
      error_message = "retry_maximum_backoff_seconds must not be below retry_minimum_backoff_seconds."
    }
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build,
    google_project_iam_member.build_reads_staged_source,
    google_storage_bucket_iam_member.build_reads_source,
    google_storage_bucket_iam_member.function_reads_uploads,
    google_storage_bucket_iam_member.function_writes_renditions,
    google_project_iam_member.function_firestore,
  ]
}

# Only the invoker service account (the push subscription's OIDC identity) may call the function.
# A gen-2 function is served by a Cloud Run service of the same name; run.invoker is checked there.
resource "google_cloud_run_service_iam_member" "invoker_runs_function" {
  project  = var.project_id
  location = google_cloudfunctions2_function.thumbnailer.location
  service  = google_cloudfunctions2_function.thumbnailer.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}
