"""Text overlays: filled from the photo's metadata, shaped by Pango/HarfBuzz, wrapped and shrunk to fit.

The text is set in the overlay's font family at `size` x the rendition width, wrapped at word boundaries to the
width left inside the margins; if it is still wider or taller than that box it is set again, smaller, until
it fits. It is never clipped. Pango picks, per run of text, the first bundled face that has the glyphs, so a
Latin family shows a Devanagari or Arabic title with the matching Noto face, conjuncts and right-to-left
order included.
"""

from __future__ import annotations

import html
import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass

from gallery.engine.vips import pyvips
from gallery.errors import PermanentError
from gallery.presets.fonts import FontCatalogue, register_fonts, use_bundled_fontconfig
from gallery.presets.model import TextOverlay, parse_colour, text_keys
from gallery.presets.placement import place

logger = logging.getLogger(__name__)

MIN_FONT_PX = 6.0
SEARCH_STEPS = 7
STROKE_PER_SIZE = 0.08
_ALIGN = {"left": "low", "right": "high"}


class TextDoesNotFitError(PermanentError):
    """The overlay text cannot be set legibly inside its box."""

    code = "overlay_text_too_long"


@dataclass(frozen=True)
class SetText:
    """Text set into a one-band coverage mask (0-255), with the font size it was set at."""

    mask: pyvips.Image
    font_px: float


def fill_template(template: str, metadata: Mapping[str, str], language: str | None) -> str | None:
    """`{key}` becomes metadata `key-<language>`, else `key`; None when a key has no value at all."""
    values: dict[str, str] = {}
    for key in text_keys(template):
        value = metadata.get(f"{key}-{language}") if language else None
        value = value if value else metadata.get(key)
        if not value:
            return None
        values[key] = value
    return string.Formatter().vformat(template, (), values)


def _set(markup: str, family: str, bold: bool, font_px: float, box_w: int, align: str) -> pyvips.Image:
    font = f"{family} {'Bold ' if bold else ''}{font_px:.2f}px"
    slack = max(2, round(font_px * 0.15))  # glyphs may overhang the layout width by a little
    return pyvips.Image.text(markup, font=font, width=max(1, box_w - slack), wrap="word", align=align)


def set_text(text: str, family: str, bold: bool, font_px: float, box: tuple[int, int], align: str) -> SetText:
    """Shape `text` at `font_px`, or at the largest smaller size whose wrapped lines fit `box` (width, height).

    Raises TextDoesNotFitError when even MIN_FONT_PX does not fit.
    """
    use_bundled_fontconfig()
    markup = html.escape(text, quote=False)
    box_w, box_h = box

    def fits(mask: pyvips.Image) -> bool:
        return bool(mask.width <= box_w and mask.height <= box_h)

    mask = _set(markup, family, bold, font_px, box_w, align)
    if fits(mask):
        return SetText(mask=mask, font_px=font_px)
    low, high = MIN_FONT_PX, font_px
    best = _set(markup, family, bold, low, box_w, align)
    if not fits(best):
        raise TextDoesNotFitError(f"the overlay text {text[:60]!r} does not fit a {box_w}x{box_h} box")
    for _ in range(SEARCH_STEPS):  # binary search: wrapped text grows with the square of its size
        middle = (low + high) / 2
        mask = _set(markup, family, bold, middle, box_w, align)
        if fits(mask):
            low, best = middle, mask
        else:
            high = middle
    return SetText(mask=best, font_px=low)


def _solid(like: pyvips.Image, rgba: tuple[int, int, int, int], coverage: pyvips.Image) -> pyvips.Image:
    r, g, b, a = rgba
    colour = like.new_from_image([r, g, b]).copy(interpretation="srgb")
    alpha = (coverage * (a / 255.0)).cast("uchar")
    return colour.bandjoin(alpha)


def draw_text(
    image: pyvips.Image,
    overlay: TextOverlay,
    text: str,
    fonts: FontCatalogue,
) -> pyvips.Image:
    """`image` (sRGB, alpha or not) with `text` drawn on it as `overlay` says."""
    fonts.check_text(text)
    register_fonts(face.path for face in fonts.faces)
    width, height = image.width, image.height
    inset = round(overlay.margin * width)
    font_px = overlay.size * width
    stroke_px = max(1, round(font_px * STROKE_PER_SIZE)) if overlay.stroke else 0
    box = (width - 2 * inset - 2 * stroke_px, height - 2 * inset - 2 * stroke_px)
    if box[0] < 1 or box[1] < 1:
        raise TextDoesNotFitError(f"the margin leaves no room for text on a {width}x{height} rendition")
    horizontal = overlay.anchor.rpartition("-")[2]
    align = _ALIGN.get(horizontal, "centre")
    setting = set_text(text, overlay.font, overlay.weight == "bold", font_px, box, align)
    if overlay.stroke:
        stroke_px = max(1, round(setting.font_px * STROKE_PER_SIZE))
    pad = 2 * stroke_px
    mask = setting.mask.embed(stroke_px, stroke_px, setting.mask.width + pad, setting.mask.height + pad)
    x, y = place(overlay.anchor, (width, height), (mask.width, mask.height), inset)
    layers = []
    if overlay.stroke:
        grown = (mask.gaussblur(stroke_px / 2, precision="integer") * 4).cast("uchar")  # soft dilation
        layers.append(_solid(grown, parse_colour(overlay.stroke), grown))
    layers.append(_solid(mask, parse_colour(overlay.fill), mask))
    return compose(image, layers, [(x, y)] * len(layers))


def compose(image: pyvips.Image, layers: list[pyvips.Image], positions: list[tuple[int, int]]) -> pyvips.Image:
    """Layers composited over `image` at `positions`; the result keeps `image`'s bands and 8-bit format."""
    out = image.composite(
        layers, "over", x=[p[0] for p in positions], y=[p[1] for p in positions], compositing_space="srgb"
    )
    out = out.cast("uchar")
    return out if image.bands == 4 else out.extract_band(0, n=3)
