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
# are automatic). Each one costs a little on every write, so only these three:
#
#   status == "ready"  ORDER BY created_at DESC      the gallery feed, newest uploads first
#   status == "ready"  ORDER BY exif.taken_at DESC   the gallery by capture date
#   status == X        ORDER BY updated_at DESC      operations: recent failures / stuck "processing"
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
