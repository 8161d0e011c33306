"""The eight creative filters, on an 8-bit sRGB rendition (alpha kept), scaled to the rendition's width.

Every radius is a fraction of the width, so a filter looks the same on a 320 px rendition as on a 2560 px one:
`blur` with amount 1 has a Gaussian sigma of 0.5 % of the width, `edge` and `emboss` measure differences over
0.1 % of the width (at least one pixel), `sharpen` works at 0.08 % of the width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gallery.engine.vips import pyvips
from gallery.presets.model import Filter

_SEPIA = [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]]
BLUR_SIGMA_PER_WIDTH = 0.005
DETAIL_PER_WIDTH = 0.001
SHARPEN_SIGMA_PER_WIDTH = 0.0008
EDGE_GAIN = 1.0


def _grey(colour: pyvips.Image) -> pyvips.Image:
    return colour.colourspace("b-w")


def _as_rgb(grey: pyvips.Image) -> pyvips.Image:
    """A one-band uchar image as three equal sRGB bands."""
    return grey.cast("uchar").bandjoin([grey.cast("uchar"), grey.cast("uchar")]).copy(interpretation="srgb")


def grayscale(colour: pyvips.Image, width: int, amount: float) -> pyvips.Image:
    return _as_rgb(_grey(colour))


def blur(colour: pyvips.Image, width: int, amount: float) -> pyvips.Image:
    sigma = amount * BLUR_SIGMA_PER_WIDTH * width
    return colour if sigma < 0.2 else colour.gaussblur(sigma, precision="integer")


def sharpen(colour: pyvips.Image, width: int, amount: float) -> pyvips.Image:
    """Unsharp mask on the lightness: slope `amount` in flat areas, twice that on edges, at most 20 x amount L*."""
    sigma = max(0.5, SHARPEN_SIGMA_PER_WIDTH * width)
    limit = min(100.0, 20.0 * amount)
    sharp = colour.sharpen(sigma=sigma, m1=amount, m2=2.0 * amount, x1=1.0, y2=limit, y3=limit)
    return sharp.colourspace("srgb").cast("uchar")


def _detail_step(width: int) -> int:
    return max(1, round(DETAIL_PER_WIDTH * width))


def edge(colour: pyvips.Image, width: int, amount: float) -> pyvips.Image:
    """Bright edges on a black ground: Sobel gradient magnitude of the luminance, smoothed over the detail step.

    Smoothing spreads an edge over `step` pixels, which divides its gradient by `step`: the gain makes up for it.
    """
    step = _detail_step(width)
    grey = _grey(colour).cast("float")
    if step > 1:
        grey = grey.gaussblur(step / 2)
    return _as_rgb((grey.sobel() * (EDGE_GAIN * step)).cast("uchar"))


def emboss(colour: pyvips.Image, width: int, amount: float) -> pyvips.Image:
    """A grey relief lit from the top left: mid-grey where the photo is flat."""
    step = _detail_step(width)
    size = 2 * step + 1
    kernel = [[0.0] * size for _ in range(size)]
    for i in range(size):
        kernel[i][i] = 1.0 if i > step else (-1.0 if i < step else 0.0)
    matrix = pyvips.Image.new_from_array(kernel, scale=1.0, offset=128.0)
    return _as_rgb(_grey(colour).conv(matrix, precision="integer"))


def sepia(colour: pyvips.Image, width: int, amount: float) -> pyvips.Image:
    return colour.recomb(_SEPIA).cast("uchar").copy(interpretation="srgb")


def negative(colour: pyvips.Image, width: int, amount: float) -> pyvips.Image:
    return colour.invert()


def brighten(colour: pyvips.Image, width: int, amount: float) -> pyvips.Image:
    return colour.linear([1.0 + amount] * colour.bands, [0.5] * colour.bands).cast("uchar")  # +0.5: round


FILTERS: dict[str, Callable[[pyvips.Image, int, float], pyvips.Image]] = {
    "grayscale": grayscale,
    "blur": blur,
    "edge": edge,
    "sharpen": sharpen,
    "emboss": emboss,
    "sepia": sepia,
    "negative": negative,
    "brighten": brighten,
}


def apply_filters(image: pyvips.Image, filters: Sequence[Filter]) -> pyvips.Image:
    """Apply `filters` in order to the colour bands of `image`; an alpha band passes through unchanged."""
    if not filters:
        return image
    colour, alpha = (image.extract_band(0, n=3), image.extract_band(3)) if image.bands == 4 else (image, None)
    for spec in filters:
        colour = FILTERS[spec.name](colour, image.width, spec.strength).copy_memory()
    return colour.bandjoin(alpha) if alpha is not None else colour
