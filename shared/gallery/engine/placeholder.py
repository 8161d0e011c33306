"""A ThumbHash placeholder and a dominant colour, computed from a small rendition."""

from __future__ import annotations

import base64

import thumbhash

from gallery.engine.vips import pyvips

_MAX_SIDE = 100  # ThumbHash encodes images up to 100x100


def placeholder_and_colour(image: pyvips.Image) -> tuple[str, str]:
    """(base64 ThumbHash, '#rrggbb') of an 8-bit sRGB image, with or without alpha."""
    scale = min(_MAX_SIDE / image.width, _MAX_SIDE / image.height, 1.0)
    small = image.resize(scale, kernel="linear") if scale < 1.0 else image
    rgba = small if small.bands == 4 else small.bandjoin(255)
    digest = thumbhash.rgba_to_thumb_hash(rgba.width, rgba.height, bytes(rgba.cast("uchar").write_to_memory()))
    opaque = small.flatten(background=[255, 255, 255]) if small.bands == 4 else small
    colour = "#" + "".join(f"{round(opaque[band].avg()):02x}" for band in range(3))
    return base64.b64encode(digest).decode("ascii"), colour
