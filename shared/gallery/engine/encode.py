"""Encoders for the rendition formats, and what one encode costs in memory."""

from __future__ import annotations

from gallery.engine.colour import ICC_FIELD
from gallery.engine.vips import pyvips
from gallery.model import OutputFormat

# Working memory of one encode beyond its input pixels: a fixed part plus bytes per pixel of the rendition.
# Measured as the peak RSS rise of one encode (VIPS_CONCURRENCY=1, landscape_20mp.jpg at 640-2560 px):
# libaom (AVIF, effort 2-3) holds the source as YUV plus reference frames and analysis buffers, 9.3 / 24.3 /
# 75.8 MiB at 0.23 / 0.92 / 3.7 MP, so about 8 MiB + 20 B/px; libwebp 3.9 / 11.2 MiB at 0.92 / 3.7 MP, about
# 1 MiB + 3.5 B/px. JPEG (optimised progressive coding keeps every coefficient, 2 bytes each per sample at
# 4:2:0) is estimated, not measured: 1 MiB + 4 B/px.
_ENCODE_BYTES_PER_PIXEL: dict[OutputFormat, float] = {"avif": 20.0, "webp": 3.5, "jpeg": 4.0}
_ENCODE_FIXED_BYTES: dict[OutputFormat, int] = {"avif": 8 << 20, "webp": 1 << 20, "jpeg": 1 << 20}


def encode(image: pyvips.Image, fmt: OutputFormat, quality: int, *, webp_effort: int, avif_effort: int) -> bytes:
    """`image` (8-bit sRGB or Display P3, optional alpha) as `fmt` at `quality`, without metadata but a P3 profile.

    A JPEG is baseline with optimised Huffman tables: a progressive encode takes about 40 % more CPU for about
    3 % fewer bytes, and the JPEG renditions are the fast live set and, once optimized, the fallback."""
    keep = "icc" if image.get_typeof(ICC_FIELD) else "none"  # only a Display P3 image carries a profile
    if fmt == "webp":
        return bytes(image.webpsave_buffer(Q=quality, effort=webp_effort, keep=keep))
    if fmt == "avif":
        return bytes(image.heifsave_buffer(Q=quality, compression="av1", effort=avif_effort, keep=keep))
    flat = flatten_for(image, fmt)
    return bytes(flat.jpegsave_buffer(Q=quality, optimize_coding=True, interlace=False, keep=keep))


def flatten_for(image: pyvips.Image, fmt: OutputFormat) -> pyvips.Image:
    """What the encoder of `fmt` actually stores: JPEG has no alpha, so it is flattened onto white."""
    if fmt == "jpeg" and image.bands == 4:
        return image.flatten(background=[255, 255, 255])
    return image


def encode_memory_bytes(fmt: OutputFormat, width: int, height: int) -> int:
    """Peak working memory of one encode of a `width` x `height` rendition, beyond the input pixels."""
    return int(_ENCODE_FIXED_BYTES[fmt] + _ENCODE_BYTES_PER_PIXEL[fmt] * width * height)
