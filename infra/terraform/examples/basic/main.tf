# A complete root configuration: the gallery pipeline in one project, renditions public for a static front end.
#
#   make bundle
#   terraform -chdir=infra/terraform/examples/basic init
#   terraform -chdir=infra/terraform/examples/basic apply -var project_id=my-project

terraform {
  required_version = ">= 1.5, < 2.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.0, < 8.0"
    }
  }
}

variable "project_id" {
  type        = string
  description = "Project to deploy the gallery into."
}

variable "region" {
  type        = string
  description = "Region of the function and the buckets."
  default     = "europe-west1"
}

variable "alert_email" {
  type        = string
  description = "Address notified about dead-lettered notifications; empty for none."
  default     = ""
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

module "gallery" {
  source = "../.."

  project_id  = var.project_id
  region      = var.region
  name_prefix = "gallery"

  # Built by `make bundle` at the repository root.
  function_source_zip = "${path.root}/../../../../build/thumbnailer.zip"

  public_renditions       = true
  renditions_cors_origins = ["*"]

  function_memory_mib = 2048
  function_cpu        = 1
  max_instance_count  = 5

  alert_notification_emails = var.alert_email == "" ? [] : [var.alert_email]
}

output "uploads_bucket" {
  description = "Drop photos here."
  value       = module.gallery.uploads_bucket
}

output "renditions_base_url" {
  description = "Base URL of the public renditions."
  value       = module.gallery.renditions_base_url
}

output "firestore_database" {
  description = "Database holding the photos collection."
  value       = module.gallery.firestore_database
}

output "dead_letter_subscription" {
  description = "Where notifications that kept failing end up."
  value       = module.gallery.dead_letter_subscription
}
