"""Values that flow through the pipeline: events, the rendition spec, render results, registry outcomes."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from gallery.settings import Settings

OutputFormat = Literal["webp", "avif", "jpeg"]

CONTENT_TYPES: dict[str, str] = {"webp": "image/webp", "avif": "image/avif", "jpeg": "image/jpeg"}
EXTENSIONS: dict[str, str] = {"webp": "webp", "avif": "avif", "jpeg": "jpg"}

# Bump when the engine's output changes for the same spec, so backfill knows to re-render.
ENGINE_VERSION = 5  # 2: colour-managed to sRGB (or kept Display P3), formats pinned to their own loader; 3: the
# quality target applies to the served format only, fallbacks at the fixed quality; 4: the smallest width is shrunk
# straight from the decode (what a paint-first preview shows), not from the next larger width; 5: JPEG renditions
# are baseline (the live set is made for speed; the optimize pass makes the served bytes small)


class EventKind(enum.Enum):
    FINALIZE = "finalize"
    DELETE = "delete"
    IGNORE = "ignore"


@dataclass(frozen=True)
class ObjectEvent:
    """A Cloud Storage object notification, reduced to what the pipeline acts on.

    `metadata` is the object's custom metadata from the notification payload; None when the notification
    carried no object resource (payload format NONE), so it has to be read from the object if needed.
    """

    kind: EventKind
    event_type: str
    bucket: str
    name: str
    generation: int
    content_type: str | None = None
    size: int | None = None
    overwritten_by_generation: int | None = None
    overwrote_generation: int | None = None
    event_time: str | None = None
    message_id: str | None = None
    delivery_attempt: int | None = None
    metadata: Mapping[str, str] | None = None
    queued_on: str | None = None
    """The lane an operator's tool queued this notification on (attribute QUEUED_ON_ATTRIBUTE); None for the
    bucket's own notifications."""
    task: str | None = None
    """What the function is asked to do with the object: None to register it (a notification), or a follow-up
    task of a registered photo (attribute TASK_ATTRIBUTE, e.g. ``optimize``)."""

    @property
    def is_overwrite_delete(self) -> bool:
        """A DELETE that only means a newer generation replaced this one: not a deregistration."""
        return self.kind is EventKind.DELETE and self.overwritten_by_generation is not None


@dataclass(frozen=True)
class VideoSpec:
    """What a video becomes besides its poster's renditions: the moving preview a grid plays on hover."""

    enabled: bool = True  # False: a video upload fails as an unsupported format, as before videos were taken
    preview: bool = True  # a short, silent, looping H.264 MP4 of the video's first seconds
    preview_seconds: float = 3.0
    preview_width: int = 480  # the longer side for a portrait video: the preview fits a preview_width square

    @property
    def key(self) -> str:
        return f"{self.enabled}|{self.preview}|{self.preview_seconds:g}|{self.preview_width}"


@dataclass(frozen=True)
class RenditionSpec:
    """What to render: widths (ascending), formats and encoder settings."""

    widths: tuple[int, ...]
    formats: tuple[OutputFormat, ...]
    quality: int = 80  # the fixed quality, used when quality_target is 0
    webp_effort: int = 2
    avif_effort: int = 2
    keep_wide_gamut: bool = False  # wide-gamut photos stay Display P3 (tagged) instead of becoming sRGB
    presets_digest: str = ""  # of the operator's presets (gallery.presets); empty without presets
    quality_target: float = 0.0  # SSIMULACRA2 score the served format aims for; 0 means every rendition at `quality`
    quality_min: int = 30  # bounds of the quality search
    quality_max: int = 90
    video: VideoSpec = field(default_factory=VideoSpec)

    @classmethod
    def from_settings(cls, settings: Settings, presets_digest: str = "") -> RenditionSpec:
        """The rendition set and encoder settings the configuration asks for."""
        return cls(
            widths=settings.rendition_widths,
            formats=settings.rendition_formats,
            quality=settings.rendition_quality,
            webp_effort=settings.webp_effort,
            avif_effort=settings.avif_effort,
            keep_wide_gamut=settings.keep_wide_gamut,
            presets_digest=presets_digest,
            quality_target=settings.quality_target,
            quality_min=settings.quality_min,
            quality_max=settings.quality_max,
            video=VideoSpec(
                enabled=settings.videos,
                preview=settings.video_preview,
                preview_seconds=settings.video_preview_seconds,
                preview_width=settings.video_preview_width,
            ),
        )

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> RenditionSpec:
        """The spec `dataclasses.asdict` (through JSON) turned into `fields`: for renders in another process."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        if isinstance(values.get("video"), Mapping):
            values["video"] = VideoSpec(**values["video"])
        return cls(**values)

    @property
    def version(self) -> str:
        """Changes whenever the output would change, so stale documents can be found and re-rendered."""
        key = (
            f"{ENGINE_VERSION}|{self.widths}|{self.formats}|{self.quality}|{self.webp_effort}|{self.avif_effort}"
            f"|{self.keep_wide_gamut}"
        )
        if self.presets_digest:
            key += f"|presets={self.presets_digest}"
        if self.quality_target:
            key += f"|{self.quality_target:g}|{self.quality_min}|{self.quality_max}"
        if self.video != VideoSpec():  # the defaults keep the version photos were rendered with
            key += f"|video={self.video.key}"
        return f"v{ENGINE_VERSION}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class VideoLimits:
    """Checked from a video's container and stream headers before any frame is decoded, and while decoding."""

    max_bytes: int = 256 * 1024 * 1024
    max_seconds: float = 1800.0
    max_pixels: int = 4096 * 2304  # one frame: DCI 4K and every phone's UHD; 8K is refused by default
    max_frames: int = 30 * 60 * 120  # declared (or duration x rate): 30 minutes at 120 fps
    max_bitrate: int = 250_000_000  # bits per second, over the whole file
    decode_seconds: float = 20.0  # wall time for demuxing and decoding the frames a poster and preview need


@dataclass(frozen=True)
class Limits:
    """Checked from the header before any pixel is decoded."""

    max_pixels: int = 100_000_000
    max_bytes: int = 64 * 1024 * 1024
    max_side: int = 30_000
    max_frames: int = 500
    video: VideoLimits = field(default_factory=VideoLimits)

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> Limits:
        """The limits `dataclasses.asdict` turned into `fields`."""
        values = dict(fields)
        if isinstance(values.get("video"), Mapping):
            values["video"] = VideoLimits(**values["video"])
        return cls(**values)

    @property
    def download_bytes(self) -> int:
        """The most bytes any accepted upload may have: a photo's limit, or a video's."""
        return max(self.max_bytes, self.video.max_bytes)


@dataclass(frozen=True)
class ExifSummary:
    taken_at: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens_model: str | None = None
    gps: tuple[float, float] | None = None

    def as_dict(self, *, keep_gps: bool) -> dict[str, object]:
        out: dict[str, object] = {
            "taken_at": self.taken_at,
            "camera_make": self.camera_make,
            "camera_model": self.camera_model,
            "lens_model": self.lens_model,
        }
        if keep_gps and self.gps is not None:
            out["gps"] = {"lat": self.gps[0], "lng": self.gps[1]}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class EncodedRendition:
    width: int
    height: int
    format: OutputFormat
    data: bytes

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


@dataclass(frozen=True)
class VariantRendering:
    """One preset's renditions of a photo, in one language (None when the preset has no languages)."""

    preset: str
    language: str | None
    renditions: tuple[EncodedRendition, ...]


@dataclass(frozen=True)
class RenderResult:
    """Everything the engine learned and produced from one photo."""

    source_format: str
    width: int
    height: int
    has_alpha: bool
    renditions: tuple[EncodedRendition, ...]
    placeholder: str
    dominant_color: str
    exif: ExifSummary = field(default_factory=ExifSummary)
    render_ms: float = 0.0
    variants: tuple[VariantRendering, ...] = ()
    decode_ms: float = 0.0
    """Of render_ms: reading the header and decoding (shrinking on load) the photo."""
    video: VideoInfo | None = None
    """What a video upload is (duration, rate, codec, audio, poster time); None for a photo."""
    motion: EncodedMotion | None = None
    """A video's moving preview, when one was made."""


@dataclass(frozen=True)
class VideoInfo:
    """The facts about a video a gallery shows or needs (its poster is the result's renditions)."""

    container: str  # mp4, mov, webm, mkv
    codec: str  # h264, hevc, vp9, av1, prores, ...
    duration_s: float
    frame_rate: float | None
    has_audio: bool
    bit_depth: int
    hdr: str | None  # "hlg" or "pq": the poster and preview were tone-mapped to SDR
    rotation: int  # degrees clockwise applied to the stored frames to show them upright
    poster_time_s: float
    content_identifier: str | None = None  # Apple's, shared with the still of a Live Photo

    def as_dict(self) -> dict[str, object]:
        return {
            "container": self.container,
            "codec": self.codec,
            "duration_s": self.duration_s,
            "frame_rate": self.frame_rate,
            "has_audio": self.has_audio,
            "bit_depth": self.bit_depth,
            "hdr": self.hdr,
            "rotation": self.rotation,
            "poster_time_s": self.poster_time_s,
            "content_identifier": self.content_identifier,
        }


@dataclass(frozen=True)
class EncodedMotion:
    """A short, silent, looping clip a page plays inline (an H.264 MP4)."""

    width: int
    height: int
    duration_s: float
    data: bytes
    codec: str = "h264"
    content_type: str = "video/mp4"
    extension: str = "mp4"


@dataclass(frozen=True)
class PreviewResult:
    """What a page needs to paint a photo's tile before its whole set exists (paint first).

    From the same decode as the set: the smallest width's renditions in the formats encoded at a fixed quality (no
    search to wait for), byte for byte the ones the finished set lists, and the placeholder and colour the finished
    set carries.
    """

    source_format: str
    width: int
    height: int
    has_alpha: bool
    renditions: tuple[EncodedRendition, ...]
    placeholder: str
    dominant_color: str


class PhotoStatus(enum.StrEnum):
    """The `status` of a photo document (stored as its string value)."""

    PROCESSING = "processing"  # a delivery of this generation is rendering it (or was, and will be redelivered)
    READY = "ready"  # renditions stored, manifest written
    FAILED = "failed"  # permanently failed: `error.code` and `error.reason` say why
    RETRYING = "retrying"  # failed, then re-queued by `gallery retry`; the next delivery renders it again

    @property
    def settled(self) -> bool:
        """Whether processing is over for the document's generation (until its spec changes or it is retried)."""
        return self in (PhotoStatus.READY, PhotoStatus.FAILED)

    @classmethod
    def of(cls, doc: Mapping[str, Any] | None) -> PhotoStatus | None:
        """The status of a stored document; None without a document. Anything unknown counts as processing."""
        if doc is None:
            return None
        try:
            return cls(str(doc.get("status")))
        except ValueError:
            return cls.PROCESSING


class BeginOutcome(enum.Enum):
    """What the registry says when a FINALIZE asks to start processing."""

    PROCEED = "proceed"
    STALE = "stale"  # a newer generation is registered
    DONE = "done"  # this generation is already ready with the current spec
    BUSY = "busy"  # another delivery holds the lease: it is rendering, or died and the lease has not run out
    EXHAUSTED = "exhausted"  # past the delivery cap: recorded failed (too_many_attempts) instead of rendering


LANES = ("live", "bulk")
QUEUED_ON_ATTRIBUTE = "galleryQueuedOn"
"""Message attribute of the notifications `gallery backfill`/`retry`/`import` publish: the lane they chose."""
REQUEUED_ATTRIBUTE = "galleryRequeued"
"""Message attribute of a notification the function re-queued itself (value: why, e.g. ``dead_letter``)."""
TASK_ATTRIBUTE = "galleryTask"
"""Message attribute of a follow-up task the function queues on the bulk lane for a ready photo (OPTIMIZE_TASK)."""
OPTIMIZE_TASK = "optimize"
TASKS = (OPTIMIZE_TASK,)
LANE_METADATA_KEY = "gallery-lane"
"""Custom metadata an upload carries when its uploader queues it on a lane itself (`gallery import`: bulk)."""


@dataclass(frozen=True)
class QueueFigures:
    """What a queue source says about one subscription now; None where it has no figure (yet)."""

    backlog: int | None = None
    """Messages published to the subscription and not yet acknowledged (nor dead-lettered)."""
    oldest_unacked_age_seconds: float | None = None
    """Age of the oldest of them; 0 or None when there are none."""


@dataclass(frozen=True)
class LiveObject:
    """What Cloud Storage says about the live (current) generation of an object."""

    generation: int
    size: int | None = None
    content_type: str | None = None
    lane: str | None = None
    """The priority lane its uploader queued it on (custom metadata LANE_METADATA_KEY), e.g. "bulk" for an import."""
