"""Configuration, read once from the environment into a frozen, validated object.

Every field is one environment variable (the upper-case field name). `Settings.env_names()` is the
single list of what the code reads; Terraform and the local stack set exactly these, and docs/settings.md
is generated from the fields' descriptions (`make docs`).

A frozen dataclass with explicit validation rather than a settings framework: the function imports this on
every cold start, and pydantic-settings alone cost ~100 ms of it. Constructing `Settings(...)` validates
too, so no unchecked value exists; `Settings.from_env()` parses the environment's strings first.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypeVar

OutputFormat = Literal["webp", "avif", "jpeg"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

DEFAULT_WIDTHS: tuple[int, ...] = (320, 512, 768, 1024, 1280, 1600, 2048, 2560)

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})

T = TypeVar("T")
S = TypeVar("S", bound="Settings")


class SettingsError(ValueError):
    """One or more settings are invalid; the message names every offending variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def setting(
    default: T,
    description: str,
    *,
    ge: int | None = None,
    le: int | None = None,
    lt: int | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
) -> T:
    """A Settings field: its default, its documentation and its constraints."""
    rules = {"ge": ge, "le": le, "lt": lt, "min_length": min_length, "max_length": max_length, "pattern": pattern}
    metadata = {"description": description, **{k: v for k, v in rules.items() if v is not None}}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Everything the thumbnailer and the `gallery` tools need to know about their environment."""

    google_cloud_project: str = setting("gallery-local", "Project that owns the Firestore database.", min_length=1)
    lane: str = setting(
        "live",
        "The priority lane this function serves: live (the uploads bucket's notifications) or bulk (backfill, "
        "retry of many, import). Terraform and the local stack set it per service. The live lane acknowledges, "
        "without rendering, a photo whose uploader queued it on the bulk lane (`gallery import`), which the bulk "
        "lane renders.",
        pattern="^(live|bulk)$",
    )
    uploads_bucket: str = setting(
        "gallery-uploads",
        "Bucket users drop photos into; notifications for any other bucket are ignored.",
        min_length=3,
        max_length=222,
    )
    renditions_bucket: str = setting(
        "gallery-renditions",
        "Bucket the renditions are written to; must differ from the uploads bucket.",
        min_length=3,
        max_length=222,
    )
    renditions_base_url: str = setting(
        "",
        "Public base URL of the renditions bucket used in `srcset` and rendition URLs; empty means "
        "https://storage.googleapis.com/RENDITIONS_BUCKET.",
    )
    photos_collection: str = setting(
        "photos", "Firestore collection of photo documents.", min_length=1, pattern=r"^[^/]+$"
    )
    firestore_database: str = setting("(default)", "Firestore database id.", min_length=1)
    rendition_widths: tuple[int, ...] = setting(
        DEFAULT_WIDTHS,
        "Comma-separated rendition widths in pixels (16-16384). Never upscaled: widths at or above a photo's "
        "own collapse into one rendition at its own width, so adding 16384 adds a full-size rendition from the "
        "same decode. A rendition past a format's largest side (WebP 16383, AVIF 16384, JPEG 65500) is scaled "
        "down to fit, for that format only.",
    )
    rendition_formats: tuple[OutputFormat, ...] = setting(
        ("jpeg",),
        "Comma-separated formats of the live set, the renditions a photo is `ready` with: webp, avif, jpeg. "
        "Browsers take the first they support in the order avif, webp, jpeg (the served format); the others "
        "are fallbacks. The default, JPEG at RENDITION_QUALITY, is the fastest set every browser decodes; the "
        "optimize pass (OPTIMIZE) then adds AVIF and keeps JPEG as the fallback (docs/renditions.md).",
    )
    rendition_quality: int = setting(
        80,
        "Fixed encoder quality (1-100): of every format when QUALITY_TARGET is 0, else of the fallbacks.",
        ge=1,
        le=100,
    )
    quality_target: float = setting(
        0.0,
        "SSIMULACRA2 score (0-100; 70 high quality, 90 visually lossless) the live set's served format is "
        "encoded to: the lowest quality within QUALITY_MIN..QUALITY_MAX that reaches it, decided per photo on a "
        "small rendition. 0 (the default) encodes every live rendition at RENDITION_QUALITY, without the search: "
        "the search costs 0.15-0.5 s per photo whatever its size, so the live set leaves it to the optimize pass "
        "(OPTIMIZE_QUALITY_TARGET).",
        ge=0,
        lt=100,
    )
    quality_min: int = setting(30, "Lowest encoder quality the search may choose.", ge=1, le=100)
    quality_max: int = setting(90, "Highest encoder quality the search may choose.", ge=1, le=100)
    webp_effort: int = setting(
        2,
        "WebP encoder effort (0 fast … 6 small). 2 encodes the width set 2.2x faster than 4 for 4-5 % more "
        "bytes (bench/results.md).",
        ge=0,
        le=6,
    )
    avif_effort: int = setting(
        0,
        "AVIF encoder effort (0 fast … 9 small). 0 keeps the set within the CPU of sharp's WebP; at equal "
        "SSIMULACRA2, 1 and 2 make 0-10 % fewer bytes for 2.3x and 4.7x the encode CPU, 3 another 10-15 % fewer "
        "for 5.8x (bench/quality.md).",
        ge=0,
        le=9,
    )
    keep_wide_gamut: bool = setting(
        False,
        "Keep wide gamut: a photo tagged Display P3, Adobe RGB or BT.2020 is rendered as Display P3 with a "
        "small embedded P3 profile (browsers honour it) instead of sRGB; sRGB photos stay untagged sRGB. Part "
        "of the spec version: changing it makes backfill re-render.",
    )
    keep_gps: bool = setting(False, "Store GPS coordinates from EXIF in the photo document (never in renditions).")
    paint_first_megapixels: float = setting(
        4.0,
        "Photos of at least this many megapixels are painted first: as soon as the smallest width exists, the "
        "document (still `processing`) gets the dimensions, placeholder, colour and a `preview` with that "
        "rendition, so a page can paint the tile before the whole set is ready (docs/events.md). 0 paints every "
        "photo first; a value above MAX_PIXELS / 1e6 turns it off. Smaller photos are ready about as soon.",
        ge=0,
    )
    optimize: bool = setting(
        True,
        "Optimize pass: once a photo is ready, an optimize task on the bulk lane (PUBSUB_BULK_TOPIC) re-encodes "
        "its widths as AVIF at OPTIMIZE_QUALITY_TARGET with OPTIMIZE_AVIF_EFFORT, under new names, swaps the "
        "document's renditions and `srcset` in one write if the photo is unchanged, and keeps the live format "
        "only up to FALLBACK_MAX_WIDTH as the fallback (docs/renditions.md). false: photos keep their live set.",
    )
    optimize_quality_target: float = setting(
        72.5,
        "SSIMULACRA2 score the optimize pass encodes the AVIF renditions to (searched per photo on a small "
        "rendition, within QUALITY_MIN..QUALITY_MAX).",
        ge=1,
        lt=100,
    )
    optimize_avif_effort: int = setting(
        3,
        "AVIF encoder effort of the optimize pass (0 fast ... 9 small): the bulk lane spends CPU once for bytes "
        "sent on every view (bench/quality.md).",
        ge=0,
        le=9,
    )
    fallback_max_width: int = setting(
        1280,
        "Widest rendition of the live formats an optimized photo keeps as the fallback for browsers without AVIF; "
        "wider ones are superseded by the AVIF set (removed after SUPERSEDED_GRACE_DAYS).",
        ge=16,
        le=16384,
    )
    superseded_grace_days: int = setting(
        7,
        "Days a superseded rendition (replaced by the optimize pass) stays in the renditions bucket before it is "
        "deleted, for pages and caches that still hold its immutable URL: the bucket's lifecycle rule "
        "(Terraform) deletes it that long after the function marks it, and `gallery prune` does the same on "
        "any bucket.",
        ge=0,
        le=365,
    )
    max_pixels: int = setting(
        100_000_000, "Largest accepted image, in pixels, checked from the header before decoding.", ge=1
    )
    max_bytes: int = setting(64 * 1024 * 1024, "Largest accepted upload, in bytes.", ge=1)
    max_side: int = setting(30_000, "Longest accepted side of an image, in pixels, checked from the header.", ge=1)
    max_frames: int = setting(
        500, "Most frames or pages accepted (animated GIF/WebP, multi-page TIFF, HEIF), from the header.", ge=1
    )
    videos: bool = setting(
        True,
        "Videos (MP4, MOV, WebM, Matroska: H.264, HEVC, VP9, AV1, ProRes, ...) become gallery items: a poster frame "
        "rendered like a photo, their duration, rate, codec and audio, and a moving preview (docs/videos.md). "
        "false: a video fails as unsupported_format.",
    )
    video_preview: bool = setting(
        True,
        "Make a video's moving preview: its first VIDEO_PREVIEW_SECONDS as a silent, looping H.264 MP4 that a "
        "grid plays on hover. false: videos get their poster only.",
    )
    video_preview_seconds: float = setting(3.0, "Length of a video's moving preview, in seconds.", ge=1, le=10)
    video_preview_width: int = setting(
        480, "Longest side of a video's moving preview, in pixels (even; never above the video's own).", ge=64, le=1920
    )
    video_max_bytes: int = setting(
        256 * 1024 * 1024, "Largest accepted video upload, in bytes (MAX_BYTES is the photos' limit).", ge=1
    )
    video_max_seconds: float = setting(1800.0, "Longest accepted video, in seconds, from its container.", ge=1)
    video_max_pixels: int = setting(
        4096 * 2304,
        "Largest accepted video frame, in pixels, from its stream header (the default takes DCI 4K and every "
        "phone's UHD, and refuses 8K).",
        ge=1,
    )
    video_max_bitrate: int = setting(
        250_000_000, "Highest accepted average bitrate of a video, in bits per second (size / duration).", ge=1
    )
    video_decode_seconds: float = setting(
        20.0,
        "Wall-time budget for demuxing and decoding the frames a video's poster and preview need; a video that "
        "has not given a usable frame by then fails with decode_too_slow.",
        ge=1,
    )
    instance_memory_mib: int = setting(
        2048,
        "Memory of one instance, in MiB (Cloud Run's memory limit). Renders are admitted while their estimated "
        "peaks fit in it above the baseline; a photo whose estimate is over the whole budget fails with "
        "too_large_for_instance.",
        ge=256,
        le=32768,
    )
    instance_baseline_mib: int = setting(
        200,
        "Memory an idle instance holds (Python, the server, the clients, libvips), in MiB, measured; "
        "the render budget is INSTANCE_MEMORY_MIB minus this.",
        ge=0,
    )
    max_attempts: int = setting(
        5,
        "Deliveries that may begin processing one photo generation; the next one records it failed "
        "(too_many_attempts) instead of rendering. Keep it below the push subscription's max_delivery_attempts.",
        ge=1,
        le=100,
    )
    processing_lease_seconds: int = setting(
        30,
        "Lease of a delivery on the photo it processes, renewed every third of it while the delivery works, so a "
        "crashed instance's photos are taken over by their redelivery within one lease. A redelivery that finds "
        "the lease held waits up to 1.5 leases for it instead of answering busy. Keep 1.5 leases below the push "
        "subscription's ack deadline. Backfill counts a processing photo as stuck once its lease has expired.",
        ge=10,
        le=3600,
    )
    dead_letter_requeues: int = setting(
        1,
        "Dead letters of one photo generation re-queued on the bulk lane (PUBSUB_BULK_TOPIC) before it is recorded "
        "failed (dead_lettered), for photos that never reached an outcome and have deliveries left under "
        "MAX_ATTEMPTS: they were only busy, crashed with their instance or met an outage (docs/events.md). "
        "0 records every dead letter.",
        ge=0,
        le=10,
    )
    pubsub_bulk_topic: str = setting(
        "",
        "The bulk lane's topic (id or projects/P/topics/T): the function re-queues dead letters on it, and "
        "`gallery backfill`, `gallery retry --all/--code` and `gallery import` publish to it by default, so bulk "
        "work never delays live uploads (docs/operations.md). Terraform sets it for the function and in its "
        "output `cli_env`; `.devstack.env` sets it for the local stack.",
    )
    max_request_bytes: int = setting(
        64 * 1024,
        "Largest request body the function reads; a notification is about 2 KiB. Larger answers 400.",
        ge=1024,
        le=32 * 1024 * 1024,
    )
    events_topic: str = setting(
        "",
        "Pub/Sub topic (id or projects/P/topics/T) that receives photo.registered and photo.deregistered "
        "events; empty disables them.",
    )
    presets_file: str = setting(
        "",
        "Path of a presets JSON file (docs/presets.md): derivative rendition sets with crops, filters and "
        "overlays; relative paths are relative to the working directory. Empty: no presets.",
    )
    presets_json: str = setting(
        "",
        "The presets as a JSON document, instead of PRESETS_FILE (Terraform's `presets` variable sets it); "
        "image overlay paths are relative to the working directory.",
    )
    fonts_dir: str = setting("", "Folder of extra .ttf/.otf fonts for text overlays, on top of the bundled Noto fonts.")
    log_level: LogLevel = setting("INFO", "Minimum level of the JSON log lines.")

    def __post_init__(self) -> None:
        problems: list[str] = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            try:
                value = _check(field, _hints(type(self))[field.name], value)
            except ValueError as exc:
                problems.append(f"{field.name.upper()}: {exc}")
                continue
            object.__setattr__(self, field.name, value)
        if not problems and self.uploads_bucket == self.renditions_bucket:
            problems.append("renditions_bucket must differ from uploads_bucket, or renditions would re-trigger")
        if not problems and self.memory_budget_mib < 64:
            problems.append(
                "instance_baseline_mib must leave at least 64 MiB of instance_memory_mib for renders "
                f"({self.instance_memory_mib} - {self.instance_baseline_mib})"
            )
        if not problems and self.quality_min > self.quality_max:
            problems.append(f"QUALITY_MIN: must not exceed QUALITY_MAX ({self.quality_min} > {self.quality_max})")
        if problems:
            raise SettingsError(problems)

    @classmethod
    def from_env(cls: type[S], environ: Mapping[str, str] | None = None, **overrides: Any) -> S:
        """Settings from environment variables (names case-insensitive), then `overrides` by field name."""
        env = {key.upper(): value for key, value in (os.environ if environ is None else environ).items()}
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field in dataclasses.fields(cls):
            raw = env.get(field.name.upper())
            if raw is None:
                continue
            try:
                values[field.name] = _parse(_hints(cls)[field.name], raw)
            except ValueError as exc:
                problems.append(f"{field.name.upper()}: {exc} (got {raw!r})")
        if problems:
            raise SettingsError(problems)
        return cls(**{**values, **overrides})

    def replace(self: S, **changes: Any) -> S:
        """A validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    @property
    def memory_budget_mib(self) -> int:
        """What renders may use at once: the instance's memory above its idle baseline."""
        return self.instance_memory_mib - self.instance_baseline_mib

    @property
    def renditions_url_prefix(self) -> str:
        base = self.renditions_base_url or f"https://storage.googleapis.com/{self.renditions_bucket}"
        return base.rstrip("/")

    @property
    def events_topic_path(self) -> str:
        return topic_path(self.events_topic, self.google_cloud_project)

    @property
    def bulk_topic_path(self) -> str:
        return topic_path(self.pubsub_bulk_topic, self.google_cloud_project)

    @classmethod
    def env_names(cls) -> frozenset[str]:
        """The environment variables this object reads."""
        return frozenset(field.name.upper() for field in dataclasses.fields(cls))

    @classmethod
    def describe(cls) -> list[SettingDoc]:
        """Every setting's variable, type, default and description, in declaration order (for the docs)."""
        return [
            SettingDoc(
                env=field.name.upper(),
                type=_type_text(_hints(cls)[field.name]),
                default=_default_text(field.default),
                description=str(field.metadata["description"]),
            )
            for field in dataclasses.fields(cls)
        ]


@dataclass(frozen=True)
class SettingDoc:
    env: str
    type: str
    default: str
    description: str


def topic_path(topic: str, project: str) -> str:
    """A topic id or full path as ``projects/P/topics/T``; empty stays empty."""
    if not topic or topic.startswith("projects/"):
        return topic
    return f"projects/{project}/topics/{topic}"


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The fields' resolved types (annotations are strings here), computed once per class."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _parse(hint: Any, raw: str) -> Any:
    """An environment string as a value of `hint` (checked afterwards by `_check`)."""
    if typing.get_origin(hint) is tuple:
        (item, _) = typing.get_args(hint)
        return tuple(_parse(item, part.strip()) for part in raw.split(",") if part.strip())
    if hint is bool:
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ValueError("must be true or false")
        return word in _TRUE
    if hint is int:
        try:
            return int(raw.strip().replace("_", ""))
        except ValueError:
            raise ValueError("must be an integer") from None
    if hint is float:
        try:
            return float(raw.strip())
        except ValueError:
            raise ValueError("must be a number") from None
    return raw


def _check(field: dataclasses.Field[Any], hint: Any, value: Any) -> Any:
    """`value` checked against the field's type and constraints, normalized (tuples sorted or de-duplicated)."""
    rules = field.metadata
    if typing.get_origin(hint) is tuple:
        if isinstance(value, str) or not isinstance(value, tuple | list):
            raise ValueError("must be a list")
        (item, _) = typing.get_args(hint)
        items = [_check_scalar(item, v) for v in value]
        if not items:
            raise ValueError(f"at least one rendition {'width' if item is int else 'format'} is required")
        if item is int:
            if any(w < 16 or w > 16384 for w in items):
                raise ValueError("rendition widths must be between 16 and 16384")
            return tuple(sorted(set(items)))
        return tuple(dict.fromkeys(items))
    value = _check_scalar(hint, value)
    if "ge" in rules and value < rules["ge"]:
        raise ValueError(f"must be at least {rules['ge']} (got {value})")
    if "le" in rules and value > rules["le"]:
        raise ValueError(f"must be at most {rules['le']} (got {value})")
    if "lt" in rules and value >= rules["lt"]:
        raise ValueError(f"must be below {rules['lt']} (got {value})")
    if "min_length" in rules and len(value) < rules["min_length"]:
        raise ValueError(f"must be at least {rules['min_length']} characters (got {value!r})")
    if "max_length" in rules and len(value) > rules["max_length"]:
        raise ValueError(f"must be at most {rules['max_length']} characters")
    if "pattern" in rules and not re.search(rules["pattern"], value):
        raise ValueError(f"must match {rules['pattern']} (got {value!r})")
    return value


def _check_scalar(hint: Any, value: Any) -> Any:
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(map(str, choices))} (got {value!r})")
        return value
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"must be an integer (got {value!r})")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"must be a finite number (got {value!r})")
        return float(value)
    if not isinstance(value, hint):
        raise ValueError(f"must be a {hint.__name__} (got {value!r})")
    return value


def _type_text(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"list of {_type_text(typing.get_args(hint)[0])}"
    if typing.get_origin(hint) is Literal:
        return " \\| ".join(map(str, typing.get_args(hint)))
    return str(hint.__name__)


def _default_text(default: Any) -> str:
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env()


def settings_markdown(cls: type[Settings] = Settings) -> str:
    """A Markdown table of every setting of `cls` with its type, default and description (docs/settings.md)."""
    lines = ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
    for doc in cls.describe():
        default = f"`{doc.default}`" if doc.default else "(empty)"
        lines.append(f"| `{doc.env}` | {doc.type} | {default} | {doc.description} |")
    return "\n".join(lines) + "\n"
