# ---------------------------------------------------------------------------------------------------------------------
# Project and naming
# ---------------------------------------------------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that receives every resource."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid project ID: 6-30 characters, lower-case letters, digits and hyphens."
  }
}

variable "region" {
  type        = string
  description = "Region of the function, the Pub/Sub delivery and (by default) the buckets and the Firestore database."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (service accounts, topics, function, default bucket names)."
  default     = "gallery"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters: lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels put on every resource that takes labels (app=gallery and managed-by=terraform are always set)."
  default     = {}
}

variable "enable_apis" {
  type        = bool
  description = "Enable the APIs the pipeline needs. Turn off when a platform team manages project services."
  default     = true
}

# ---------------------------------------------------------------------------------------------------------------------
# Buckets
# ---------------------------------------------------------------------------------------------------------------------

variable "uploads_bucket_name" {
  type        = string
  description = "Name of the bucket users drop photos into. Empty means PROJECT_ID-NAME_PREFIX-uploads."
  default     = ""

  validation {
    condition     = var.uploads_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.uploads_bucket_name))
    error_message = "uploads_bucket_name must be empty or a valid bucket name (3-63 characters)."
  }
}

variable "renditions_bucket_name" {
  type        = string
  description = "Name of the bucket the renditions are written to. Empty means PROJECT_ID-NAME_PREFIX-renditions."
  default     = ""

  validation {
    condition     = var.renditions_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.renditions_bucket_name))
    error_message = "renditions_bucket_name must be empty or a valid bucket name (3-63 characters)."
  }
}

variable "bucket_location" {
  type        = string
  description = "Location of the buckets (a region, dual-region or multi-region such as EU). Empty means var.region."
  default     = ""
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Let `terraform destroy` delete the buckets even when they still hold objects. Keep false in production."
  default     = false
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days a noncurrent (overwritten or deleted) object version is kept in the versioned function source bucket before lifecycle deletes it. The renditions bucket is not versioned."
  default     = 7

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && var.noncurrent_version_retention_days <= 365 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number between 1 and 365."
  }
}

variable "uploads_soft_delete_retention_days" {
  type        = number
  description = "Days a deleted upload stays recoverable (Cloud Storage soft delete). 0 disables soft delete. The uploads bucket is not versioned: see storage.tf."
  default     = 7

  validation {
    condition     = var.uploads_soft_delete_retention_days == 0 || (var.uploads_soft_delete_retention_days >= 7 && var.uploads_soft_delete_retention_days <= 90)
    error_message = "uploads_soft_delete_retention_days must be 0 (off) or between 7 and 90."
  }
}

variable "public_renditions" {
  type        = bool
  description = "Let anyone fetch a rendition by its URL (allUsers gets roles/storage.legacyObjectReader on the renditions bucket: object read, no listing) so browsers can load them directly. Off by default: nothing is public unless this is true."
  default     = false
}

variable "renditions_cors_origins" {
  type        = list(string)
  description = "Origins allowed to GET renditions cross-origin (for example [\"https://photos.example.com\"]). Empty means no CORS configuration."
  default     = []

  validation {
    condition     = alltrue([for o in var.renditions_cors_origins : o == "*" || can(regex("^https?://[^/]+$", o))])
    error_message = "Each CORS origin must be \"*\" or a scheme and host such as https://photos.example.com (no path)."
  }
}

variable "renditions_base_url" {
  type        = string
  description = "Public base URL of the renditions (a CDN or load balancer in front of the bucket). Empty means https://storage.googleapis.com/RENDITIONS_BUCKET. Passed to the function as RENDITIONS_BASE_URL."
  default     = ""

  validation {
    condition     = var.renditions_base_url == "" || can(regex("^https?://", var.renditions_base_url))
    error_message = "renditions_base_url must be empty or start with http:// or https://."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------------------------------------------------

variable "function_source_zip" {
  type        = string
  description = "Path of the function source zip built by `make bundle`. Empty means build/thumbnailer.zip at the repository root."
  default     = ""

  validation {
    condition     = var.function_source_zip == "" || endswith(var.function_source_zip, ".zip")
    error_message = "function_source_zip must be empty or the path of a .zip file."
  }
}

variable "function_runtime" {
  type        = string
  description = "Python runtime of the function."
  default     = "python312"

  validation {
    condition     = contains(["python311", "python312", "python313"], var.function_runtime)
    error_message = "function_runtime must be python311, python312 or python313."
  }
}

variable "function_memory_mib" {
  type        = number
  description = "Memory of one function instance, in MiB. Passed to the code as INSTANCE_MEMORY_MIB (renders are admitted while their estimated peaks fit in it above instance_baseline_mib) and drives the request concurrency (see light_render_mib). Cloud Run also bounds it by the vCPU count: at most 4 GiB for 1 vCPU, 8 GiB for 2, 16 GiB for 4, 24 GiB for 6, 32 GiB for 8."
  default     = 2048

  validation {
    condition     = contains([512, 1024, 2048, 4096, 8192, 16384, 24576, 32768], var.function_memory_mib)
    error_message = "function_memory_mib must be one of 512, 1024, 2048, 4096, 8192, 16384, 24576, 32768."
  }
}

variable "function_cpu" {
  type        = number
  description = "vCPUs of one function instance. At least 1: Cloud Run refuses request concurrency above 1 with fractional CPU."
  default     = 1

  validation {
    condition     = contains([1, 2, 4, 6, 8], var.function_cpu)
    error_message = "function_cpu must be one of 1, 2, 4, 6, 8."
  }
}

variable "light_render_mib" {
  type        = number
  description = "Estimated peak memory of an ordinary photo's render (a 20 MP camera JPEG with the default renditions, as `gallery calibrate` reports), in MiB. Sizes the request concurrency so that light photos can use the instance's memory budget; the code's memory-weighted admission, not the request count, bounds memory. request_concurrency = max(1, min(floor((function_memory_mib - instance_baseline_mib) / light_render_mib), tasks_per_vcpu * function_cpu))."
  default     = 112

  validation {
    condition     = var.light_render_mib >= 16 && var.light_render_mib <= 16384
    error_message = "light_render_mib must be between 16 and 16384."
  }
}

variable "instance_baseline_mib" {
  type        = number
  description = "Memory one idle instance uses before any render (Python, the framework, the clients, libvips), in MiB, measured. Passed to the code as INSTANCE_BASELINE_MIB: the render memory budget is function_memory_mib minus this."
  default     = 200

  validation {
    condition     = var.instance_baseline_mib >= 0 && var.instance_baseline_mib < 512
    error_message = "instance_baseline_mib must be between 0 and 511 (it must leave room for at least one render in the smallest instance)."
  }
}

variable "tasks_per_vcpu" {
  type        = number
  description = "CPU cap of the concurrency: at most this many renders per vCPU (each render is one libvips thread)."
  default     = 2

  validation {
    condition     = var.tasks_per_vcpu >= 1 && var.tasks_per_vcpu <= 8 && floor(var.tasks_per_vcpu) == var.tasks_per_vcpu
    error_message = "tasks_per_vcpu must be a whole number between 1 and 8."
  }
}

variable "function_timeout_seconds" {
  type        = number
  description = "Request timeout of the function. The push subscription's ack deadline is set 60 s above it (at most 600 s), so at most 540."
  default     = 300

  validation {
    condition     = var.function_timeout_seconds >= 10 && var.function_timeout_seconds <= 540 && floor(var.function_timeout_seconds) == var.function_timeout_seconds
    error_message = "function_timeout_seconds must be a whole number between 10 and 540."
  }
}

variable "min_instance_count" {
  type        = number
  description = "Instances kept warm. 0 scales to zero (cold starts, no idle cost)."
  default     = 0

  validation {
    condition     = var.min_instance_count >= 0 && var.min_instance_count <= 100
    error_message = "min_instance_count must be between 0 and 100."
  }
}

variable "max_instance_count" {
  type        = number
  description = "Upper bound on instances; with the per-instance concurrency it caps renders in flight and therefore cost during a bulk upload."
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 1000
    error_message = "max_instance_count must be between 1 and 1000."
  }
}

variable "bulk_max_instance_count" {
  type        = number
  description = "Upper bound on the bulk lane's instances (its own Cloud Run service: backfill, retry of many, import). Caps what a backfill renders at once and costs, independently of max_instance_count, which the live uploads keep for themselves."
  default     = 3

  validation {
    condition     = var.bulk_max_instance_count >= 1 && var.bulk_max_instance_count <= 1000 && floor(var.bulk_max_instance_count) == var.bulk_max_instance_count
    error_message = "bulk_max_instance_count must be a whole number between 1 and 1000."
  }
}

variable "bulk_request_concurrency" {
  type        = number
  description = "Per-instance request concurrency of the bulk lane's service. 0 derives it like the live lane's (see light_render_mib); the same memory model (admission by estimated peak within function_memory_mib - instance_baseline_mib) bounds memory either way."
  default     = 0

  validation {
    condition     = var.bulk_request_concurrency >= 0 && var.bulk_request_concurrency <= 1000 && floor(var.bulk_request_concurrency) == var.bulk_request_concurrency
    error_message = "bulk_request_concurrency must be a whole number between 0 (derived) and 1000."
  }
}

variable "ingress_settings" {
  type        = string
  description = "Network ingress of the function. ALLOW_INTERNAL_ONLY is enough for Pub/Sub push from the same project (Pub/Sub counts as internal when it calls the run.app URL); IAM (roles/run.invoker) is enforced in every case."
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_ALL"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB or ALLOW_ALL."
  }
}

variable "build_service_account" {
  type        = string
  description = "Fully qualified name (projects/PROJECT/serviceAccounts/EMAIL) of an existing service account Cloud Build uses to build the function. Empty creates a dedicated one."
  default     = ""

  validation {
    condition     = var.build_service_account == "" || can(regex("^projects/[^/]+/serviceAccounts/[^/]+@[^/]+$", var.build_service_account))
    error_message = "build_service_account must be empty or projects/PROJECT/serviceAccounts/EMAIL."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# What the function does (each becomes one environment variable read by gallery.settings.Settings)
# ---------------------------------------------------------------------------------------------------------------------

variable "rendition_widths" {
  type        = list(number)
  description = "Rendition widths in pixels (RENDITION_WIDTHS). Never upscaled."
  default     = [320, 512, 768, 1024, 1280, 1600, 2048, 2560]

  validation {
    condition     = length(var.rendition_widths) > 0 && alltrue([for w in var.rendition_widths : w >= 16 && w <= 16384 && floor(w) == w])
    error_message = "rendition_widths must hold at least one whole number between 16 and 16384."
  }
}

variable "rendition_formats" {
  type        = list(string)
  description = "Formats of the live set a photo is ready with (RENDITION_FORMATS): any of webp, avif, jpeg. Browsers take the first they support in the order avif, webp, jpeg (the served format). The default, JPEG, is the fastest set every browser decodes; the optimize pass then adds AVIF and keeps JPEG up to fallback_max_width (docs/renditions.md)."
  default     = ["jpeg"]

  validation {
    condition     = length(var.rendition_formats) > 0 && alltrue([for f in var.rendition_formats : contains(["webp", "avif", "jpeg"], f)])
    error_message = "rendition_formats must hold at least one of webp, avif, jpeg."
  }
}

variable "quality_target" {
  type        = number
  description = "SSIMULACRA2 score the live set's served format is encoded to (QUALITY_TARGET); 0 encodes every live rendition at rendition_quality, without the search, and leaves the target to the optimize pass (optimize_quality_target)."
  default     = 0

  validation {
    condition     = var.quality_target >= 0 && var.quality_target < 100
    error_message = "quality_target must be at least 0 and below 100."
  }
}

variable "quality_min" {
  type        = number
  description = "Lowest encoder quality the quality search may choose (QUALITY_MIN)."
  default     = 30

  validation {
    condition     = var.quality_min >= 1 && var.quality_min <= 100
    error_message = "quality_min must be between 1 and 100."
  }
}

variable "quality_max" {
  type        = number
  description = "Highest encoder quality the quality search may choose (QUALITY_MAX)."
  default     = 90

  validation {
    condition     = var.quality_max >= 1 && var.quality_max <= 100 && var.quality_max >= var.quality_min
    error_message = "quality_max must be between 1 and 100 and not below quality_min."
  }
}

variable "rendition_quality" {
  type        = number
  description = "Fixed encoder quality 1-100 (RENDITION_QUALITY): of every format when quality_target is 0, else of the fallbacks."
  default     = 80

  validation {
    condition     = var.rendition_quality >= 1 && var.rendition_quality <= 100
    error_message = "rendition_quality must be between 1 and 100."
  }
}

variable "webp_effort" {
  type        = number
  description = "WebP encoder effort 0 (fast) to 6 (small) (WEBP_EFFORT)."
  default     = 2

  validation {
    condition     = var.webp_effort >= 0 && var.webp_effort <= 6
    error_message = "webp_effort must be between 0 and 6."
  }
}

variable "avif_effort" {
  type        = number
  description = "AVIF encoder effort 0 (fast) to 9 (small) (AVIF_EFFORT)."
  default     = 0

  validation {
    condition     = var.avif_effort >= 0 && var.avif_effort <= 9
    error_message = "avif_effort must be between 0 and 9."
  }
}

variable "keep_wide_gamut" {
  type        = bool
  description = "Render wide-gamut photos (Display P3, Adobe RGB, BT.2020) as Display P3 with an embedded P3 profile instead of sRGB; sRGB photos stay untagged sRGB (KEEP_WIDE_GAMUT). Changing it changes the rendition spec version, so backfill re-renders."
  default     = false

  validation {
    condition     = var.keep_wide_gamut != null
    error_message = "keep_wide_gamut must be true or false."
  }
}

variable "keep_gps" {
  type        = bool
  description = "Store GPS coordinates from EXIF in the photo document (KEEP_GPS). Off by default for privacy."
  default     = false
}

variable "max_pixels" {
  type        = number
  description = "Largest accepted image in pixels, checked from the header before decoding (MAX_PIXELS)."
  default     = 100000000

  validation {
    condition     = var.max_pixels >= 1
    error_message = "max_pixels must be positive."
  }
}

variable "max_bytes" {
  type        = number
  description = "Largest accepted upload in bytes (MAX_BYTES)."
  default     = 67108864

  validation {
    condition     = var.max_bytes >= 1
    error_message = "max_bytes must be positive."
  }
}

variable "max_side" {
  type        = number
  description = "Longest accepted side of an image in pixels, checked from the header (MAX_SIDE)."
  default     = 30000

  validation {
    condition     = var.max_side >= 1
    error_message = "max_side must be positive."
  }
}

variable "max_frames" {
  type        = number
  description = "Most frames or pages accepted (animated GIF/WebP, multi-page TIFF, HEIF), checked from the header (MAX_FRAMES)."
  default     = 500

  validation {
    condition     = var.max_frames >= 1
    error_message = "max_frames must be positive."
  }
}

variable "videos" {
  type        = bool
  description = "Videos become gallery items: a poster rendered like a photo, duration, rate, codec, audio and a moving preview (VIDEOS); false: a video fails as unsupported_format."
  default     = true
}

variable "video_preview" {
  type        = bool
  description = "Make a video's moving preview, a silent looping H.264 MP4 of its first seconds (VIDEO_PREVIEW)."
  default     = true
}

variable "video_preview_seconds" {
  type        = number
  description = "Length of a video's moving preview, in seconds (VIDEO_PREVIEW_SECONDS)."
  default     = 3

  validation {
    condition     = var.video_preview_seconds >= 1 && var.video_preview_seconds <= 10
    error_message = "video_preview_seconds must be between 1 and 10."
  }
}

variable "video_preview_width" {
  type        = number
  description = "Longest side of a video's moving preview, in pixels (VIDEO_PREVIEW_WIDTH)."
  default     = 480

  validation {
    condition     = var.video_preview_width >= 64 && var.video_preview_width <= 1920
    error_message = "video_preview_width must be between 64 and 1920."
  }
}

variable "video_max_bytes" {
  type        = number
  description = "Largest accepted video upload, in bytes (VIDEO_MAX_BYTES); max_bytes is the photos' limit."
  default     = 268435456

  validation {
    condition     = var.video_max_bytes >= 1
    error_message = "video_max_bytes must be positive."
  }
}

variable "video_max_seconds" {
  type        = number
  description = "Longest accepted video, in seconds, from its container (VIDEO_MAX_SECONDS)."
  default     = 1800

  validation {
    condition     = var.video_max_seconds >= 1
    error_message = "video_max_seconds must be at least 1."
  }
}

variable "video_max_pixels" {
  type        = number
  description = "Largest accepted video frame, in pixels (VIDEO_MAX_PIXELS); the default takes DCI 4K and UHD and refuses 8K."
  default     = 9437184

  validation {
    condition     = var.video_max_pixels >= 1
    error_message = "video_max_pixels must be positive."
  }
}

variable "video_max_bitrate" {
  type        = number
  description = "Highest accepted average bitrate of a video, in bits per second (VIDEO_MAX_BITRATE)."
  default     = 250000000

  validation {
    condition     = var.video_max_bitrate >= 1
    error_message = "video_max_bitrate must be positive."
  }
}

variable "video_decode_seconds" {
  type        = number
  description = "Wall-time budget for demuxing and decoding the frames a video's poster and preview need (VIDEO_DECODE_SECONDS)."
  default     = 20

  validation {
    condition     = var.video_decode_seconds >= 1
    error_message = "video_decode_seconds must be at least 1."
  }
}

variable "log_level" {
  type        = string
  description = "Minimum level of the function's JSON log lines (LOG_LEVEL)."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "presets" {
  type = list(object({
    name      = string
    match     = optional(string)
    widths    = list(number)
    formats   = optional(list(string), ["webp"])
    quality   = optional(number)
    crop      = optional(object({ aspect = string, focus = optional(string, "attention") }))
    filters   = optional(list(object({ name = string, amount = optional(number) })), [])
    languages = optional(list(string), [])
    overlays = optional(list(object({
      type    = string
      text    = optional(string)
      font    = optional(string)
      weight  = optional(string)
      size    = optional(number)
      fill    = optional(string)
      stroke  = optional(string)
      src     = optional(string)
      width   = optional(number)
      opacity = optional(number)
      anchor  = optional(string)
      margin  = optional(number)
    })), [])
  }))
  description = "Presets (PRESETS_JSON, docs/presets.md): derivative rendition sets with crops, filters, text and image overlays, one variant per language. The function checks fonts and image files at start; `gallery presets check` checks a file before deploying."
  default     = []

  validation {
    condition     = alltrue([for p in var.presets : can(regex("^[a-z0-9][a-z0-9_-]{0,39}$", p.name))]) && length(distinct([for p in var.presets : p.name])) == length(var.presets)
    error_message = "Each preset needs a unique name of lower-case letters, digits, - and _ (at most 40)."
  }
  validation {
    condition     = alltrue([for p in var.presets : length(p.widths) > 0 && alltrue([for w in p.widths : w >= 16 && w <= 16384 && floor(w) == w])])
    error_message = "Each preset needs widths: whole numbers between 16 and 16384."
  }
  validation {
    condition     = alltrue([for p in var.presets : alltrue([for f in p.formats : contains(["webp", "avif", "jpeg"], f)]) && (p.quality == null ? true : p.quality >= 1 && p.quality <= 100)])
    error_message = "Preset formats must be webp, avif or jpeg, and quality between 1 and 100."
  }
  validation {
    condition     = alltrue([for p in var.presets : alltrue([for f in p.filters : contains(["grayscale", "blur", "edge", "sharpen", "emboss", "sepia", "negative", "brighten"], f.name)])])
    error_message = "Preset filters must be grayscale, blur, edge, sharpen, emboss, sepia, negative or brighten."
  }
  validation {
    condition     = alltrue([for p in var.presets : p.crop == null ? true : can(regex("^[1-9][0-9]{0,2}:[1-9][0-9]{0,2}$", p.crop.aspect)) && contains(["attention", "centre"], p.crop.focus)])
    error_message = "A preset crop needs an aspect like \"1:1\" or \"16:9\" and a focus of attention or centre."
  }
  validation {
    condition     = alltrue([for p in var.presets : alltrue([for l in p.languages : can(regex("^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", l))])])
    error_message = "Preset languages must be language tags like hi, en or pt-BR."
  }
  validation {
    condition = alltrue(flatten([for p in var.presets : [for o in p.overlays : (
      contains(["text", "image"], o.type) &&
      (o.type == "text" ? o.text != null : o.src != null) &&
      (o.anchor == null ? true : contains(["top-left", "top", "top-right", "left", "centre", "right", "bottom-left", "bottom", "bottom-right"], o.anchor)) &&
      alltrue([for c in [o.fill, o.stroke] : c == null ? true : can(regex("^#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$", c))])
    )]]))
    error_message = "Overlays are of type text (with text) or image (with src), anchored at top-left … bottom-right or centre, with colours written #rgb, #rgba, #rrggbb or #rrggbbaa."
  }
}

variable "presets_file" {
  type        = string
  description = "Path of a presets JSON file inside the function bundle (PRESETS_FILE), instead of `presets`."
  default     = ""

  validation {
    condition     = var.presets_file == "" || !startswith(var.presets_file, "/")
    error_message = "presets_file is a path relative to the bundle root."
  }
}

variable "fonts_dir" {
  type        = string
  description = "Folder inside the function bundle with extra .ttf/.otf fonts for text overlays (FONTS_DIR)."
  default     = ""
}

variable "photos_collection" {
  type        = string
  description = "Firestore collection of the photo documents (PHOTOS_COLLECTION)."
  default     = "photos"

  validation {
    condition     = can(regex("^[^/]+$", var.photos_collection))
    error_message = "photos_collection must be a top-level collection id (no slash)."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Delivery (Pub/Sub push subscription and dead-letter topic)
# ---------------------------------------------------------------------------------------------------------------------

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of one notification before Pub/Sub moves it to the dead-letter topic (both lanes' push subscriptions)."
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "max_attempts" {
  type        = number
  description = "Deliveries that may begin processing one photo generation; the next records it failed (too_many_attempts) instead of rendering, so a photo that crashes its instance stops being retried (MAX_ATTEMPTS). Must be below max_delivery_attempts, so the function decides before Pub/Sub dead-letters."
  default     = 5

  validation {
    condition     = var.max_attempts >= 1 && var.max_attempts <= 99 && floor(var.max_attempts) == var.max_attempts
    error_message = "max_attempts must be a whole number between 1 and 99."
  }
}

variable "paint_first_megapixels" {
  type        = number
  description = "Photos of at least this many megapixels are painted first (PAINT_FIRST_MEGAPIXELS): the document, still processing, gets the dimensions, placeholder, colour and a preview with the smallest rendition as soon as it exists. 0 paints every photo first; a value above max_pixels / 1e6 turns it off."
  default     = 4

  validation {
    condition     = var.paint_first_megapixels >= 0
    error_message = "paint_first_megapixels must not be negative."
  }
}

variable "optimize" {
  type        = bool
  description = "Optimize pass (OPTIMIZE): once a photo is ready, a task on the bulk lane re-encodes its widths as AVIF to optimize_quality_target, swaps the document to them if the photo is unchanged, and keeps the live format up to fallback_max_width as the fallback."
  default     = true
}

variable "optimize_quality_target" {
  type        = number
  description = "SSIMULACRA2 score the optimize pass encodes the AVIF renditions to (OPTIMIZE_QUALITY_TARGET)."
  default     = 72.5

  validation {
    condition     = var.optimize_quality_target >= 1 && var.optimize_quality_target < 100
    error_message = "optimize_quality_target must be at least 1 and below 100."
  }
}

variable "optimize_avif_effort" {
  type        = number
  description = "AVIF encoder effort of the optimize pass (OPTIMIZE_AVIF_EFFORT), 0 fast to 9 small."
  default     = 3

  validation {
    condition     = var.optimize_avif_effort >= 0 && var.optimize_avif_effort <= 9 && floor(var.optimize_avif_effort) == var.optimize_avif_effort
    error_message = "optimize_avif_effort must be a whole number between 0 and 9."
  }
}

variable "fallback_max_width" {
  type        = number
  description = "Widest live-format rendition an optimized photo keeps as the fallback for browsers without AVIF (FALLBACK_MAX_WIDTH); wider ones are superseded."
  default     = 1280

  validation {
    condition     = var.fallback_max_width >= 16 && var.fallback_max_width <= 16384 && floor(var.fallback_max_width) == var.fallback_max_width
    error_message = "fallback_max_width must be a whole number between 16 and 16384."
  }
}

variable "superseded_grace_days" {
  type        = number
  description = "Days a rendition superseded by the optimize pass stays in the renditions bucket before its lifecycle rule deletes it (SUPERSEDED_GRACE_DAYS), for pages and caches that still hold its immutable URL."
  default     = 7

  validation {
    condition     = var.superseded_grace_days >= 0 && var.superseded_grace_days <= 365 && floor(var.superseded_grace_days) == var.superseded_grace_days
    error_message = "superseded_grace_days must be a whole number between 0 and 365."
  }
}

variable "processing_lease_seconds" {
  type        = number
  description = "Lease of a delivery on the photo it processes (PROCESSING_LEASE_SECONDS), renewed every third of it while the delivery works: a crashed instance's photos are taken over by their redelivery within one lease. A redelivery that finds the lease held waits up to 1.5 leases, which must stay below the push subscription's ack deadline (function_timeout_seconds + 60)."
  default     = 30

  validation {
    condition     = var.processing_lease_seconds >= 10 && var.processing_lease_seconds <= 3600 && floor(var.processing_lease_seconds) == var.processing_lease_seconds
    error_message = "processing_lease_seconds must be a whole number between 10 and 3600."
  }
}

variable "dead_letter_requeues" {
  type        = number
  description = "Dead letters of one photo generation the function re-queues on the bulk lane before recording it failed (dead_lettered), for photos that never reached an outcome and still have deliveries under max_attempts (DEAD_LETTER_REQUEUES). 0 records every dead letter."
  default     = 1

  validation {
    condition     = var.dead_letter_requeues >= 0 && var.dead_letter_requeues <= 10 && floor(var.dead_letter_requeues) == var.dead_letter_requeues
    error_message = "dead_letter_requeues must be a whole number between 0 and 10."
  }
}

variable "max_request_bytes" {
  type        = number
  description = "Largest request body the function reads; a notification is about 2 KiB (MAX_REQUEST_BYTES). Larger answers 400."
  default     = 65536

  validation {
    condition     = var.max_request_bytes >= 1024 && var.max_request_bytes <= 33554432
    error_message = "max_request_bytes must be between 1024 and 33554432 (Cloud Run's 32 MiB request limit)."
  }
}

variable "retry_minimum_backoff_seconds" {
  type        = number
  description = "Shortest wait before Pub/Sub redelivers a failed notification (exponential backoff starts here)."
  default     = 10

  validation {
    condition     = var.retry_minimum_backoff_seconds >= 0 && var.retry_minimum_backoff_seconds <= 600
    error_message = "retry_minimum_backoff_seconds must be between 0 and 600."
  }
}

variable "retry_maximum_backoff_seconds" {
  type        = number
  description = "Longest wait between redeliveries (exponential backoff stops growing here). Must not be below the minimum."
  default     = 600

  validation {
    condition     = var.retry_maximum_backoff_seconds >= 0 && var.retry_maximum_backoff_seconds <= 600
    error_message = "retry_maximum_backoff_seconds must be between 0 and 600."
  }
}

variable "bulk_retry_minimum_backoff_seconds" {
  type        = number
  description = "Shortest wait before Pub/Sub redelivers a failed notification on the bulk lane's push subscription."
  default     = 30

  validation {
    condition     = var.bulk_retry_minimum_backoff_seconds >= 0 && var.bulk_retry_minimum_backoff_seconds <= 600
    error_message = "bulk_retry_minimum_backoff_seconds must be between 0 and 600."
  }
}

variable "bulk_retry_maximum_backoff_seconds" {
  type        = number
  description = "Longest wait between redeliveries on the bulk lane's push subscription. Must not be below its minimum."
  default     = 600

  validation {
    condition     = var.bulk_retry_maximum_backoff_seconds >= 0 && var.bulk_retry_maximum_backoff_seconds <= 600
    error_message = "bulk_retry_maximum_backoff_seconds must be between 0 and 600."
  }
}

variable "message_retention_days" {
  type        = number
  description = "Days an unacknowledged notification (on the push subscription) or a dead letter (on the dead-letter subscription) is kept."
  default     = 7

  validation {
    condition     = var.message_retention_days >= 1 && var.message_retention_days <= 7 && floor(var.message_retention_days) == var.message_retention_days
    error_message = "message_retention_days must be a whole number between 1 and 7 (Pub/Sub's subscription limit)."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Firestore
# ---------------------------------------------------------------------------------------------------------------------

variable "create_firestore_database" {
  type        = bool
  description = "Create the Firestore database (native mode). False uses an existing database named by firestore_database."
  default     = true
}

variable "firestore_database" {
  type        = string
  description = "Firestore database id: the one created when create_firestore_database is true, or the existing one to use (FIRESTORE_DATABASE). A project has at most one \"(default)\"."
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be \"(default)\" or 4-63 characters: lower-case letters, digits and hyphens."
  }
}

variable "firestore_location" {
  type        = string
  description = "Location of a created Firestore database (a region such as us-central1 or a multi-region such as nam5, eur3). Empty means var.region. Cannot change after creation."
  default     = ""
}

variable "firestore_delete_protection" {
  type        = bool
  description = "Turn on Firestore delete protection for a created database (must be turned off, and applied, before the database can be destroyed)."
  default     = true
}

variable "firestore_deletion_policy" {
  type        = string
  description = "What `terraform destroy` does to a created Firestore database: ABANDON leaves it (and its data) in the project, DELETE deletes it."
  default     = "ABANDON"

  validation {
    condition     = contains(["ABANDON", "DELETE"], var.firestore_deletion_policy)
    error_message = "firestore_deletion_policy must be ABANDON or DELETE."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------------------------------------------------

variable "publish_photo_events" {
  type        = bool
  description = "Create a topic and have the function publish photo.registered / photo.deregistered events to it."
  default     = false
}

variable "enable_dead_letter_alert" {
  type        = bool
  description = "Create the log-based error metric and the alert policy on dead-lettered notifications."
  default     = true
}

variable "alert_notification_emails" {
  type        = list(string)
  description = "E-mail addresses notified by the alert policy. Empty still creates the policy (visible in the console) without notifications."
  default     = []

  validation {
    condition     = alltrue([for e in var.alert_notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "Each entry of alert_notification_emails must be an e-mail address."
  }
}

variable "error_alert_threshold" {
  type        = number
  description = "Function ERROR log lines (transient failures and rejected deliveries, which end in the dead-letter topic if they persist) per 5 minutes above which the alert fires."
  default     = 10

  validation {
    condition     = var.error_alert_threshold >= 0
    error_message = "error_alert_threshold must not be negative."
  }
}

variable "enable_monitoring_dashboard" {
  type        = bool
  description = "Create the Cloud Monitoring dashboard (backlog and oldest message per lane, dead letters, render times, failures by code, instances, memory) and the log-based metrics it charts."
  default     = true
}

variable "enable_backlog_age_alerts" {
  type        = bool
  description = "Create one alert policy per lane on the age of its oldest unacknowledged message (thresholds in oldest_message_age_alert_seconds)."
  default     = true
}

variable "oldest_message_age_alert_seconds" {
  type        = map(number)
  description = "Per lane (live, bulk): the age in seconds of the oldest unacknowledged message above which that lane's alert fires (after 5 minutes above it). Live uploads should settle in seconds; bulk work may queue for long."
  default = {
    live = 300
    bulk = 3600
  }

  validation {
    condition     = alltrue([for lane in ["live", "bulk"] : contains(keys(var.oldest_message_age_alert_seconds), lane)]) && length(var.oldest_message_age_alert_seconds) == 2
    error_message = "oldest_message_age_alert_seconds must have exactly the keys live and bulk."
  }

  validation {
    condition     = alltrue([for seconds in values(var.oldest_message_age_alert_seconds) : seconds >= 60 && seconds <= 604800])
    error_message = "Each oldest_message_age_alert_seconds threshold must be between 60 s and 7 days."
  }
}
