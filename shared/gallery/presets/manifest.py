"""Where variant renditions are stored and how the photo document lists them.

Object names: `{photo_id}/{generation}/{preset}/{language}/{width}.{ext}`, or `{photo_id}/{generation}/{preset}/
{width}.{ext}` for a preset without languages. They sit under the generation's prefix, so they are replaced and
removed with the photo's default renditions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from gallery.manifest import rendition_entries, srcset_and_src
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
        entries = rendition_entries(variant.renditions, partial(variant_path, pid, generation, variant), url_prefix)
        srcset, src = srcset_and_src(entries)
        out.append(
            {
                "preset": variant.preset,
                "language": variant.language,
                "renditions": entries,
                "srcset": srcset,
                "src": src,
            }
        )
    return out
