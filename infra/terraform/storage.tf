# Three buckets: uploads (the photos, the source of the notifications), renditions (written by the function,
# a different bucket so the function can never trigger itself), and the function's source zips.

resource "google_storage_bucket" "uploads" {
  # checkov:skip=CKV_GCP_78: Not versioned on purpose: in a versioned bucket a delete or overwrite makes the old generation noncurrent and sends OBJECT_ARCHIVE instead of OBJECT_DELETE, so deleting a photo would no longer deregister it. Soft delete (below) keeps deleted uploads recoverable instead.
  # checkov:skip=CKV_GCP_62: Usage/access logs are a legacy feature that needs a separate log bucket; use Cloud Audit Logs (Data Access) for object-level access records.
  project  = var.project_id
  name     = local.uploads_bucket_name
  location = local.bucket_location
  labels   = local.labels

  force_destroy               = var.force_destroy_buckets
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  soft_delete_policy {
    retention_duration_seconds = var.uploads_soft_delete_retention_days * 86400
  }

  # Browser uploads through a resumable/XML multipart session that never completes leave parts behind.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "renditions" {
  # checkov:skip=CKV_GCP_62: Usage/access logs are a legacy feature that needs a separate log bucket; use Cloud Audit Logs (Data Access) or the CDN's logs.
  # checkov:skip=CKV_GCP_114: Public access prevention is "enforced" unless var.public_renditions is true, when the bucket must be readable by allUsers (see the conditional IAM member below).
  # checkov:skip=CKV_GCP_78: Not versioned on purpose: renditions are derived data (re-rendered from the upload at any time), and a noncurrent version of a deregistered photo's rendition would stay fetchable by generation after the photo is deleted.
  project  = var.project_id
  name     = local.renditions_bucket_name
  location = local.bucket_location
  labels   = local.labels

  force_destroy               = var.force_destroy_buckets
  uniform_bucket_level_access = true
  public_access_prevention    = var.public_renditions ? "inherited" : "enforced"

  # A deleted or overwritten rendition must be gone, not kept as a noncurrent version: deregistering a photo
  # takes its renditions offline at once. Renditions can always be rebuilt from the upload (gallery backfill).
  versioning {
    enabled = false
  }

  # Noncurrent versions left over from a bucket that was versioned before are deleted as soon as lifecycle runs.
  # The provider drops a 0 from the request unless told to send it.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time              = 0
      send_days_since_noncurrent_time_if_zero = true
      with_state                              = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  # Renditions the optimize pass superseded carry a customTime (set when the swap landed): they are deleted
  # superseded_grace_days later, once pages and caches holding their immutable URLs have moved on.
  lifecycle_rule {
    condition {
      days_since_custom_time              = var.superseded_grace_days
      send_days_since_custom_time_if_zero = true
    }
    action {
      type = "Delete"
    }
  }

  dynamic "cors" {
    for_each = length(var.renditions_cors_origins) > 0 ? [1] : []
    content {
      origin          = var.renditions_cors_origins
      method          = ["GET", "HEAD"]
      response_header = ["Content-Type", "Cache-Control", "ETag"]
      max_age_seconds = 3600
    }
  }

  depends_on = [google_project_service.apis]
}

# Public read of the renditions, only when asked for. Nothing else in this module grants allUsers.
# roles/storage.legacyObjectReader holds storage.objects.get only: anyone can fetch a rendition by its URL, but
# nobody can list the bucket (roles/storage.objectViewer would add storage.objects.list, and with it every photo
# id in the gallery). A legacy role, so it can only be granted on a bucket, which is all this needs.
resource "google_storage_bucket_iam_member" "renditions_public_read" {
  # checkov:skip=CKV_GCP_28: Public object read (no listing) of the renditions bucket is the opt-in purpose of var.public_renditions (default false, count 0); the uploads bucket is never public.
  count = var.public_renditions ? 1 : 0

  bucket = google_storage_bucket.renditions.name
  role   = "roles/storage.legacyObjectReader"
  member = "allUsers"
}

resource "google_storage_bucket" "function_source" {
  # checkov:skip=CKV_GCP_62: Usage/access logs are a legacy feature that needs a separate log bucket; the bucket only holds deploy artifacts.
  project  = var.project_id
  name     = local.source_bucket_name
  location = local.bucket_location
  labels   = local.labels

  # Only deploy artifacts live here; destroying the stack may always delete them.
  force_destroy               = true
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  # A new bundle gets a new object name (its hash); the replaced object becomes noncurrent and goes away.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "function_source" {
  bucket       = google_storage_bucket.function_source.name
  name         = local.function_source_object
  source       = local.function_source_zip
  content_type = "application/zip"
}
