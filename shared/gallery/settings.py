"""Configuration, read once from the environment into a frozen, validated object.

Every field is one environment variable (the upper-case field name). `Settings.env_names()` is the
single list of what the code reads; Terraform and the local stack set exactly these.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

OutputFormat = Literal["webp", "avif", "jpeg"]

DEFAULT_WIDTHS: tuple[int, ...] = (320, 512, 768, 1024, 1280, 1600, 2048, 2560)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything the thumbnailer and the `gallery` CLI need to know about their environment."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    google_cloud_project: str = Field(
        default="gallery-local", min_length=1, description="Project that owns the Firestore database."
    )
    uploads_bucket: str = Field(
        default="gallery-uploads", min_length=3, max_length=222, description="Bucket users drop photos into."
    )
    renditions_bucket: str = Field(
        default="gallery-renditions",
        min_length=3,
        max_length=222,
        description="Bucket the renditions are written to; must differ from the uploads bucket.",
    )
    renditions_base_url: str = Field(
        default="",
        description=(
            "Public base URL of the renditions bucket used in `srcset` and rendition URLs; empty means "
            "https://storage.googleapis.com/RENDITIONS_BUCKET."
        ),
    )
    photos_collection: str = Field(
        default="photos", min_length=1, pattern=r"^[^/]+$", description="Firestore collection of photo documents."
    )
    firestore_database: str = Field(default="(default)", min_length=1, description="Firestore database id.")
    rendition_widths: Annotated[tuple[int, ...], NoDecode] = Field(
        default=DEFAULT_WIDTHS,
        description=(
            "Comma-separated rendition widths in pixels. Never upscaled: widths at or above a photo's own collapse "
            "into one rendition at its own width, so adding 16384 adds a full-size rendition, from the same decode."
        ),
    )
    rendition_formats: Annotated[tuple[OutputFormat, ...], NoDecode] = Field(
        default=("avif", "jpeg"),
        description=(
            "Comma-separated output formats: webp, avif, jpeg. Browsers take the first they support in the order "
            "avif, webp, jpeg (the served format); the others are fallbacks. avif,jpeg sends about a quarter fewer "
            "bytes than WebP at Q80 for the same SSIMULACRA2 and no more CPU (bench/quality.md)."
        ),
    )
    rendition_quality: int = Field(
        default=80,
        ge=1,
        le=100,
        description="Fixed encoder quality (1-100): of every format when QUALITY_TARGET is 0, else of the fallbacks.",
    )
    quality_target: float = Field(
        default=75.0,
        ge=0,
        lt=100,
        description=(
            "SSIMULACRA2 score (0-100; 70 high quality, 90 visually lossless) the served format is encoded to: the "
            "lowest quality within QUALITY_MIN..QUALITY_MAX that reaches it, decided per photo on a small "
            "rendition. 75 matches WebP at Q80 on average (bench/quality.md); 0 encodes every rendition at "
            "RENDITION_QUALITY, without the search."
        ),
    )
    quality_min: int = Field(default=30, ge=1, le=100, description="Lowest encoder quality the search may choose.")
    quality_max: int = Field(default=90, ge=1, le=100, description="Highest encoder quality the search may choose.")
    webp_effort: int = Field(
        default=2,
        ge=0,
        le=6,
        description=(
            "WebP encoder effort (0 fast … 6 small). 2 encodes the width set 2.2x faster than 4 for 4-5 % more "
            "bytes (bench/results.md)."
        ),
    )
    avif_effort: int = Field(
        default=0,
        ge=0,
        le=9,
        description=(
            "AVIF encoder effort (0 fast … 9 small). 0 keeps the set within the CPU of sharp's WebP; at equal "
            "SSIMULACRA2, 1 and 2 make 0-10 % fewer bytes for 2.3x and 4.7x the encode CPU, 3 another 10-15 % fewer "
            "for 5.8x (bench/quality.md)."
        ),
    )
    keep_wide_gamut: bool = Field(
        default=False,
        description=(
            "Keep wide gamut: a photo tagged Display P3, Adobe RGB or BT.2020 is rendered as Display P3 with a "
            "small embedded P3 profile (browsers honour it) instead of sRGB; sRGB photos stay untagged sRGB."
        ),
    )
    keep_gps: bool = Field(default=False, description="Store GPS coordinates from EXIF in the photo document.")
    max_pixels: int = Field(
        default=100_000_000, ge=1, description="Largest accepted image, in pixels, checked from the header."
    )
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1, description="Largest accepted upload, in bytes.")
    max_side: int = Field(
        default=30_000, ge=1, description="Longest accepted side of an image, in pixels, checked from the header."
    )
    max_frames: int = Field(
        default=500,
        ge=1,
        description="Most frames or pages accepted (animated GIF/WebP, multi-page TIFF, HEIF), from the header.",
    )
    instance_memory_mib: int = Field(
        default=2048,
        ge=256,
        le=32768,
        description=(
            "Memory of one instance, in MiB (Cloud Run's memory limit). Renders are admitted while their estimated "
            "peaks fit in it above the baseline; a photo whose estimate is over the whole budget fails with "
            "too_large_for_instance."
        ),
    )
    instance_baseline_mib: int = Field(
        default=200,
        ge=0,
        description=(
            "Memory an idle instance holds (Python, the server, the clients, libvips), in MiB, measured; "
            "the render budget is INSTANCE_MEMORY_MIB minus this."
        ),
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description=(
            "Deliveries that may begin processing one photo generation; the next one records it failed "
            "(too_many_attempts) instead of rendering. Keep it below the push subscription's max_delivery_attempts."
        ),
    )
    processing_lease_seconds: int = Field(
        default=600,
        ge=10,
        le=3600,
        description=(
            "How long a delivery holds a 'processing' photo: at least the function timeout. Backfill counts a "
            "processing photo as stuck only once its lease has expired."
        ),
    )
    max_request_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=32 * 1024 * 1024,
        description="Largest request body the function reads; a notification is about 2 KiB. Larger answers 400.",
    )
    events_topic: str = Field(
        default="",
        description=(
            "Pub/Sub topic (id or projects/P/topics/T) that receives photo.registered and photo.deregistered "
            "events; empty disables them."
        ),
    )
    presets_file: str = Field(
        default="",
        description=(
            "Path of a presets JSON file (docs/presets.md): derivative rendition sets with crops, filters and "
            "overlays; relative paths are relative to the working directory. Empty: no presets."
        ),
    )
    presets_json: str = Field(
        default="",
        description=(
            "The presets as a JSON document, instead of PRESETS_FILE (Terraform's `presets` variable sets it); "
            "image overlay paths are relative to the working directory."
        ),
    )
    fonts_dir: str = Field(
        default="",
        description="Folder of extra .ttf/.otf fonts for text overlays, on top of the bundled Noto fonts.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of the JSON log lines."
    )

    _split_widths = field_validator("rendition_widths", mode="before")(_split_csv)
    _split_formats = field_validator("rendition_formats", mode="before")(_split_csv)

    @field_validator("rendition_widths")
    @classmethod
    def _check_widths(cls, widths: tuple[int, ...]) -> tuple[int, ...]:
        if not widths:
            raise ValueError("at least one rendition width is required")
        if any(w < 16 or w > 16384 for w in widths):
            raise ValueError("rendition widths must be between 16 and 16384")
        return tuple(sorted(set(widths)))

    @field_validator("rendition_formats")
    @classmethod
    def _check_formats(cls, formats: tuple[OutputFormat, ...]) -> tuple[OutputFormat, ...]:
        if not formats:
            raise ValueError("at least one rendition format is required")
        return tuple(dict.fromkeys(formats))

    @model_validator(mode="after")
    def _check_buckets(self) -> Settings:
        if self.uploads_bucket == self.renditions_bucket:
            raise ValueError("renditions_bucket must differ from uploads_bucket, or renditions would re-trigger")
        return self

    @model_validator(mode="after")
    def _check_memory(self) -> Settings:
        if self.memory_budget_mib < 64:
            raise ValueError(
                "instance_baseline_mib must leave at least 64 MiB of instance_memory_mib for renders "
                f"({self.instance_memory_mib} - {self.instance_baseline_mib})"
            )
        return self

    @property
    def memory_budget_mib(self) -> int:
        """What renders may use at once: the instance's memory above its idle baseline."""
        return self.instance_memory_mib - self.instance_baseline_mib

    @model_validator(mode="after")
    def _check_quality_bounds(self) -> Settings:
        if self.quality_min > self.quality_max:
            raise ValueError("quality_min must not exceed quality_max")
        return self

    @property
    def renditions_url_prefix(self) -> str:
        base = self.renditions_base_url or f"https://storage.googleapis.com/{self.renditions_bucket}"
        return base.rstrip("/")

    @property
    def events_topic_path(self) -> str:
        if not self.events_topic or self.events_topic.startswith("projects/"):
            return self.events_topic
        return f"projects/{self.google_cloud_project}/topics/{self.events_topic}"

    @classmethod
    def env_names(cls) -> frozenset[str]:
        """The environment variables this object reads."""
        return frozenset(name.upper() for name in cls.model_fields)


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
