locals {
  required_apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ]

  labels = merge({ app = "gallery", managed-by = "terraform" }, var.labels)

  uploads_bucket_name    = var.uploads_bucket_name != "" ? var.uploads_bucket_name : "${var.project_id}-${var.name_prefix}-uploads"
  renditions_bucket_name = var.renditions_bucket_name != "" ? var.renditions_bucket_name : "${var.project_id}-${var.name_prefix}-renditions"
  source_bucket_name     = "${var.project_id}-${var.name_prefix}-fn-source"
  # Where Cloud Run functions copies the source zip before Cloud Build fetches it (created by the platform).
  staged_source_bucket_name = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
  bucket_location           = var.bucket_location != "" ? var.bucket_location : var.region

  function_name = "${var.name_prefix}-thumbnailer"

  # The zip built by `make bundle` (scripts/bundle.py). Its content hash names the uploaded object, so any
  # change to the code or its requirements uploads a new object and redeploys the function.
  function_source_zip    = var.function_source_zip != "" ? var.function_source_zip : "${path.module}/../../build/thumbnailer.zip"
  function_source_object = "thumbnailer-${filesha256(local.function_source_zip)}.zip"

  # Per-instance request concurrency:
  #
  #   request_concurrency = max(1, min(floor((memory_mib - baseline_mib) / light_render_mib), tasks_per_vcpu * vcpu))
  #
  # Memory is bounded by the code, not by this number: each render is admitted only while its estimated peak
  # (from the photo's header) fits in INSTANCE_MEMORY_MIB - INSTANCE_BASELINE_MIB, so a heavy photo waits or runs
  # alone. This only lets enough requests in for light photos to use that budget (memory bound) without more
  # renders than a small multiple of the vCPUs (CPU bound: each render is one libvips thread).
  # docs/performance.md explains the memory model.
  request_concurrency = max(1, min(floor((var.function_memory_mib - var.instance_baseline_mib) / var.light_render_mib), var.tasks_per_vcpu * var.function_cpu))

  # The bulk lane's instances are the same size and run the same memory model; 0 means "derived like the live one".
  bulk_request_concurrency = var.bulk_request_concurrency > 0 ? var.bulk_request_concurrency : local.request_concurrency

  # Priority lanes. Live uploads (the uploads bucket's notifications) and bulk work (`gallery backfill`,
  # `gallery retry --all`, `gallery import`) each get a topic, a push subscription with its own retry and
  # dead-letter policy, and a Cloud Run service of their own built from the same source bundle. Instances,
  # CPU and request slots are therefore never shared: a live upload waits behind nothing but other live
  # uploads, and the bulk lane's max instances and concurrency cap what a backfill costs. Both lanes
  # dead-letter to the one dead-letter topic (pubsub.tf). docs/operations.md describes the lanes.
  lanes = {
    live = {
      topic_name          = "${var.name_prefix}-uploads"
      subscription_name   = "${var.name_prefix}-thumbnailer-push"
      service_name        = local.function_name
      description         = "Renders thumbnails of uploaded photos and registers them in Firestore (live lane: the uploads bucket's notifications)."
      min_instance_count  = var.min_instance_count
      max_instance_count  = var.max_instance_count
      request_concurrency = local.request_concurrency
      minimum_backoff     = var.retry_minimum_backoff_seconds
      maximum_backoff     = max(var.retry_minimum_backoff_seconds, var.retry_maximum_backoff_seconds)
    }
    bulk = {
      topic_name          = "${var.name_prefix}-bulk"
      subscription_name   = "${var.name_prefix}-thumbnailer-bulk-push"
      service_name        = "${local.function_name}-bulk"
      description         = "Renders thumbnails of photos queued in bulk (backfill, retry of many, import) and registers them in Firestore (bulk lane)."
      min_instance_count  = 0
      max_instance_count  = var.bulk_max_instance_count
      request_concurrency = local.bulk_request_concurrency
      minimum_backoff     = var.bulk_retry_minimum_backoff_seconds
      maximum_backoff     = max(var.bulk_retry_minimum_backoff_seconds, var.bulk_retry_maximum_backoff_seconds)
    }
  }

  # Names per lane ("live", "bulk") for dashboards, alerts and the tools; keep these keys and names stable.
  lane_topic_names        = { for lane, l in local.lanes : lane => l.topic_name }
  lane_subscription_names = { for lane, l in local.lanes : lane => l.subscription_name }
  lane_service_names      = { for lane, l in local.lanes : lane => l.service_name }

  # What `gallery status` reads on top of the function's settings (in cli_env): the lanes' and the dead letters'
  # subscriptions, whose backlog it reports.
  status_env = merge(
    { for lane, name in local.lane_subscription_names : "${upper(lane)}_SUBSCRIPTION" => "projects/${var.project_id}/subscriptions/${name}" },
    { DEAD_LETTER_SUBSCRIPTION = google_pubsub_subscription.dead_letter.id },
  )

  # For push delivery the ack deadline is also the HTTP request timeout, so it must outlast the function.
  ack_deadline_seconds = min(600, var.function_timeout_seconds + 60)

  # Cloud Run's memory limits per vCPU count (a request outside them is refused at deploy time).
  max_memory_mib_for_cpu = { "1" = 4096, "2" = 8192, "4" = 16384, "6" = 24576, "8" = 32768 }
  min_memory_mib_for_cpu = { "1" = 128, "2" = 128, "4" = 2048, "6" = 4096, "8" = 4096 }

  firestore_database_name = var.create_firestore_database ? one(google_firestore_database.gallery[*].name) : var.firestore_database
  firestore_location      = var.firestore_location != "" ? var.firestore_location : var.region

  renditions_base_url = var.renditions_base_url != "" ? var.renditions_base_url : "https://storage.googleapis.com/${local.renditions_bucket_name}"

  # Exactly the variables gallery.settings.Settings reads (tests/infra checks this against the code) but LANE,
  # which function.tf sets per lane, plus libvips/glibc tuning that must be set before the process starts.
  function_env = {
    AVIF_EFFORT             = tostring(var.avif_effort)
    EVENTS_TOPIC            = var.publish_photo_events ? google_pubsub_topic.photo_events[0].id : ""
    FIRESTORE_DATABASE      = local.firestore_database_name
    GOOGLE_CLOUD_PROJECT    = var.project_id
    INSTANCE_BASELINE_MIB   = tostring(var.instance_baseline_mib)
    INSTANCE_MEMORY_MIB     = tostring(var.function_memory_mib)
    KEEP_GPS                = tostring(var.keep_gps)
    KEEP_WIDE_GAMUT         = tostring(var.keep_wide_gamut)
    LOG_LEVEL               = var.log_level
    MAX_ATTEMPTS            = tostring(var.max_attempts)
    MAX_BYTES               = tostring(var.max_bytes)
    MAX_FRAMES              = tostring(var.max_frames)
    MAX_PIXELS              = tostring(var.max_pixels)
    MAX_REQUEST_BYTES       = tostring(var.max_request_bytes)
    MAX_SIDE                = tostring(var.max_side)
    PHOTOS_COLLECTION       = var.photos_collection
    PAINT_FIRST_MEGAPIXELS  = tostring(var.paint_first_megapixels)
    OPTIMIZE                = tostring(var.optimize)
    OPTIMIZE_QUALITY_TARGET = tostring(var.optimize_quality_target)
    OPTIMIZE_AVIF_EFFORT    = tostring(var.optimize_avif_effort)
    FALLBACK_MAX_WIDTH      = tostring(var.fallback_max_width)
    SUPERSEDED_GRACE_DAYS   = tostring(var.superseded_grace_days)
    VIDEOS                  = tostring(var.videos)
    VIDEO_PREVIEW           = tostring(var.video_preview)
    VIDEO_PREVIEW_SECONDS   = tostring(var.video_preview_seconds)
    VIDEO_PREVIEW_WIDTH     = tostring(var.video_preview_width)
    VIDEO_MAX_BYTES         = tostring(var.video_max_bytes)
    VIDEO_MAX_SECONDS       = tostring(var.video_max_seconds)
    VIDEO_MAX_PIXELS        = tostring(var.video_max_pixels)
    VIDEO_MAX_BITRATE       = tostring(var.video_max_bitrate)
    VIDEO_DECODE_SECONDS    = tostring(var.video_decode_seconds)
    PRESETS_FILE            = var.presets_file
    PRESETS_JSON            = length(var.presets) > 0 ? jsonencode(var.presets) : ""
    FONTS_DIR               = var.fonts_dir
    QUALITY_MAX             = tostring(var.quality_max)
    QUALITY_MIN             = tostring(var.quality_min)
    QUALITY_TARGET          = tostring(var.quality_target)
    # A short lease, renewed while the delivery works: a crash is noticed within one lease, whatever the timeout.
    PROCESSING_LEASE_SECONDS = tostring(var.processing_lease_seconds)
    DEAD_LETTER_REQUEUES     = tostring(var.dead_letter_requeues)
    # Where optimize tasks are queued and dead letters of photos that never reached an outcome are re-queued
    # (iam.tf: publish on it only).
    PUBSUB_BULK_TOPIC   = google_pubsub_topic.lane["bulk"].id
    RENDITIONS_BASE_URL = var.renditions_base_url
    RENDITIONS_BUCKET   = google_storage_bucket.renditions.name
    RENDITION_FORMATS   = join(",", var.rendition_formats)
    RENDITION_QUALITY   = tostring(var.rendition_quality)
    RENDITION_WIDTHS    = join(",", [for w in var.rendition_widths : tostring(w)])
    UPLOADS_BUCKET      = google_storage_bucket.uploads.name
    WEBP_EFFORT         = tostring(var.webp_effort)
    # One libvips worker thread per render; parallelism comes from concurrent requests instead.
    VIPS_CONCURRENCY = "1"
    # Bound glibc's per-thread arenas so concurrent renders do not fragment memory past the limit.
    MALLOC_ARENA_MAX = "2"
  }

  # What the `gallery` tools read on top of the function's settings: where backfill, retry and import publish,
  # and the subscriptions `gallery status` reports.
  cli_env = merge(local.function_env, local.status_env, {
    PUBSUB_TOPIC = google_pubsub_topic.lane["live"].id
  })

  # Fully qualified name (projects/P/serviceAccounts/EMAIL) of the account Cloud Build uses for the function.
  build_service_account = coalesce(var.build_service_account, one(google_service_account.build[*].id))

  pubsub_service_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
  gcs_service_agent    = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}
