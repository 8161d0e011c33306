"""What a video is, read from its container and stream headers before any frame is decoded, and the limits it meets.

The container is opened with the demuxer of the format the sniffer decided (QuickTime/MP4 or Matroska/WebM), never
one FFmpeg guesses from the bytes. Every limit in `VideoLimits` but the decode budget is checked here:

| code              | limit                                                                 |
| ----------------- | --------------------------------------------------------------------- |
| `too_large`       | `max_bytes`: the size of the uploaded file                            |
| `too_long`        | `max_seconds`: the duration the container declares                   |
| `too_many_pixels` | `max_pixels`: one frame, as the stream header says                    |
| `too_many_frames` | `max_frames`: the frame count declared, or duration x frame rate      |
| `bitrate_too_high`| `max_bitrate`: file size over duration                                |
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gallery.errors import CorruptVideoError, LimitExceededError, UnsupportedImageError
from gallery.model import ExifSummary, VideoLimits

if TYPE_CHECKING:
    import av.container

logger = logging.getLogger(__name__)

DEMUXERS = {"mp4": "mov", "mov": "mov", "webm": "matroska", "mkv": "matroska"}
PQ, HLG = 16, 18
CONTENT_IDENTIFIER_KEYS = ("com.apple.quicktime.content.identifier", "content_identifier")
_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class VideoFacts:
    """The container's and the video stream's headers; no frame has been decoded to learn them."""

    container: str  # as sniffed: mp4, mov, webm, mkv
    codec: str  # FFmpeg's decoder name: h264, hevc, vp9, av1, prores, ...
    coded_width: int  # one frame as stored (before the display rotation)
    coded_height: int
    sample_aspect: float  # pixel width over height (1.0 for square pixels)
    duration_s: float
    frame_rate: float | None
    frames: int  # declared, or estimated from duration x rate
    bit_rate: int  # bits per second over the whole file
    has_audio: bool
    bit_depth: int
    pixel_format: str
    primaries: int  # ITU-T H.273 code points, as the stream header says (2: unspecified)
    transfer: int
    matrix: int
    full_range: bool
    file_bytes: int
    metadata: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def pixels(self) -> int:
        return self.coded_width * self.coded_height

    @property
    def hdr(self) -> str | None:
        return {HLG: "hlg", PQ: "pq"}.get(self.transfer)

    @property
    def sample_bytes(self) -> int:
        """Bytes per decoded sample: 1 for 8-bit video, 2 for 10- and 12-bit."""
        return 1 if self.bit_depth <= 8 else 2

    @property
    def content_identifier(self) -> str | None:
        """Apple's content identifier, which the still of a Live Photo carries too."""
        return next((self.metadata[k] for k in CONTENT_IDENTIFIER_KEYS if self.metadata.get(k)), None)

    def summary(self) -> ExifSummary:
        """Taken-at, camera and place from the container's metadata (QuickTime keys, or their Matroska tags)."""
        meta = self.metadata
        gps = None
        place = meta.get("com.apple.quicktime.location.ISO6709") or meta.get("location")
        match = _ISO6709.match(place or "")
        if match:
            lat, lng = float(match.group(1)), float(match.group(2))
            if -90 <= lat <= 90 and -180 <= lng <= 180 and (lat, lng) != (0.0, 0.0):
                gps = (lat, lng)
        return ExifSummary(
            taken_at=_iso(meta.get("com.apple.quicktime.creationdate") or meta.get("creation_time")),
            camera_make=meta.get("com.apple.quicktime.make") or meta.get("make"),
            camera_model=meta.get("com.apple.quicktime.model") or meta.get("model"),
            gps=gps,
        )


def _iso(stamp: str | None) -> str | None:
    """A container's date as ISO 8601 with its offset (like a photo's taken_at), or None when unreadable."""
    if not stamp:
        return None
    text = stamp.strip().replace("Z", "+00:00")
    for pattern in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).isoformat(timespec="seconds")
        except ValueError:
            continue
    return None


def open_container(data: bytes, fmt: str) -> av.container.InputContainer:
    """The container opened by the demuxer of its sniffed format; damage is a CorruptVideoError."""
    import av  # PyAV and FFmpeg's libraries: loaded by the first video, never on a photo's cold start

    try:
        return av.open(io.BytesIO(data), mode="r", format=DEMUXERS[fmt])
    except (av.FFmpegError, ValueError, OSError, EOFError) as err:
        raise CorruptVideoError(f"the {fmt} container is damaged or truncated: {_short(err)}") from err


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def _metadata(container: av.container.InputContainer, stream: Any) -> dict[str, str]:
    meta = {str(k): str(v) for k, v in (stream.metadata or {}).items()}
    meta.update({str(k): str(v) for k, v in (container.metadata or {}).items()})
    return meta


def _duration(container: av.container.InputContainer, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return 0.0


def _bit_depth(pixel_format: Any) -> int:
    if pixel_format is None:
        return 8
    components = getattr(pixel_format, "components", ())
    return max((int(c.bits) for c in components), default=8)


def read_facts(container: av.container.InputContainer, fmt: str, file_bytes: int) -> VideoFacts:
    """The video stream's facts; a file without a decodable video stream is refused."""
    import av

    if not container.streams.video:
        raise CorruptVideoError(f"the {fmt} file holds no video stream")
    stream = container.streams.video[0]
    context = stream.codec_context
    if context is None:  # FFmpeg knows no decoder for the stream's codec tag
        raise UnsupportedImageError(
            "the video stream's codec is unknown or cannot be decoded", code="unsupported_codec"
        )
    try:
        av.codec.Codec(context.name, "r")
    except (av.FFmpegError, ValueError) as err:
        raise UnsupportedImageError(
            f"the video codec {context.name!r} cannot be decoded", code="unsupported_codec"
        ) from err
    width, height = int(context.width or 0), int(context.height or 0)
    if width <= 0 or height <= 0:
        raise CorruptVideoError(f"the video stream declares an empty {width}x{height} frame")
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    frame_rate = float(rate) if rate else None
    duration = _duration(container, stream)
    declared = int(stream.frames or 0)
    frames = declared or (round(duration * frame_rate) if frame_rate else 0)
    sar = stream.sample_aspect_ratio or context.sample_aspect_ratio
    pixel_format = context.format
    return VideoFacts(
        container=fmt,
        codec=context.name,
        coded_width=width,
        coded_height=height,
        sample_aspect=float(sar) if sar and float(sar) > 0 else 1.0,
        duration_s=round(duration, 3),
        frame_rate=round(frame_rate, 3) if frame_rate else None,
        frames=frames,
        bit_rate=round(file_bytes * 8 / duration) if duration > 0 else 0,
        has_audio=bool(container.streams.audio),
        bit_depth=_bit_depth(pixel_format),
        pixel_format=pixel_format.name if pixel_format is not None else "unknown",
        primaries=int(context.color_primaries or 2),
        transfer=int(context.color_trc or 2),
        matrix=int(context.colorspace or 2),
        full_range=int(context.color_range or 0) == 2,
        file_bytes=file_bytes,
        metadata=_metadata(container, stream),
    )


def check_video_bytes(size: int, limits: VideoLimits) -> None:
    if size > limits.max_bytes:
        raise LimitExceededError(
            f"the video is {size} bytes, over the {limits.max_bytes}-byte limit for videos", code="too_large"
        )


def check_video(facts: VideoFacts, limits: VideoLimits) -> None:
    """Refuse a video whose headers are over a limit, before any frame is decoded."""
    check_video_bytes(facts.file_bytes, limits)
    if facts.duration_s > limits.max_seconds:
        raise LimitExceededError(
            f"the video lasts {facts.duration_s:.0f} s, over the {limits.max_seconds:.0f}-second limit", code="too_long"
        )
    if facts.pixels > limits.max_pixels:
        raise LimitExceededError(
            f"the video's frames are {facts.coded_width}x{facts.coded_height} = {facts.pixels} pixels, over the "
            f"{limits.max_pixels}-pixel limit",
            code="too_many_pixels",
        )
    if facts.frames > limits.max_frames:
        raise LimitExceededError(
            f"the video has {facts.frames} frames, over the {limits.max_frames}-frame limit", code="too_many_frames"
        )
    if facts.bit_rate > limits.max_bitrate:
        raise LimitExceededError(
            f"the video's bitrate is {facts.bit_rate / 1e6:.0f} Mbit/s, over the {limits.max_bitrate / 1e6:.0f} "
            "Mbit/s limit",
            code="bitrate_too_high",
        )


def probe(data: bytes, fmt: str, limits: VideoLimits) -> VideoFacts:
    """Open, read and check a video's headers (the memory estimate's and the render's first step)."""
    check_video_bytes(len(data), limits)
    container = open_container(data, fmt)
    try:
        facts = read_facts(container, fmt, len(data))
    finally:
        container.close()
    check_video(facts, limits)
    return facts
