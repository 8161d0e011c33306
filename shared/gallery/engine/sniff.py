"""Identify an image format from its magic bytes, whatever the object name or content type claims."""

from __future__ import annotations

from gallery.errors import UnsupportedImageError

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff_format(data: bytes) -> str:
    """One of jpeg, png, gif, webp, tiff, avif, heif; raises UnsupportedImageError otherwise."""
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
    raise UnsupportedImageError(
        "the file is not a supported image (JPEG, PNG, GIF, WebP, TIFF, HEIC/HEIF or AVIF)",
        code="unsupported_format",
    )
