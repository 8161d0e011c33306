"""Render a photo into its rendition set from a single decode."""

from __future__ import annotations

import time

from gallery.engine.decode import decode
from gallery.engine.exif import read_exif
from gallery.engine.placeholder import placeholder_and_colour
from gallery.engine.vips import pyvips
from gallery.errors import CorruptImageError
from gallery.model import EncodedRendition, Limits, OutputFormat, RenderResult, RenditionSpec

_HUGE = 10_000_000


def target_widths(spec_widths: tuple[int, ...], image_width: int) -> tuple[int, ...]:
    """Widths to render, ascending: never upscale; widths at or above the photo's collapse into its own width."""
    below = [w for w in spec_widths if w < image_width]
    if len(below) < len(spec_widths):
        below.append(image_width)
    return tuple(sorted(set(below)))


def _encode(image: pyvips.Image, fmt: OutputFormat, spec: RenditionSpec) -> bytes:
    if fmt == "webp":
        return bytes(image.webpsave_buffer(Q=spec.quality, effort=spec.webp_effort, keep="none"))
    if fmt == "avif":
        return bytes(image.heifsave_buffer(Q=spec.quality, compression="av1", effort=spec.avif_effort, keep="none"))
    if image.bands == 4:
        image = image.flatten(background=[255, 255, 255])
    return bytes(image.jpegsave_buffer(Q=spec.quality, optimize_coding=True, interlace=True, keep="none"))


def _shrink(image: pyvips.Image, width: int) -> pyvips.Image:
    return image.thumbnail_image(width, height=_HUGE, size="down", no_rotate=True).copy_memory()


def render(data: bytes, spec: RenditionSpec, limits: Limits | None = None) -> RenderResult:
    """Decode `data` once and produce every rendition of `spec`, plus placeholder, colour and EXIF subset.

    Raises a PermanentError subclass for anything that is not a renderable image within `limits`.
    """
    started = time.perf_counter()
    decoded = decode(data, max(spec.widths), limits or Limits())
    header, current = decoded.header, decoded.image
    renditions: list[EncodedRendition] = []
    try:
        for width in reversed(target_widths(spec.widths, header.width)):
            if width < current.width:
                current = _shrink(current, width)  # each width from the next larger one, already in memory
            for fmt in spec.formats:
                renditions.append(EncodedRendition(current.width, current.height, fmt, _encode(current, fmt, spec)))
        placeholder, colour = placeholder_and_colour(current)
    except pyvips.Error as err:
        raise CorruptImageError(f"the image could not be rendered: {str(err).strip()[:300]}") from err
    renditions.sort(key=lambda r: (r.format, r.width))
    return RenderResult(
        source_format=header.format,
        width=header.width,
        height=header.height,
        has_alpha=decoded.image.bands == 4,
        renditions=tuple(renditions),
        placeholder=placeholder,
        dominant_color=colour,
        exif=read_exif(header.exif),
        render_ms=round((time.perf_counter() - started) * 1000, 1),
    )
