"""Draw a preset's overlays, in order, on one rendition."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from gallery.engine.vips import pyvips
from gallery.errors import PermanentError
from gallery.presets.fonts import FontCatalogue
from gallery.presets.model import ImageOverlay, TextOverlay
from gallery.presets.placement import place
from gallery.presets.text import compose, draw_text, fill_template

logger = logging.getLogger(__name__)


class OverlayImageError(PermanentError):
    """An image overlay's file cannot be read as an image."""

    code = "overlay_image_unreadable"


@lru_cache(maxsize=32)
def _image_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def draw_image(image: pyvips.Image, overlay: ImageOverlay, base_dir: Path) -> pyvips.Image:
    """`image` with the overlay's PNG scaled to `width` x the rendition width, at `opacity`, at its anchor."""
    path = (base_dir / overlay.src).resolve()
    target = max(1, round(overlay.width * image.width))
    try:
        logo = pyvips.Image.thumbnail_buffer(_image_bytes(str(path)), target, height=10_000_000)
        if logo.interpretation not in ("srgb", "b-w") or logo.format != "uchar":
            logo = logo.colourspace("srgb").cast("uchar")
        if logo.bands in (1, 2):
            logo = logo.colourspace("srgb")
        if logo.bands == 3:
            logo = logo.bandjoin(255)
        logo = logo.copy_memory()
    except (OSError, pyvips.Error) as err:
        raise OverlayImageError(f"the overlay image {overlay.src} cannot be read: {str(err).strip()[:200]}") from err
    if overlay.opacity < 1:
        logo = logo.extract_band(0, n=3).bandjoin((logo.extract_band(3) * overlay.opacity).cast("uchar"))
    inset = round(overlay.margin * image.width)
    x, y = place(overlay.anchor, (image.width, image.height), (logo.width, logo.height), inset)
    return compose(image, [logo.copy(interpretation="srgb")], [(x, y)])


def draw_overlays(
    image: pyvips.Image,
    overlays: Sequence[TextOverlay | ImageOverlay],
    metadata: Mapping[str, str],
    language: str | None,
    fonts: FontCatalogue,
    base_dir: Path,
) -> pyvips.Image:
    """Every overlay drawn in order; a text whose fields have no value in the metadata is left out."""
    for overlay in overlays:
        if isinstance(overlay, ImageOverlay):
            image = draw_image(image, overlay, base_dir)
            continue
        text = fill_template(overlay.text, metadata, language)
        if text is None:
            logger.info("text overlay %r left out: the photo's metadata has no value for it", overlay.text)
            continue
        image = draw_text(image, overlay, text, fonts)
    return image
