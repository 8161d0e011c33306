"""A small, front-end-friendly subset of EXIF, read from the raw EXIF block.

EXIF strings come from the uploader: each text field is stored with control and format characters (including
bidirectional overrides) removed, whitespace runs collapsed to one space, and at most `MAX_TEXT_CHARS`
characters kept.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from typing import Any

from gallery.model import ExifSummary

logger = logging.getLogger(__name__)

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_MAKE, _MODEL = 0x010F, 0x0110
_DATETIME = 0x0132
_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, _LENS_MODEL = 0x9003, 0x9011, 0xA434

MAX_TEXT_CHARS = 128
"""Longest EXIF text kept (camera make/model, lens); real values are well under 64 characters."""

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})  # control, format, surrogate, private, unassigned


def clean_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`value` without control/format characters, whitespace collapsed, cut to `limit` characters."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    return " ".join(kept.split())[:limit].rstrip()


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value[: MAX_TEXT_CHARS * 8].decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    return clean_text(value) or None


def _taken_at(raw: Any, offset: Any) -> str | None:
    text = _text(raw)
    if not text or len(text) < 19 or text.startswith("0000"):
        return None
    iso = f"{text[0:4]}-{text[5:7]}-{text[8:10]}T{text[11:19]}"
    off = _text(offset)
    return iso + off if off and len(off) == 6 else iso


def _degrees(dms: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    if not math.isfinite(value):
        return None
    return round(-value if _text(ref) in ("S", "W") else value, 6)


def read_exif(blob: bytes | None) -> ExifSummary:
    """Taken-at, camera make/model, lens and GPS from an EXIF block; empty summary if absent or unreadable."""
    if not blob:
        return ExifSummary()
    from PIL import Image  # by the first photo with EXIF, not on every cold start

    try:
        exif = Image.Exif()
        exif.load(blob if blob.startswith(b"Exif") else b"Exif\x00\x00" + blob)
        sub = exif.get_ifd(_EXIF_IFD)
        gps_ifd = exif.get_ifd(_GPS_IFD)
    except Exception:  # a damaged EXIF block never fails a photo
        logger.warning("unreadable EXIF block ignored", exc_info=True)
        return ExifSummary()
    gps = None
    if gps_ifd:
        lat, lng = _degrees(gps_ifd.get(2), gps_ifd.get(1)), _degrees(gps_ifd.get(4), gps_ifd.get(3))
        if lat is not None and lng is not None and (lat, lng) != (0.0, 0.0):
            gps = (lat, lng)
    return ExifSummary(
        taken_at=_taken_at(sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME), sub.get(_OFFSET_TIME_ORIGINAL)),
        camera_make=_text(exif.get(_MAKE)),
        camera_model=_text(exif.get(_MODEL)),
        lens_model=_text(sub.get(_LENS_MODEL)),
        gps=gps,
    )
