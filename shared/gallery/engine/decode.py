"""Read the header, enforce limits, and decode once to the largest size any rendition needs."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pillow_heif

from gallery.engine.limits import check_bytes, check_header, check_isobmff_complete
from gallery.engine.sniff import sniff_format
from gallery.engine.vips import pyvips
from gallery.errors import CorruptImageError, UnsupportedImageError
from gallery.model import Limits

_HUGE = 10_000_000  # a height bound that never constrains: renditions are sized by width
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
    image: pyvips.Image  # 8-bit sRGB (+ alpha), upright, in memory, at the largest needed width


def _vips_error(format_name: str, err: pyvips.Error) -> CorruptImageError:
    detail = str(err).strip().splitlines()
    return CorruptImageError(f"the {format_name} data is damaged or truncated: {' '.join(detail)[:300]}")


def _check_limits(width: int, height: int, size: int, limits: Limits, pages: int = 1) -> None:
    check_header(width, height, pages, size, limits)  # bytes, pixels, longest side, frames: see limits.py


def _to_srgb8(image: pyvips.Image) -> pyvips.Image:
    """Grey, 16-bit, CMYK or Lab become 8-bit sRGB; an alpha band is kept."""
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    return image.cast("uchar") if image.format != "uchar" else image


def _decode_with_vips(data: bytes, fmt: str, max_width: int, limits: Limits) -> Decoded:
    try:
        probe = pyvips.Image.new_from_buffer(data, "", access="sequential")
    except pyvips.Error as err:
        raise _vips_error(fmt, err) from err
    orientation = probe.get("orientation") if probe.get_typeof("orientation") else 1
    width, height = (probe.height, probe.width) if orientation in _SWAPS_AXES else (probe.width, probe.height)
    pages = probe.get("n-pages") if probe.get_typeof("n-pages") else 1
    exif = probe.get("exif-data") if probe.get_typeof("exif-data") else None
    _check_limits(width, height, len(data), limits, pages)
    header = Header(format=fmt, width=width, height=height, pages=pages, exif=exif)
    try:
        # fail_on must reach the loader through option_string: thumbnail's own fail_on is not passed on.
        thumb = pyvips.Image.thumbnail_buffer(
            data, min(max_width, width), height=_HUGE, size="down", option_string="fail_on=error"
        )
        image = _to_srgb8(thumb).copy_memory()
    except pyvips.Error as err:
        raise _vips_error(fmt, err) from err
    return Decoded(header=header, image=image)


def _decode_heif(data: bytes, max_width: int, limits: Limits) -> Decoded:
    """HEIC/HEIF through libheif (pillow-heif): the libvips in pyvips-binary has no HEVC decoder."""
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    except (ValueError, RuntimeError) as err:
        raise CorruptImageError(f"the HEIF data is damaged or truncated: {err}") from err
    width, height = heif.size  # libheif applies the container's rotation and mirroring
    _check_limits(width, height, len(data), limits, len(heif))
    exif = heif.info.get("exif")
    header = Header(format="heif", width=width, height=height, pages=len(heif), exif=exif)
    try:
        mode = heif.mode
        bands = {"RGB": 3, "RGBA": 4}.get(mode)
        if bands is None:
            raise UnsupportedImageError(f"HEIF pixel mode {mode} is not supported", code="unsupported_format")
        raw = heif.data  # libheif's own buffer, not a copy: a 12 MP photo is 36 MB
        stride = heif.stride
    except (ValueError, RuntimeError) as err:
        raise CorruptImageError(f"the HEIF data is damaged or truncated: {err}") from err
    full = pyvips.Image.new_from_memory(raw, stride // bands, height, bands, "uchar")
    if stride // bands != width:
        full = full.crop(0, 0, width, height)
    icc = heif.info.get("icc_profile")
    if icc:
        full = full.copy()
        full.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    try:
        thumb = full.thumbnail_image(min(max_width, width), height=_HUGE, size="down", no_rotate=True)
        image = _to_srgb8(thumb).copy_memory()
    except pyvips.Error as err:
        raise _vips_error("HEIF", err) from err
    return Decoded(header=header, image=image)


def decode(data: bytes, max_width: int, limits: Limits) -> Decoded:
    """Check the header against `limits`, then decode once, shrinking on load to at most `max_width`."""
    fmt = sniff_format(data)
    check_bytes(len(data), limits)
    if fmt in ("heif", "avif"):
        check_isobmff_complete(data)  # libheif would render a truncated file's missing tiles as grey
    if fmt == "heif":
        return _decode_heif(data, max_width, limits)
    return _decode_with_vips(data, fmt, max_width, limits)
