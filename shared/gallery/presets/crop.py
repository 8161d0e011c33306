"""Crop to an aspect ratio, keeping the most interesting part (libvips attention) or the centre."""

from __future__ import annotations

from gallery.engine.vips import pyvips
from gallery.presets.model import Crop


def crop_size(width: int, height: int, ratio: float) -> tuple[int, int]:
    """The largest `ratio` (width / height) rectangle inside width x height."""
    if width / height > ratio:
        return max(1, min(width, round(height * ratio))), height
    return width, max(1, min(height, round(width / ratio)))


def crop_to_aspect(image: pyvips.Image, crop: Crop) -> pyvips.Image:
    width, height = crop_size(image.width, image.height, crop.ratio)
    if (width, height) == (image.width, image.height):
        return image
    return image.smartcrop(width, height, interesting=crop.focus).copy_memory()
