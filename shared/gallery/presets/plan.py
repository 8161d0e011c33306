"""Which presets a photo gets, and the variants they make: one per preset and language."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from gallery.presets.fonts import FontCatalogue, font_catalogue
from gallery.presets.model import Preset

METADATA_KEY = "presets"


@lru_cache(maxsize=256)
def _glob_pattern(glob: str) -> re.Pattern[str]:
    """`**` matches across `/`, `*` and `?` within one path segment, `[...]` a character class."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := glob.find("]", i + 1)) > i + 1:
            body = glob[i + 1 : end]
            out.append("[" + ("^" + re.escape(body[1:]) if body[0] == "!" else re.escape(body)) + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_match(glob: str, name: str) -> bool:
    return _glob_pattern(glob).match(name) is not None


def requested_presets(metadata: Mapping[str, str]) -> frozenset[str]:
    """Names listed in the photo's `presets` metadata, comma- or space-separated."""
    return frozenset(part for part in re.split(r"[\s,]+", metadata.get(METADATA_KEY, "")) if part)


@dataclass(frozen=True)
class VariantRequest:
    """What the engine needs to render a photo's variants: the presets that apply and the photo's metadata."""

    presets: tuple[Preset, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)
    base_dir: Path = Path()
    fonts: FontCatalogue = field(default_factory=font_catalogue)

    @property
    def max_width(self) -> int:
        return max((max(p.widths) for p in self.presets), default=0)


@dataclass(frozen=True)
class PresetSet:
    """The operator's presets, with the folder their image files are relative to and the extra fonts folder."""

    presets: tuple[Preset, ...] = ()
    base_dir: Path = Path()
    fonts_dir: str = ""

    @property
    def digest(self) -> str:
        """Changes whenever a preset does: part of the spec version, so backfill re-renders on a change."""
        if not self.presets:
            return ""
        dumped = json.dumps([p.model_dump(mode="json") for p in self.presets], sort_keys=True)
        return hashlib.sha256(dumped.encode()).hexdigest()[:10]

    def request(self, object_name: str | None, metadata: Mapping[str, str] | None) -> VariantRequest:
        """The presets that apply to the photo: by object-name glob, or listed in its `presets` metadata."""
        metadata = dict(metadata or {})
        asked = requested_presets(metadata)
        chosen = tuple(
            p
            for p in self.presets
            if p.name in asked or (p.match is not None and object_name is not None and glob_match(p.match, object_name))
        )
        return VariantRequest(
            presets=chosen, metadata=metadata, base_dir=self.base_dir, fonts=font_catalogue(self.fonts_dir)
        )
