"""Read the header, enforce limits, and decode once to the largest size any rendition needs."""

from __future__ import annotations

import io
from dataclasses import dataclass

from gallery.engine.colour import HLG, PQ, SourceColour, avif_colour, from_nclx, managed_thumbnail
from gallery.engine.limits import check_bytes, check_header, check_isobmff_complete
from gallery.engine.loaders import (
    check_still_image,
    check_tiff_variant,
    cielab8_size,
    decode_with_pillow,
    explain_tiff_failure,
    load_options,
    open_image,
    pillow_tiff,
    tiff_declares_alpha,
    tiff_page,
)
from gallery.engine.sniff import is_video, sniff_format
from gallery.engine.vips import pyvips
from gallery.errors import CorruptImageError, GalleryError, UnsupportedImageError
from gallery.model import Limits

_SWAPS_AXES = {5, 6, 7, 8}


@dataclass(frozen=True)
class Header:
    format: str
    width: int  # as displayed, after EXIF orientation
    height: int
    pages: int
    exif: bytes | None


@dataclass(frozen=True)
class Decoded:
    header: Header
    image: pyvips.Image  # 8-bit sRGB or tagged P3 (+ alpha), upright, in memory, at the largest needed width


def _vips_error(format_name: str, err: pyvips.Error) -> CorruptImageError:
    detail = str(err).strip().splitlines()
    return CorruptImageError(f"the {format_name} data is damaged or truncated: {' '.join(detail)[:300]}")


def _check_limits(width: int, height: int, size: int, limits: Limits, pages: int = 1) -> None:
    check_header(width, height, pages, size, limits)  # bytes, pixels, longest side, frames: see limits.py


def _transparent(image: pyvips.Image) -> bool:
    """True when an alpha band exists and every pixel is fully transparent."""
    return image.bands in (2, 4) and image[image.bands - 1].max() == 0


def _check_not_misdecoded(data: bytes, fmt: str, image: pyvips.Image) -> None:
    """Refuse a TIFF that stores no alpha sample yet decodes to a fully transparent image.

    libtiff's RGBA reader turns a codec it cannot really decode into an empty, fully transparent picture. An image
    whose file does store alpha (PNG, WebP, GIF, AVIF, a TIFF with an extra sample) may be fully transparent: a
    spacer or a blank layer renders like any other image with alpha.
    """
    if fmt == "tiff" and _transparent(image) and not tiff_declares_alpha(data):
        raise CorruptImageError("the tiff data decodes to a fully transparent image, but the file stores no alpha")


def _pillow_pixels(data: bytes, page: int = 0) -> pyvips.Image:
    """`decode_with_pillow`, with Pillow's errors for damaged data as CorruptImageError."""
    try:
        return decode_with_pillow(data, page)
    except (OSError, ValueError, EOFError) as err:
        raise CorruptImageError(f"the tiff data is damaged or truncated: {str(err)[:300]}") from err


def _decode_cielab8(data: bytes, size: tuple[int, int], max_width: int, limits: Limits, wide: bool) -> Decoded:
    width, height = size
    _check_limits(width, height, len(data), limits)
    try:
        image = managed_thumbnail(_pillow_pixels(data), min(max_width, width), SourceColour(), wide)
    except pyvips.Error as err:
        raise _vips_error("tiff", err) from err
    return Decoded(header=Header(format="tiff", width=width, height=height, pages=1, exif=None), image=image)


def _open_pixels(data: bytes, fmt: str, page: int, options: dict[str, object]) -> pyvips.Image:
    """The photo's pixels: from its own libvips loader, or from Pillow for a TIFF compression only Pillow decodes
    (the header, and with it the limits, was read by libvips before)."""
    if fmt == "tiff" and pillow_tiff(data):
        return _pillow_pixels(data, page)
    return open_image(data, fmt, access="sequential", **options)


def _decode_with_vips(data: bytes, fmt: str, max_width: int, limits: Limits, keep_wide_gamut: bool) -> Decoded:
    if fmt == "tiff":
        check_tiff_variant(data)
        lab_size = cielab8_size(data)
        if lab_size is not None:
            return _decode_cielab8(data, lab_size, max_width, limits, keep_wide_gamut)
    try:
        probe = open_image(data, fmt, access="sequential")
        pages = probe.get("n-pages") if probe.get_typeof("n-pages") else 1
        page = 0
        if fmt == "tiff" and pages > 1:
            _check_limits(probe.width, probe.height, len(data), limits, pages)
            page = tiff_page(data, pages)  # a pyramid's full-resolution level, never a reduced one
            probe = open_image(data, fmt, access="sequential", page=page)
    except pyvips.Error as err:
        raise _load_error(data, fmt, err) from err
    orientation = probe.get("orientation") if probe.get_typeof("orientation") else 1
    width, height = (probe.height, probe.width) if orientation in _SWAPS_AXES else (probe.width, probe.height)
    exif = probe.get("exif-data") if probe.get_typeof("exif-data") else None
    _check_limits(width, height, len(data), limits, pages)
    header = Header(format=fmt, width=width, height=height, pages=pages, exif=exif)
    target = min(max_width, width)
    try:
        loaded = _open_pixels(data, fmt, page, load_options(fmt, width, target, page))
        colour = avif_colour(data, loaded) if fmt == "avif" else SourceColour()
        image = managed_thumbnail(loaded, target, colour, keep_wide_gamut)
    except pyvips.Error as err:
        raise _load_error(data, fmt, err) from err
    _check_not_misdecoded(data, fmt, image)
    return Decoded(header=header, image=image)


def _load_error(data: bytes, fmt: str, err: pyvips.Error) -> GalleryError:
    explained = explain_tiff_failure(data, str(err)) if fmt == "tiff" else None
    return explained or _vips_error(fmt, err)


_HEIF_MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1, "I;16L": 1, "RGB;16": 3, "RGBA;16": 4}


def _decode_heif(data: bytes, max_width: int, limits: Limits, keep_wide_gamut: bool) -> Decoded:
    """HEIC/HEIF through libheif (pillow-heif): the libvips in pyvips-binary has no HEVC decoder.

    pillow-heif (and PIL with it) is imported here, by the first HEIF photo, not on every cold start.
    """
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        nclx = heif.info.get("nclx_profile")
        if nclx and nclx.get("transfer_characteristics") in (PQ, HLG):
            heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)  # tone-mapped from 10 bits
    except (ValueError, RuntimeError) as err:
        raise CorruptImageError(f"the HEIF data is damaged or truncated: {err}") from err
    width, height = heif.size  # libheif applies the container's rotation and mirroring
    _check_limits(width, height, len(data), limits, len(heif))
    exif = heif.info.get("exif")
    header = Header(format="heif", width=width, height=height, pages=len(heif), exif=exif)
    try:
        mode = heif.mode
        bands = _HEIF_MODES.get(mode)
        if bands is None:
            raise UnsupportedImageError(f"HEIF pixel mode {mode} is not supported", code="unsupported_format")
        raw = heif.data  # libheif's own buffer, not a copy: a 12 MP photo is 36 MB
        stride = heif.stride
    except (ValueError, RuntimeError) as err:
        raise CorruptImageError(f"the HEIF data is damaged or truncated: {err}") from err
    sixteen = mode.startswith("I;16") or mode.endswith(";16")
    sample = 2 if sixteen else 1
    pixel_format = "ushort" if sixteen else "uchar"
    full = pyvips.Image.new_from_memory(raw, stride // (bands * sample), height, bands, pixel_format)
    if stride // (bands * sample) != width:
        full = full.crop(0, 0, width, height)
    grey = bands <= 2
    interpretation = ("grey16" if grey else "rgb16") if sixteen else ("b-w" if grey else "srgb")
    full = full.copy(interpretation=interpretation)
    icc = heif.info.get("icc_profile")
    colour = SourceColour(icc=icc) if icc else from_nclx(nclx, grey=grey)
    try:
        image = managed_thumbnail(full, min(max_width, width), colour, keep_wide_gamut, no_rotate=True)
    except pyvips.Error as err:
        raise _vips_error("HEIF", err) from err
    return Decoded(header=header, image=image)


def refuse_video(fmt: str) -> None:
    """A video reaches the image decoder only when videos are turned off (VIDEOS=false)."""
    if is_video(fmt):
        raise UnsupportedImageError(
            f"the file is a video ({fmt}) and videos are turned off (VIDEOS=false)", code="unsupported_format"
        )


def decode(data: bytes, max_width: int, limits: Limits, keep_wide_gamut: bool = False) -> Decoded:
    """Check the header against `limits`, then decode once, shrinking on load to at most `max_width`.

    The result is sRGB; with `keep_wide_gamut`, a photo tagged with a wider gamut stays Display P3 and keeps
    the P3 profile (see colour.py).
    """
    fmt = sniff_format(data)
    refuse_video(fmt)
    check_bytes(len(data), limits)
    if fmt in ("heif", "avif"):
        check_isobmff_complete(data)  # libheif would render a truncated file's missing tiles as grey
        check_still_image(data, fmt)
    if fmt == "heif":
        return _decode_heif(data, max_width, limits, keep_wide_gamut)
    return _decode_with_vips(data, fmt, max_width, limits, keep_wide_gamut)
