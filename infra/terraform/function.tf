# Arrow 3: the thumbnailer (a Cloud Run function, gen 2). Plain HTTP function `handle` from main.py: the push
# subscriptions in pubsub.tf are its only triggers (no event_trigger, so no Eventarc trigger without a dead-letter
# policy). It reads the uploads bucket and writes the renditions bucket and Firestore (iam.tf).
#
# One function (and so one Cloud Run service) per lane (local.lanes): the same source object, settings, memory
# and service account, with the lane's own instance bounds and request concurrency. Separate services are what
# keep a backfill from taking the instances and request slots live uploads need.

resource "google_cloudfunctions2_function" "thumbnailer" {
  for_each = local.lanes

  project     = var.project_id
  name        = each.value.service_name
  location    = var.region
  description = each.value.description
  labels      = merge(local.labels, { lane = each.key })

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
    min_instance_count               = each.value.min_instance_count
    max_instance_count               = each.value.max_instance_count
    max_instance_request_concurrency = each.value.request_concurrency
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function.email
    # The same settings on both lanes, plus which lane this service serves (LANE).
    environment_variables = merge(local.function_env, { LANE = each.key })
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
      condition     = 1.5 * var.processing_lease_seconds < local.ack_deadline_seconds
      error_message = "1.5 x processing_lease_seconds must stay below the ack deadline (function_timeout_seconds + 60): a redelivery waits that long for a held lease before it answers."
    }
    precondition {
      condition     = var.retry_maximum_backoff_seconds >= var.retry_minimum_backoff_seconds
      error_message = "retry_maximum_backoff_seconds must not be below retry_minimum_backoff_seconds."
    }
    precondition {
      condition     = var.bulk_retry_maximum_backoff_seconds >= var.bulk_retry_minimum_backoff_seconds
      error_message = "bulk_retry_maximum_backoff_seconds must not be below bulk_retry_minimum_backoff_seconds."
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

# Only the invoker service account (the push subscriptions' OIDC identity) may call the functions, both lanes.
# A gen-2 function is served by a Cloud Run service of the same name; run.invoker is checked there.
resource "google_cloud_run_service_iam_member" "invoker_runs_function" {
  for_each = local.lanes

  project  = var.project_id
  location = google_cloudfunctions2_function.thumbnailer[each.key].location
  service  = google_cloudfunctions2_function.thumbnailer[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

# The live lane's resources were single before the lanes existed: keep their state (no replacement on apply).
moved {
  from = google_cloudfunctions2_function.thumbnailer
  to   = google_cloudfunctions2_function.thumbnailer["live"]
}

moved {
  from = google_cloud_run_service_iam_member.invoker_runs_function
  to   = google_cloud_run_service_iam_member.invoker_runs_function["live"]
}
