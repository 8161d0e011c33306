"""Open a photo with the libvips loader of the format the sniffer decided, never one picked from the bytes.

A file whose magic says PNG is read by the PNG loader and nothing else; a loader that rejects it fails the
photo as damaged. Shrink-on-load where the format has it: JPEG (`shrink`, DCT scaling) and WebP (`scale`).
TIFF: the full-resolution page of a pyramid; variants the bundled libvips cannot decode are either decoded by
Pillow (8-bit CIELab, LZMA and ZSTD compression: `pillow_tiff`, `decode_with_pillow`) or named in the refusal.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gallery.engine.colour import ICC_FIELD
from gallery.engine.vips import pyvips
from gallery.errors import LimitExceededError, UnsupportedImageError

if TYPE_CHECKING:
    from PIL import Image as PILImage

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
# Compressions the bundled libtiff lacks but Pillow's libtiff decodes: the pixels come from Pillow, the header
# (size, pages, orientation, profile) from libvips as for any TIFF.
_PILLOW_COMPRESSIONS = frozenset({34925, 34926, 50000})  # LZMA, ZSTD (its provisional and registered codes)
_ORIENTATION = 274
# Colour samples per pixel of each photometric interpretation; a sample beyond them is an extra (alpha) sample.
_COLOUR_SAMPLES = {0: 1, 1: 1, 3: 1, 4: 1, 2: 3, 6: 3, 8: 3, 9: 3, 10: 3, 5: 4}


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
    """The first IFD's tags as Pillow reads them (header only); empty when Pillow cannot parse it.

    The IFD is read directly, not through `Image.open`, whose decompression-bomb check would refuse a large
    image before the configured limits are applied to its header.
    """
    from PIL import TiffImagePlugin  # by the first TIFF, not on every cold start

    bigtiff = data[2:4] in (b"+\x00", b"\x00+")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged file's tag warnings: the loader reports damage itself
            ifd = TiffImagePlugin.ImageFileDirectory_v2(data[:16] if bigtiff else data[:8])
            stream = io.BytesIO(data)
            stream.seek(ifd.next)
            ifd.load(stream)
            return dict(ifd)
    except (OSError, ValueError, SyntaxError, struct.error):
        return {}


def cielab8_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an 8-bit CIELab TIFF, else None.

    The bundled libvips reads 8-bit CIELab as LabQ and refuses it ("bad labq format"), its own output included,
    so such a file is decoded by Pillow (which unpacks the signed a*/b* samples) and converted to sRGB by
    LittleCMS instead. 16-bit and float CIELab load through libvips. The size is as displayed, after the EXIF
    orientation, as `decode_with_pillow` renders it.
    """
    tags = tiff_tags(data)
    bits = tags.get(258)
    depth = bits[0] if isinstance(bits, tuple) and bits else bits
    if tags.get(262) not in _TIFF_CIELAB or depth != 8 or 256 not in tags or 257 not in tags:
        return None
    width, height = int(tags[256]), int(tags[257])
    return (height, width) if tags.get(_ORIENTATION) in (5, 6, 7, 8) else (width, height)


def pillow_tiff(data: bytes) -> bool:
    """True for a TIFF whose compression only Pillow decodes here (its header still reads through libvips)."""
    return tiff_tags(data).get(259) in _PILLOW_COMPRESSIONS


def tiff_declares_alpha(data: bytes) -> bool:
    """True when the TIFF stores a sample per pixel beyond its photometric interpretation's colours (alpha)."""
    tags = tiff_tags(data)
    photometric, samples = tags.get(262), tags.get(277, 1)
    colours = _COLOUR_SAMPLES.get(photometric, 1) if isinstance(photometric, int) else 1
    return 338 in tags or (isinstance(samples, int) and samples > colours)


# Pillow modes read directly: (bands, libvips format, interpretation); others are converted first (`_plain`).
_PILLOW_MODES = {
    "L": (1, "uchar", "b-w"),
    "LA": (2, "uchar", "b-w"),
    "RGB": (3, "uchar", "srgb"),
    "RGBA": (4, "uchar", "srgb"),
    "CMYK": (4, "uchar", "cmyk"),
    "I;16": (1, "ushort", "grey16"),  # little-endian, as libvips reads memory on the hosts this runs on
}
_PILLOW_CONVERSIONS = {"1": "L", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB", "YCbCr": "RGB", "PA": "RGBA"}


def _plain(image: PILImage.Image) -> PILImage.Image:
    """`image` in one of `_PILLOW_MODES`: bilevel as grey, palette as RGB(A), 16-bit of either byte order as I;16."""
    mode = image.mode
    if mode in _PILLOW_MODES:
        return image
    if mode.startswith("I;16"):
        return image.convert("I;16")
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.convert(_PILLOW_CONVERSIONS.get(mode, "RGB"))


def _lab_to_srgb(image: PILImage.Image) -> PILImage.Image:
    """An 8-bit CIELab image as 8-bit sRGB (relative colorimetric, D50 Lab to sRGB) through LittleCMS."""
    from PIL import ImageCms

    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"),
        ImageCms.createProfile("sRGB"),
        "LAB",
        "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )
    rgb = ImageCms.applyTransform(image, transform)
    assert rgb is not None
    return rgb


def _as_vips(image: PILImage.Image, orientation: int, icc: bytes | None) -> pyvips.Image:
    """A copy of `image` (one of `_PILLOW_MODES`) that libvips reads, with the orientation still to apply and
    the profile as metadata; libvips keeps the copied bytes alive for as long as the image lives."""
    bands, pixel_format, interpretation = _PILLOW_MODES[image.mode]
    pixels = pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height, bands, pixel_format)
    result = pixels.copy(interpretation=interpretation)
    if orientation != 1:
        result.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    if icc:
        result.set_type(pyvips.GValue.blob_type, ICC_FIELD, icc)
    return result


def decode_with_pillow(data: bytes, page: int = 0) -> pyvips.Image:
    """A TIFF page decoded whole by Pillow, as a libvips image with its orientation and ICC profile as metadata.

    8-bit CIELab is converted to sRGB. Pillow's decoded page and one copy of its bytes are held at once; the
    Pillow image is released on return. Raises what Pillow raises for damaged data (OSError, ValueError,
    EOFError), and LimitExceededError for an image over Pillow's own pixel ceiling.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EXIF and size warnings: the header limits were checked already
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.seek(page)
                image.load()
                # Pillow turns a TIFF page upright on load and then drops the tag: one that is left is still to apply
                tags = image.tag_v2  # type: ignore[attr-defined]
                orientation = int(tags.get(_ORIENTATION, 1))
                if image.mode == "LAB":
                    return _as_vips(_lab_to_srgb(image), orientation, None)
                if tags.get(262) in _TIFF_CIELAB:
                    raise UnsupportedImageError(
                        f"CIELab TIFF read as {image.mode}: not supported", code="unsupported_format"
                    )
                return _as_vips(_plain(image), orientation, image.info.get("icc_profile") or None)
        except Image.DecompressionBombError as err:
            raise LimitExceededError(
                f"the image is over the pixel ceiling of Pillow, which decodes this TIFF: {err}", code="too_many_pixels"
            ) from err


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
