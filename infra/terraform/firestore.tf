# Arrow 4b: the photo documents. Firestore in native mode, created here or an existing database used by name.

resource "google_firestore_database" "gallery" {
  count = var.create_firestore_database ? 1 : 0

  project                     = var.project_id
  name                        = var.firestore_database
  location_id                 = local.firestore_location
  type                        = "FIRESTORE_NATIVE"
  concurrency_mode            = "OPTIMISTIC"
  app_engine_integration_mode = "DISABLED"
  delete_protection_state     = var.firestore_delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy             = var.firestore_deletion_policy

  depends_on = [google_project_service.apis]
}

# Composite indexes for the queries a gallery front end makes on the photos collection (single-field indexes
# are automatic, but for the exemptions below). Each one costs a little on every write, so only these three:
#
#   status == "ready"  ORDER BY created_at DESC      the gallery feed, newest uploads first (and `gallery list
#                                                    --status X`)
#   status == "ready"  ORDER BY exif.taken_at DESC   the gallery by capture date
#   status == X        ORDER BY updated_at DESC      operations, from the console or a script: recent failures,
#                                                    stuck "processing" (no gallery command needs it)
#
# tests/infra/test_firestore_queries.py checks every query of the photo catalog, and the two front-end queries
# above, against these indexes and the exemptions below.
locals {
  photo_indexes = {
    ready_by_created  = "created_at"
    ready_by_taken_at = "exif.taken_at"
    status_by_updated = "updated_at"
  }
}

resource "google_firestore_index" "photos" {
  for_each = local.photo_indexes

  project     = var.project_id
  database    = local.firestore_database_name
  collection  = var.photos_collection
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = each.value
    order      = "DESCENDING"
  }
}

# Single-field index exemptions: fields no query filters or sorts on. Firestore indexes every field (and every
# subfield of a map, every element of an array) by default, and each write updates those entries; the
# renditions and their URLs are the document's largest values. Exempting a map exempts its subfields.
# Composite indexes are independent of these settings (an exempt field may still be in one).
#
#   lease_expires_at, lease_holder   the lease: renewed every third of PROCESSING_LEASE_SECONDS while a photo
#                                    renders; an indexed lease end would be the most written increasing value
#   last_error, requeued             maps with an `at` timestamp, written on transient errors and re-queues
#   retry_requested_at               timestamp written by `gallery retry`
#   renditions, variants, preview    arrays and maps of renditions: every element, URL and size indexed
#   srcset, placeholder              long strings (URL lists, a thumbhash)
#   timings                          the render's stage durations (`gallery status` reads them, never filters)
#   optimization                     the optimize pass's figures; `optimization_status` is the queried copy
#   video, motion                    a video's facts and its moving preview's URL and size (read, never filtered;
#                                    `media_type` is the queried field)
#
# Still indexed: status, optimization_status, created_at and updated_at (the page, `gallery list` and `gallery
# status` query them), exif (the capture-date query), error, source and the small scalars. created_at and
# updated_at increase with time, so Firestore's limit for sequentially indexed values (about 500 writes/s per
# collection) applies to the writes that set them: a photo sets updated_at about three times (processing,
# ready, optimized), and lease renewals set neither.
locals {
  photo_unindexed_fields = [
    "lease_expires_at",
    "lease_holder",
    "last_error",
    "requeued",
    "retry_requested_at",
    "renditions",
    "variants",
    "preview",
    "srcset",
    "placeholder",
    "timings",
    "optimization",
    "video",
    "motion",
  ]
}

resource "google_firestore_field" "photos_unindexed" {
  for_each = toset(local.photo_unindexed_fields)

  project    = var.project_id
  database   = local.firestore_database_name
  collection = var.photos_collection
  field      = each.key

  # Empty: no single-field index (ascending, descending or array-contains) for this field or its subfields.
  index_config {}
}
