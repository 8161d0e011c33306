"""Turn a render result into the fields of a ready photo document."""

from __future__ import annotations

from typing import Any

from gallery.ids import rendition_name
from gallery.model import EncodedRendition, RenderResult

PREFERRED_SRC_WIDTH = 1280
# The widest-supported format present is the fallback: `src`, and the <img> of a <picture>.
FALLBACK_ORDER = ("jpeg", "webp", "avif")


def rendition_path(photo_id: str, generation: int, rendition: EncodedRendition) -> str:
    return rendition_name(photo_id, generation, rendition.width, rendition.extension)


def ready_fields(
    result: RenderResult, photo_id: str, generation: int, url_prefix: str, *, keep_gps: bool
) -> dict[str, Any]:
    """Manifest, `srcset` per format, a default `src`, dimensions, placeholder, colour and EXIF subset."""
    entries: list[dict[str, Any]] = []
    srcset: dict[str, str] = {}
    for rendition in result.renditions:
        path = rendition_path(photo_id, generation, rendition)
        entries.append(
            {
                "width": rendition.width,
                "height": rendition.height,
                "format": rendition.format,
                "content_type": rendition.content_type,
                "bytes": len(rendition.data),
                "path": path,
                "url": f"{url_prefix}/{path}",
            }
        )
    for fmt in dict.fromkeys(r["format"] for r in entries):
        same = [r for r in entries if r["format"] == fmt]
        srcset[fmt] = ", ".join(f"{r['url']} {r['width']}w" for r in same)
    present = [r["format"] for r in entries]
    fallback = next((f for f in FALLBACK_ORDER if f in present), present[0])
    fallback_entries = [r for r in entries if r["format"] == fallback]
    fitting = [r for r in fallback_entries if r["width"] <= PREFERRED_SRC_WIDTH] or fallback_entries[:1]
    return {
        "width": result.width,
        "height": result.height,
        "aspect_ratio": round(result.width / result.height, 6),
        "format": result.source_format,
        "has_alpha": result.has_alpha,
        "renditions": entries,
        "srcset": srcset,
        "src": fitting[-1]["url"],
        "placeholder": {"type": "thumbhash", "value": result.placeholder},
        "dominant_color": result.dominant_color,
        "exif": result.exif.as_dict(keep_gps=keep_gps),
    }
