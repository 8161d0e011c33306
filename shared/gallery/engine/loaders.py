"""Open a photo with the libvips loader of the format the sniffer decided, never one picked from the bytes.

A file whose magic says PNG is read by the PNG loader and nothing else; a loader that rejects it fails the
photo as damaged. Shrink-on-load where the format has it: JPEG (`shrink`, DCT scaling) and WebP (`scale`).
TIFF: the full-resolution page of a pyramid, and variants libvips cannot decode are named in the refusal.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

from gallery.engine.vips import pyvips
from gallery.errors import UnsupportedImageError

_LOADERS: dict[str, Callable[..., pyvips.Image]] = {
    "jpeg": pyvips.Image.jpegload_buffer,
    "png": pyvips.Image.pngload_buffer,
    "gif": pyvips.Image.gifload_buffer,
    "webp": pyvips.Image.webpload_buffer,
    "tiff": pyvips.Image.tiffload_buffer,
    "avif": pyvips.Image.heifload_buffer,
    "heif": pyvips.Image.heifload_buffer,
}

# TIFF compression tag values (libtiff's tiff.h) named in a refusal.
_TIFF_COMPRESSIONS = {
    6: "old-style JPEG (OJPEG)",
    34925: "LZMA",
    34926: "ZSTD",
    50000: "ZSTD",
    34927: "WebP",
    50001: "WebP",
    34712: "JPEG 2000",
    33003: "JPEG 2000",
    33005: "JPEG 2000",
    34933: "PNG",
    34934: "JPEG XR",
    50002: "JPEG XL",
}
_TIFF_CIELAB = (8, 9, 10)  # CIELab, ICCLab, ITULab photometric interpretations


def open_image(data: bytes, fmt: str, **options: Any) -> pyvips.Image:
    """The photo opened lazily by its format's own loader, failing on the first decode error."""
    return _LOADERS[fmt](data, fail_on="error", **options)


def jpeg_shrink(display_width: int, target: int) -> int:
    """The largest JPEG DCT shrink (1, 2, 4, 8) that leaves at least twice `target` pixels across.

    As libvips' own thumbnail does: DCT scaling is a coarse block shrink, so the last 2x or more is left to
    the proper resize.
    """
    for shrink in (8, 4, 2):
        if display_width / shrink >= 2 * target:
            return shrink
    return 1


def webp_scale(display_width: int, target: int) -> float:
    """A WebP load scale that leaves at least twice `target` pixels across (1.0: no scaling)."""
    return min(1.0, 2 * target / display_width)


def load_options(fmt: str, width: int, target: int, page: int) -> dict[str, object]:
    """Shrink-on-load for a `target`-wide result from a `width`-wide photo, and the TIFF page, per format."""
    if fmt == "jpeg":
        return {"shrink": jpeg_shrink(width, target)}
    if fmt == "webp":
        return {"scale": webp_scale(width, target)}
    if fmt == "tiff":
        return {"page": page}
    return {}


def tiff_page(data: bytes, pages: int) -> int:
    """The page to render: the first, unless it is a reduced level of a pyramid whose full-size page follows.

    A pyramid stored as pages holds the same picture at several sizes; pages that merely share the first
    page's aspect ratio but are larger are taken as the full-resolution level. Other multi-page TIFFs
    (scans, animations) render their first page.
    """
    if pages <= 1:
        return 0
    first = open_image(data, "tiff", page=0)
    best, best_area = 0, first.width * first.height
    aspect = first.width / first.height
    for page in range(1, pages):
        image = open_image(data, "tiff", page=page)
        area = image.width * image.height
        if area > best_area and abs(image.width / image.height - aspect) < 0.02 * aspect:
            best, best_area = page, area
    return best


def tiff_tags(data: bytes) -> dict[int, Any]:
    """The first IFD's tags as Pillow reads them (header only); empty when Pillow cannot parse it."""
    from PIL import Image, UnidentifiedImageError  # by the first TIFF, not on every cold start

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged file's EXIF warnings: the loader reports damage itself
            with Image.open(io.BytesIO(data)) as image:
                return dict(image.tag_v2)  # type: ignore[attr-defined]
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return {}


def cielab8_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an 8-bit CIELab TIFF, else None.

    The bundled libvips reads 8-bit CIELab as LabQ and refuses it ("bad labq format"), its own output included,
    so such a file is decoded by Pillow (which unpacks the signed a*/b* samples) and converted to sRGB by
    LittleCMS instead. 16-bit and float CIELab load through libvips.
    """
    tags = tiff_tags(data)
    bits = tags.get(258)
    depth = bits[0] if isinstance(bits, tuple) and bits else bits
    if tags.get(262) not in _TIFF_CIELAB or depth != 8 or 256 not in tags or 257 not in tags:
        return None
    return int(tags[256]), int(tags[257])


def decode_cielab8(data: bytes) -> pyvips.Image:
    """An 8-bit CIELab TIFF's first page as 8-bit sRGB (relative colorimetric, D50 Lab to sRGB)."""
    from PIL import Image, ImageCms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode != "LAB":
                raise UnsupportedImageError(
                    f"8-bit CIELab TIFF read as {image.mode}: not supported", code="unsupported_format"
                )
            transform = ImageCms.buildTransform(
                ImageCms.createProfile("LAB"),
                ImageCms.createProfile("sRGB"),
                "LAB",
                "RGB",
                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            )
            rgb = ImageCms.applyTransform(image, transform)
    assert rgb is not None
    return pyvips.Image.new_from_memory(rgb.tobytes(), rgb.width, rgb.height, 3, "uchar")


def check_tiff_variant(data: bytes) -> None:
    """Refuse, by name, TIFF variants this libvips cannot decode correctly, before any pixel is read.

    Old-style JPEG (compression 6) decodes through libtiff as an empty, fully transparent image.
    """
    tags = tiff_tags(data)
    compression = tags.get(259)
    if compression == 6:
        raise UnsupportedImageError(
            "old-style JPEG (OJPEG, TIFF compression 6) is not supported: re-save the TIFF with JPEG or deflate",
            code="unsupported_format",
        )


def explain_tiff_failure(data: bytes, message: str) -> UnsupportedImageError | None:
    """An `unsupported_format` naming the TIFF variant behind a libvips load failure, if it is one."""
    tags = tiff_tags(data)
    compression, photometric = tags.get(259), tags.get(262)
    bits = tags.get(258)
    depth = bits[0] if isinstance(bits, tuple) and bits else bits
    # The tag decides, not only the message: libvips keeps one error buffer for all threads, so under
    # concurrent renders the message read here may be another photo's.
    codec_missing = "not configured" in message or "unknown compression" in message.lower()
    if compression in _TIFF_COMPRESSIONS or codec_missing:
        name = _TIFF_COMPRESSIONS.get(compression, f"compression {compression}") if compression else "its codec"
        return UnsupportedImageError(f"TIFF with {name} compression is not supported", code="unsupported_format")
    if photometric in _TIFF_CIELAB and depth == 8:
        return UnsupportedImageError(
            "8-bit CIELab TIFF is not supported (16-bit and float CIELab are)", code="unsupported_format"
        )
    return None


def _top_level_boxes(data: bytes) -> list[bytes]:
    """The types of an ISOBMFF file's top-level boxes (the sizes were checked by `check_isobmff_complete`)."""
    kinds, offset = [], 0
    while len(data) - offset >= 8:
        size = int.from_bytes(data[offset : offset + 4], "big")
        kinds.append(data[offset + 4 : offset + 8])
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size < 8:
            break
        offset += size
    return kinds


def check_still_image(data: bytes, fmt: str) -> None:
    """HEIF/AVIF: an image sequence renders its still (primary) image; one that only holds a track has none."""
    boxes = _top_level_boxes(data)
    if b"meta" not in boxes and b"moov" in boxes:
        raise UnsupportedImageError(
            f"this {fmt.upper()} image sequence holds only a track and no still image, which is not supported",
            code="unsupported_format",
        )
