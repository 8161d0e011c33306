"""Render a photo's preset variants from the decode the default set was rendered from.

Presets run one after another, never side by side, so a photo's memory stays close to the default set's: the
decoded image, one cropped copy, and one width's filtered and overlaid pixels at a time. Per preset: crop
once, then for each width (largest first, each shrunk from the next larger one) filter once and draw the
overlays once per language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gallery.engine.vips import pyvips
from gallery.model import EncodedRendition, OutputFormat, RenditionSpec, VariantRendering
from gallery.presets.crop import crop_to_aspect
from gallery.presets.filters import apply_filters
from gallery.presets.model import Preset
from gallery.presets.overlays import draw_overlays
from gallery.presets.plan import VariantRequest

_HUGE = 10_000_000
Encoder = Callable[[pyvips.Image, OutputFormat, RenditionSpec], bytes]
WidthPlanner = Callable[[tuple[int, ...], int], tuple[int, ...]]
Fitter = Callable[[pyvips.Image, OutputFormat], pyvips.Image]


@dataclass(frozen=True)
class EngineParts:
    """The default set's own steps, reused so variants are encoded and sized exactly like it."""

    encode: Encoder
    widths_for: WidthPlanner  # widths to render for a photo this wide: never upscaled
    fit: Fitter  # scaled down to what the format can hold


def _preset_spec(preset: Preset, spec: RenditionSpec) -> RenditionSpec:
    """The preset's own quality is fixed; without one it follows the default set's (target or fixed quality)."""
    return RenditionSpec(
        widths=preset.widths,
        formats=preset.formats,
        quality=preset.quality if preset.quality is not None else spec.quality,
        webp_effort=spec.webp_effort,
        avif_effort=spec.avif_effort,
        quality_target=spec.quality_target if preset.quality is None else 0.0,
    )


def render_preset(
    image: pyvips.Image,
    preset: Preset,
    request: VariantRequest,
    spec: RenditionSpec,
    engine: EngineParts,
) -> list[VariantRendering]:
    """Every language variant of one preset, from `image` (the decoded photo, 8-bit sRGB, upright)."""
    own = _preset_spec(preset, spec)
    current = crop_to_aspect(image, preset.crop) if preset.crop else image
    languages: tuple[str | None, ...] = preset.languages or (None,)
    out: dict[str | None, list[EncodedRendition]] = {lang: [] for lang in languages}
    for width in reversed(engine.widths_for(preset.widths, current.width)):
        if width < current.width:
            current = current.thumbnail_image(width, height=_HUGE, size="down", no_rotate=True).copy_memory()
        filtered = apply_filters(current, preset.filters).copy_memory()
        for lang in languages:
            drawn = draw_overlays(filtered, preset.overlays, request.metadata, lang, request.fonts, request.base_dir)
            if len(own.formats) > 1:
                drawn = drawn.copy_memory()
            for fmt in own.formats:
                fitted = engine.fit(drawn, fmt)
                if any(r.format == fmt and r.width == fitted.width for r in out[lang]):
                    continue  # two widths above the format's limit land on the same size: write it once
                out[lang].append(EncodedRendition(fitted.width, fitted.height, fmt, engine.encode(fitted, fmt, own)))
    return [
        VariantRendering(preset.name, lang, tuple(sorted(renditions, key=lambda r: (r.format, r.width))))
        for lang, renditions in out.items()
    ]


def render_variants(
    image: pyvips.Image,
    request: VariantRequest,
    spec: RenditionSpec,
    engine: EngineParts,
) -> tuple[VariantRendering, ...]:
    """All variants of every preset in `request`, one preset at a time."""
    variants: list[VariantRendering] = []
    for preset in request.presets:
        variants.extend(render_preset(image, preset, request, spec, engine))
    return tuple(variants)
