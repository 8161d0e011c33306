# Identities and the least privilege each arrow needs. No primitive roles (owner/editor/viewer) anywhere, and no
# allUsers/allAuthenticatedUsers except the opt-in public read of the renditions bucket (storage.tf).
#
#   who                         what                                         where
#   GCS service agent           roles/pubsub.publisher                       uploads topic            (notifications.tf)
#   Pub/Sub service agent       roles/pubsub.publisher                       dead-letter topic        (pubsub.tf)
#   Pub/Sub service agent       roles/pubsub.subscriber                      push subscription        (pubsub.tf)
#   Pub/Sub service agent       roles/iam.serviceAccountTokenCreator         invoker SA (OIDC tokens)  (below)
#   invoker SA                  roles/run.invoker                            the function's service   (function.tf)
#   function SA                 roles/storage.objectViewer                   uploads bucket           (below)
#   function SA                 roles/storage.objectAdmin                    renditions bucket        (below)
#   function SA                 roles/datastore.user                         project                  (below)
#   function SA                 roles/pubsub.publisher                       bulk lane's topic        (below)
#   build SA (if created)       roles/logging.logWriter                      project                  (below)
#   build SA (if created)       roles/artifactregistry.writer                project                  (below)
#   build SA (if created)       roles/storage.objectViewer                   function source bucket   (below)
#   build SA (if created)       roles/storage.objectViewer                   the platform's staged    (below)
#                                                                            source bucket only (IAM condition)

resource "google_service_account" "function" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-fn"
  display_name = "Gallery thumbnailer (runtime)"
  description  = "Runs the thumbnailer: reads uploads, writes renditions, writes photo documents."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-invoker"
  display_name = "Gallery thumbnailer (Pub/Sub push invoker)"
  description  = "Identity in the OIDC token of the push subscription; may only invoke the thumbnailer."

  depends_on = [google_project_service.apis]
}

# Read the photo (object get with the generation pinned) and nothing else of the project's storage.
resource "google_storage_bucket_iam_member" "function_reads_uploads" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function.email}"
}

# Create, overwrite, list and delete renditions (deregistration removes them); bucket-level, this bucket only.
resource "google_storage_bucket_iam_member" "function_writes_renditions" {
  bucket = google_storage_bucket.renditions.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.function.email}"
}

# Firestore document reads/writes/transactions. Firestore has no predefined role narrower than datastore.user
# and no per-collection IAM, so this is granted on the project.
resource "google_project_iam_member" "function_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function.email}"
}

# Re-queue a dead letter of a photo that never reached an outcome (a crash, a long outage) on the bulk lane;
# the function publishes to this one topic only.
resource "google_pubsub_topic_iam_member" "function_requeues_on_bulk" {
  project = var.project_id
  topic   = google_pubsub_topic.lane["bulk"].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function.email}"
}

# Pub/Sub signs the push requests' OIDC tokens as the invoker. Required for projects created before
# 2021-04-08 and harmless after; granted on the invoker account only, not project-wide.
resource "google_service_account_iam_member" "pubsub_mints_invoker_tokens" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# Cloud Build builds the function's container from the source zip. Since 2024 new projects no longer give the
# default build account these permissions, so a dedicated account gets what the build does, and no more: write
# build logs, push the image to Artifact Registry (the gcf-artifacts repository the platform creates, hence
# project-level), and read the source. Google's page for a custom build account lists project-wide
# storage.objectAdmin; the build only reads objects, and only two buckets: the source zip in this module's
# bucket, and the copy the platform stages in its own gcf-v2-sources-PROJECT_NUMBER-REGION bucket before the
# build (build errors name that bucket). The platform creates that bucket, so it cannot carry a bucket-level
# grant before the first build; a project-level grant with an IAM condition on the bucket's name does the same.
resource "google_service_account" "build" {
  count = var.build_service_account == "" ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-builder"
  display_name = "Gallery thumbnailer (Cloud Build)"
  description  = "Builds the thumbnailer's container image from the source zip."

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "build" {
  for_each = var.build_service_account == "" ? toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
  ]) : toset([])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build[0].email}"
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  count = var.build_service_account == "" ? 1 : 0

  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build[0].email}"
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_iam_member" "build_reads_staged_source" {
  count = var.build_service_account == "" ? 1 : 0

  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build[0].email}"

  condition {
    title       = "staged-function-source-only"
    description = "Only the bucket the platform stages function sources in for this region."
    expression  = "resource.name == \"projects/_/buckets/${local.staged_source_bucket_name}\" || resource.name.startsWith(\"projects/_/buckets/${local.staged_source_bucket_name}/\")"
  }
}
