"""Encoders for the rendition formats, and what one encode costs in memory."""

from __future__ import annotations

from gallery.engine.colour import ICC_FIELD
from gallery.engine.vips import pyvips
from gallery.model import OutputFormat

# Working memory of one encode beyond its input pixels, in bytes per pixel of the rendition, with a fixed
# part for the encoder's own state. Measured as the peak RSS rise of one encode, VIPS_CONCURRENCY=1, on
# 0.3-7 MP renditions of samples/large (docs/renditions.md): libaom (AVIF, effort 1-4) holds the source in
# YUV 4:2:0 plus its reference frames and analysis buffers, about 14 B/px and 40 MiB; libwebp about 6 B/px;
# libjpeg with optimised progressive coding keeps every coefficient, about 4 B/px.
_ENCODE_BYTES_PER_PIXEL: dict[OutputFormat, float] = {"avif": 14.0, "webp": 6.0, "jpeg": 4.0}
_ENCODE_FIXED_BYTES: dict[OutputFormat, int] = {"avif": 40 << 20, "webp": 2 << 20, "jpeg": 1 << 20}


def encode(image: pyvips.Image, fmt: OutputFormat, quality: int, *, webp_effort: int, avif_effort: int) -> bytes:
    """`image` (8-bit sRGB or Display P3, optional alpha) as `fmt` at `quality`, without metadata but a P3 profile."""
    keep = "icc" if image.get_typeof(ICC_FIELD) else "none"  # only a Display P3 image carries a profile
    if fmt == "webp":
        return bytes(image.webpsave_buffer(Q=quality, effort=webp_effort, keep=keep))
    if fmt == "avif":
        return bytes(image.heifsave_buffer(Q=quality, compression="av1", effort=avif_effort, keep=keep))
    return bytes(flatten_for(image, fmt).jpegsave_buffer(Q=quality, optimize_coding=True, interlace=True, keep=keep))


def flatten_for(image: pyvips.Image, fmt: OutputFormat) -> pyvips.Image:
    """What the encoder of `fmt` actually stores: JPEG has no alpha, so it is flattened onto white."""
    if fmt == "jpeg" and image.bands == 4:
        return image.flatten(background=[255, 255, 255])
    return image


def encode_memory_bytes(fmt: OutputFormat, width: int, height: int) -> int:
    """Peak working memory of one encode of a `width` x `height` rendition, beyond the input pixels."""
    return int(_ENCODE_FIXED_BYTES[fmt] + _ENCODE_BYTES_PER_PIXEL[fmt] * width * height)
