"""Render a video into a gallery item: a poster frame through the photos' rendition set, and a moving preview.

One pass over the first seconds, in named stages:

1. `read_facts` / `check_video`: container and stream headers against the limits, before any frame is decoded;
2. `choose_poster`: decode from the start, offering frames to the poster chooser (and, meanwhile, the preview);
3. `poster_image`: the chosen frame upright (display matrix, pixel aspect) and colour-managed (HDR tone-mapped),
   at most the largest rendition width, rendered by `render_decoded` exactly like a photo (paint-first included);
4. `finish_preview`: the rest of the preview's seconds, encoded as an H.264 MP4 (gallery.engine.video.motion).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gallery.engine.decode import Decoded, Header
from gallery.engine.render import PreviewSink, render_decoded
from gallery.engine.sniff import sniff_format
from gallery.engine.video.frames import (
    FrameReader,
    PosterChooser,
    as_vips,
    clockwise,
    frame_colour,
    from_vips,
    to_rgb,
    upright,
    upright_array,
)
from gallery.engine.video.motion import MotionEncoder, frame_step, preview_size
from gallery.engine.video.probe import VideoFacts, check_video, check_video_bytes, open_container, read_facts
from gallery.engine.video.tonemap import FrameColour
from gallery.engine.vips import pyvips
from gallery.errors import CorruptVideoError
from gallery.model import EncodedMotion, Limits, RenderResult, RenditionSpec, VideoInfo

if TYPE_CHECKING:
    import av.video.frame

    from gallery.presets.plan import VariantRequest

logger = logging.getLogger(__name__)

Frames = Iterator[tuple["av.video.frame.VideoFrame", float]]


def display_size(facts: VideoFacts, rotation: int) -> tuple[int, int]:
    """Width and height as shown: the pixel aspect applied, then the display rotation."""
    width = max(1, round(facts.coded_width * facts.sample_aspect))
    height = facts.coded_height
    return (height, width) if clockwise(rotation) in (90, 270) else (width, height)


class PreviewStage:
    """Feeds the preview encoder the frames of its first seconds, upright, colour-managed, at most 30 a second."""

    def __init__(self, facts: VideoFacts, spec: RenditionSpec, colour: FrameColour) -> None:
        self._facts = facts
        self._seconds = spec.video.preview_seconds
        self._longest = spec.video.preview_width
        self._colour = colour
        self._step = frame_step(facts.frame_rate)
        self._seen = 0
        self._encoder: MotionEncoder | None = None
        self._stored_size: tuple[int, int] = (0, 0)
        self.done = False

    def offer(self, frame: av.video.frame.VideoFrame, seconds: float, rotation: int) -> None:
        if self.done or seconds >= self._seconds - 1e-6:
            self.done = True
            return
        index, self._seen = self._seen, self._seen + 1
        if index % self._step:
            return
        if self._encoder is None:
            width, height = preview_size(*display_size(self._facts, rotation), self._longest)
            turned = clockwise(rotation) in (90, 270)
            self._stored_size = (height, width) if turned else (width, height)
            self._encoder = MotionEncoder(width, height, self._facts.frame_rate)
        pixels = self._colour.to_srgb8(to_rgb(frame, self._facts, self._stored_size))
        self._encoder.add(upright_array(pixels, rotation))

    def finish(self) -> EncodedMotion | None:
        if self._encoder is None:
            return None
        return self._encoder.finish()

    def abandon(self) -> None:
        if self._encoder is not None:
            self._encoder.abandon()


def choose_poster(frames: Frames, reader: FrameReader, preview: PreviewStage | None) -> tuple[Any, float]:
    """Decode until the poster is decided; returns the poster frame and its time."""
    chooser = PosterChooser()
    for frame, seconds in frames:
        if preview is not None:
            preview.offer(frame, seconds, reader.rotation)
        if chooser.offer(frame, seconds):
            break
    else:
        chooser.finish()
    if chooser.chosen is None:
        raise CorruptVideoError("no frame of the video could be decoded")
    stats, frame = chooser.chosen
    return frame, stats.time_s


def poster_image(
    frame: av.video.frame.VideoFrame, facts: VideoFacts, rotation: int, colour: FrameColour, spec: RenditionSpec
) -> pyvips.Image:
    """The poster frame upright, at its pixel aspect, at most the largest rendition width, in 8-bit sRGB."""
    image = as_vips(to_rgb(frame, facts))
    if abs(facts.sample_aspect - 1.0) > 1e-3:
        image = image.resize(facts.sample_aspect, vscale=1.0)
    image = upright(image, rotation)
    if image.width > max(spec.widths):
        image = image.resize(max(spec.widths) / image.width)  # lanczos3; keeps 16-bit samples (thumbnail would not)
    return as_vips(colour.to_srgb8(from_vips(image))).copy_memory()


def finish_preview(frames: Frames, reader: FrameReader, preview: PreviewStage) -> EncodedMotion | None:
    """Decode the rest of the preview's seconds and encode it."""
    for frame, seconds in frames:
        preview.offer(frame, seconds, reader.rotation)
        if preview.done:
            break
    return preview.finish()


def render_video(
    data: bytes,
    spec: RenditionSpec,
    limits: Limits,
    variants: VariantRequest | None = None,
    on_preview: PreviewSink | None = None,
    *,
    motion: bool = True,
) -> RenderResult:
    """A video's poster renditions (like a photo's), its facts and (with `motion`) its moving preview."""
    started = time.perf_counter()
    fmt = sniff_format(data)
    check_video_bytes(len(data), limits.video)
    container = open_container(data, fmt)
    preview: PreviewStage | None = None
    try:
        facts = read_facts(container, fmt, len(data))
        check_video(facts, limits.video)
        colour = frame_colour(facts)
        reader = FrameReader(container, limits.video.decode_seconds)
        frames = iter(reader)
        preview = PreviewStage(facts, spec, colour) if spec.video.preview and motion else None
        frame, poster_time = choose_poster(frames, reader, preview)
        try:
            image = poster_image(frame, facts, reader.rotation, colour, spec)
        except pyvips.Error as err:
            raise CorruptVideoError(f"the poster frame could not be rendered: {str(err).strip()[:300]}") from err
        del frame
        width, height = display_size(facts, reader.rotation)
        decoded = Decoded(header=Header(format=fmt, width=width, height=height, pages=1, exif=None), image=image)
        result = render_decoded(
            decoded, spec, variants, on_preview, started=started, decoded_at=time.perf_counter(), exif=facts.summary()
        )
        del decoded, image
        moving = finish_preview(frames, reader, preview) if preview is not None else None
    except BaseException:
        if preview is not None:
            preview.abandon()
        raise
    finally:
        container.close()
    if reader.ended_early:
        logger.warning("video decoding ended early (%s) after %d frames", reader.ended_early, reader.decoded)
    info = VideoInfo(
        container=fmt,
        codec=facts.codec,
        duration_s=facts.duration_s,
        frame_rate=facts.frame_rate,
        has_audio=facts.has_audio,
        bit_depth=facts.bit_depth,
        hdr=facts.hdr,
        rotation=clockwise(reader.rotation),
        poster_time_s=round(poster_time, 3),
        content_identifier=facts.content_identifier,
    )
    return replace(result, video=info, motion=moving, render_ms=round((time.perf_counter() - started) * 1000, 1))
