"""Where variant renditions are stored and how the photo document lists them.

Object names: `{photo_id}/{generation}/{preset}/{language}/{width}.{ext}`, or `{photo_id}/{generation}/{preset}/
{width}.{ext}` for a preset without languages. They sit under the generation's prefix, so they are replaced and
removed with the photo's default renditions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from gallery.manifest import PREFERRED_SRC_WIDTH
from gallery.model import EncodedRendition, VariantRendering


def variant_path(pid: str, generation: int, variant: VariantRendering, rendition: EncodedRendition) -> str:
    lang = f"{variant.language}/" if variant.language else ""
    return f"{pid}/{generation}/{variant.preset}/{lang}{rendition.width}.{rendition.extension}"


def variant_files(
    variants: Sequence[VariantRendering], pid: str, generation: int
) -> Iterator[tuple[str, EncodedRendition]]:
    for variant in variants:
        for rendition in variant.renditions:
            yield variant_path(pid, generation, variant, rendition), rendition


def variant_fields(
    variants: Sequence[VariantRendering], pid: str, generation: int, url_prefix: str
) -> list[dict[str, Any]]:
    """Per preset and language: the renditions, `srcset` per format and a default `src`."""
    out: list[dict[str, Any]] = []
    for variant in variants:
        entries: list[dict[str, Any]] = []
        for rendition in variant.renditions:
            path = variant_path(pid, generation, variant, rendition)
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
        srcset = {
            fmt: ", ".join(f"{e['url']} {e['width']}w" for e in entries if e["format"] == fmt)
            for fmt in dict.fromkeys(e["format"] for e in entries)
        }
        first = [e for e in entries if entries and e["format"] == entries[0]["format"]]
        fitting = [e for e in first if e["width"] <= PREFERRED_SRC_WIDTH] or first[:1]
        out.append(
            {
                "preset": variant.preset,
                "language": variant.language,
                "renditions": entries,
                "srcset": srcset,
                "src": fitting[-1]["url"] if fitting else None,
            }
        )
    return out
