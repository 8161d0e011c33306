"""The limits a photo must satisfy, checked from its header (or its size) before any pixel is decoded.

Each breach is a `LimitExceededError` (a permanent failure) with its own machine-readable code:

| code              | limit                                                                  |
| ----------------- | ---------------------------------------------------------------------- |
| `too_large`       | `Limits.max_bytes`: the size of the uploaded file                      |
| `too_many_pixels` | `Limits.max_pixels`: width x height of one frame, as the header says   |
| `side_too_long`   | `Limits.max_side`: the longest side of one frame                       |
| `too_many_frames` | `Limits.max_frames`: frames or pages (animated GIF/WebP, TIFF, HEIF)   |
"""

from __future__ import annotations

from gallery.errors import CorruptImageError, LimitExceededError
from gallery.model import Limits


def check_bytes(size: int, limits: Limits) -> None:
    """Refuse a file larger than `limits.max_bytes`."""
    if size > limits.max_bytes:
        raise LimitExceededError(f"the file is {size} bytes, over the {limits.max_bytes}-byte limit", code="too_large")


def check_header(width: int, height: int, pages: int, size: int, limits: Limits) -> None:
    """Refuse an image whose header is over a limit; `width`/`height` are one frame's, `pages` the frame count."""
    check_bytes(size, limits)
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"the header declares an empty {width}x{height} image")
    if width * height > limits.max_pixels:
        raise LimitExceededError(
            f"the image is {width}x{height} = {width * height} pixels, over the {limits.max_pixels}-pixel limit",
            code="too_many_pixels",
        )
    if max(width, height) > limits.max_side:
        raise LimitExceededError(
            f"the image is {width}x{height}: its longest side is over the {limits.max_side}-pixel limit",
            code="side_too_long",
        )
    if pages > limits.max_frames:
        raise LimitExceededError(
            f"the image has {pages} frames or pages, over the {limits.max_frames}-frame limit", code="too_many_frames"
        )


def check_isobmff_complete(data: bytes) -> None:
    """HEIF/AVIF: every top-level box must end inside the file.

    libheif renders a truncated file's missing tiles as grey instead of failing, so a cut-off upload is
    caught here, from the box sizes, before anything is decoded.
    """
    offset, end = 0, len(data)
    while end - offset >= 8:
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        header = 8
        if size == 0:  # the last box runs to the end of the file
            return
        if size == 1:  # 64-bit size after the type
            size, header = int.from_bytes(data[offset + 8 : offset + 16], "big"), 16
        if size < header:
            raise CorruptImageError(f"the {kind!r} box at byte {offset} declares an impossible size of {size} bytes")
        if offset + size > end:
            raise CorruptImageError(
                f"the file is truncated: the {kind!r} box at byte {offset} needs {size} bytes, {end - offset} are left"
            )
        offset += size
