"""Identify an image or video format from its magic bytes, whatever the object name or content type claims."""

from __future__ import annotations

from gallery.errors import UnsupportedImageError

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
# ISO base media brands of video files (MP4, QuickTime, 3GPP, M4V); "qt  " is QuickTime's own.
_MOV_BRANDS = {b"qt  "}
_MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso8", b"iso9", b"mp41", b"mp42", b"avc1"}
_MP4_BRANDS |= {
    b"M4V ",
    b"M4VH",
    b"M4VP",
    b"3gp4",
    b"3gp5",
    b"3gp6",
    b"3g2a",
    b"dash",
    b"MSNV",
    b"hvc1",
    b"av01",
    b"mmp4",
}
# The first box of an old QuickTime file without an ftyp box.
_QUICKTIME_FIRST_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_EBML = b"\x1a\x45\xdf\xa3"
VIDEO_FORMATS = frozenset({"mp4", "mov", "webm", "mkv"})


def sniff_format(data: bytes) -> str:
    """One of jpeg, png, gif, webp, tiff, avif, heif (photos) or mp4, mov, webm, mkv (videos); raises
    UnsupportedImageError otherwise."""
    if len(data) == 0:
        raise UnsupportedImageError("the file is empty", code="empty_file")
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic TIFF and BigTIFF
        return "tiff"
    if head[4:8] == b"ftyp":
        box_size = int.from_bytes(head[:4], "big")
        brands = {data[i : i + 4] for i in range(8, min(box_size, 64), 4) if i != 12}
        if brands & _AVIF_BRANDS and head[8:12] in _AVIF_BRANDS:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heif"
        if brands & _AVIF_BRANDS:
            return "avif"
        if head[8:12] in _MOV_BRANDS:
            return "mov"
        if brands & (_MP4_BRANDS | _MOV_BRANDS):
            return "mp4"
    if head[4:8] in _QUICKTIME_FIRST_BOXES and int.from_bytes(head[:4], "big") >= 8:
        return "mov"
    if head.startswith(_EBML):
        return "webm" if b"webm" in data[:64] else "mkv"
    raise UnsupportedImageError(
        "the file is not a supported image (JPEG, PNG, GIF, WebP, TIFF, HEIC/HEIF or AVIF) or video (MP4, MOV, "
        "WebM, Matroska)",
        code="unsupported_format",
    )


def is_video(fmt: str) -> bool:
    return fmt in VIDEO_FORMATS
