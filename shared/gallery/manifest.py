"""Turn a render result into the fields of a ready photo document."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gallery.engine.sniff import VIDEO_FORMATS
from gallery.ids import motion_name, rendition_name
from gallery.model import EncodedMotion, EncodedRendition, PreviewResult, RenderResult

PREFERRED_SRC_WIDTH = 1280
# The widest-supported format present is the fallback: `src`, and the <img> of a <picture>.
FALLBACK_ORDER = ("jpeg", "webp", "avif")


def rendition_path(photo_id: str, generation: int, rendition: EncodedRendition) -> str:
    return rendition_name(photo_id, generation, rendition.width, rendition.extension)


def rendition_entries(
    renditions: Iterable[EncodedRendition], path_of: Callable[[EncodedRendition], str], url_prefix: str
) -> list[dict[str, Any]]:
    """One manifest entry per rendition: size, format, bytes, object path and public URL."""
    entries: list[dict[str, Any]] = []
    for rendition in renditions:
        path = path_of(rendition)
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
    return entries


def srcset_and_src(entries: list[dict[str, Any]]) -> tuple[dict[str, str], str | None]:
    """`srcset` per format, and a default `src`: the fallback format's widest rendition up to 1280 px."""
    srcset = {
        fmt: ", ".join(f"{e['url']} {e['width']}w" for e in entries if e["format"] == fmt)
        for fmt in dict.fromkeys(e["format"] for e in entries)
    }
    present = [e["format"] for e in entries]
    fallback = next((f for f in FALLBACK_ORDER if f in present), present[0] if present else None)
    fallback_entries = [e for e in entries if e["format"] == fallback]
    fitting = [e for e in fallback_entries if e["width"] <= PREFERRED_SRC_WIDTH] or fallback_entries[:1]
    return srcset, (fitting[-1]["url"] if fitting else None)


def media_type(source_format: str) -> str:
    """`video` for a video upload (its renditions are its poster's), else `photo`."""
    return "video" if source_format in VIDEO_FORMATS else "photo"


def motion_entry(motion: EncodedMotion, photo_id: str, generation: int, url_prefix: str) -> dict[str, Any]:
    """A video's moving preview: what a `<video muted loop playsinline>` needs."""
    path = motion_name(photo_id, generation, motion.extension)
    return {
        "width": motion.width,
        "height": motion.height,
        "duration_s": motion.duration_s,
        "codec": motion.codec,
        "content_type": motion.content_type,
        "bytes": len(motion.data),
        "path": path,
        "url": f"{url_prefix}/{path}",
    }


def _appearance(result: RenderResult | PreviewResult) -> dict[str, Any]:
    """Dimensions as displayed, source format, alpha, placeholder and dominant colour: what lays a tile out."""
    return {
        "media_type": media_type(result.source_format),
        "width": result.width,
        "height": result.height,
        "aspect_ratio": round(result.width / result.height, 6),
        "format": result.source_format,
        "has_alpha": result.has_alpha,
        "placeholder": {"type": "thumbhash", "value": result.placeholder},
        "dominant_color": result.dominant_color,
    }


def ready_fields(
    result: RenderResult, photo_id: str, generation: int, url_prefix: str, *, keep_gps: bool
) -> dict[str, Any]:
    """Manifest, `srcset` per format, a default `src`, dimensions, placeholder, colour and EXIF subset; the
    paint-first `preview` is gone once the set is ready."""
    entries = rendition_entries(result.renditions, lambda r: rendition_path(photo_id, generation, r), url_prefix)
    srcset, src = srcset_and_src(entries)
    return {
        **_appearance(result),
        "renditions": entries,
        "srcset": srcset,
        "src": src,
        "exif": result.exif.as_dict(keep_gps=keep_gps),
        "preview": None,
        "video": result.video.as_dict() if result.video else None,
        "motion": motion_entry(result.motion, photo_id, generation, url_prefix) if result.motion else None,
        # A Live Photo's link is made again once this generation is ready (gallery.live_photo).
        "live_photo": None,
        "part_of": None,
    }


def preview_fields(preview: PreviewResult, photo_id: str, generation: int, url_prefix: str) -> dict[str, Any]:
    """The fields a paint-first preview adds to a `processing` document: the tile's appearance, and under `preview`
    the renditions that already exist (a `srcset` per format and a `src`, shaped like the finished set's)."""
    entries = rendition_entries(preview.renditions, lambda r: rendition_path(photo_id, generation, r), url_prefix)
    srcset, src = srcset_and_src(entries)
    return {**_appearance(preview), "preview": {"renditions": entries, "srcset": srcset, "src": src}}
