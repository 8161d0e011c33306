"""Each creative filter does what it says, measured on generated images, and looks the same at 320 and 2560 px."""

from __future__ import annotations

from functools import lru_cache

import pytest

from gallery.engine.vips import pyvips
from gallery.presets.filters import apply_filters
from gallery.presets.model import Filter


def photo_like(width: int, height: int, seed: int = 7) -> pyvips.Image:
    """Texture at a scale relative to the width (blurred noise), a colour gradient, and hard-edged shapes."""
    bands = [
        pyvips.Image.gaussnoise(width, height, sigma=70, mean=128, seed=seed + i).gaussblur(width / 300)
        for i in range(3)
    ]
    texture = bands[0].bandjoin(bands[1:])
    gradient = pyvips.Image.xyz(width, height).extract_band(0) * (120 / width)
    image = (texture * 0.6 + gradient).cast("uchar").copy(interpretation="srgb")
    box = image.new_from_image([240, 40, 40]).crop(0, 0, width // 4, height // 4)
    return image.insert(box, width // 2, height // 3).copy_memory()


def flat_with_shapes(width: int, height: int) -> pyvips.Image:
    ground = pyvips.Image.black(width, height, bands=3).new_from_image([90, 120, 150]).copy(interpretation="srgb")
    box = ground.new_from_image([230, 200, 40]).crop(0, 0, width // 3, height // 3)
    return ground.insert(box, width // 3, height // 3).cast("uchar").copy_memory()


@lru_cache(maxsize=8)
def at(width: int, make: object = photo_like) -> pyvips.Image:
    """The same picture at `width`: the 2560 px original, shrunk."""
    big = make(2560, 1600)  # type: ignore[operator]
    return big if width == 2560 else big.thumbnail_image(width, height=100_000).copy_memory()


def run(image: pyvips.Image, *filters: str | Filter) -> pyvips.Image:
    specs = [f if isinstance(f, Filter) else Filter(name=f) for f in filters]  # type: ignore[arg-type]
    return apply_filters(image, specs).copy_memory()


def high_frequency(image: pyvips.Image) -> float:
    """Energy of detail finer than 0.4 % of the width: stdev of the image minus its blur."""
    grey = image.colourspace("b-w").cast("float")
    return float((grey - grey.gaussblur(image.width * 0.004)).deviate())


def channel_spread(image: pyvips.Image) -> float:
    r, g, b = (image.extract_band(i).cast("int") for i in range(3))
    return float(max((r - g).abs().max(), (g - b).abs().max()))


def test_grayscale_has_equal_channels_and_keeps_the_luminance() -> None:
    image = at(320)
    grey = run(image, "grayscale")
    assert (grey.width, grey.height, grey.bands, grey.format) == (image.width, image.height, 3, "uchar")
    assert channel_spread(grey) == 0
    assert channel_spread(image) > 100
    assert abs(grey.avg() - image.colourspace("b-w").avg()) < 1


def test_negative_inverts_the_mean_of_every_channel() -> None:
    image = at(320)
    negative = run(image, "negative")
    for band in range(3):
        assert abs(negative.extract_band(band).avg() - (255 - image.extract_band(band).avg())) < 0.01


def test_sepia_is_warm_and_brighten_scales_by_the_amount() -> None:
    image = at(320)
    toned = run(image, "sepia")
    r, g, b = (toned.extract_band(i).avg() for i in range(3))
    assert r > g > b and r - b > 30
    dark = run(flat_with_shapes(64, 64), Filter(name="brighten", amount=0.25))
    assert dark.getpoint(2, 2) == [113.0, 150.0, 188.0]  # (90, 120, 150) x 1.25, rounded
    darker = run(image, Filter(name="brighten", amount=-0.5))
    assert abs(darker.avg() - image.avg() / 2) < 1


@pytest.mark.parametrize("width", [320, 2560])
def test_blur_lowers_the_high_frequencies_by_the_same_share_at_any_width(width: int) -> None:
    image = at(width)
    ratio = high_frequency(run(image, "blur")) / high_frequency(image)
    stronger = high_frequency(run(image, Filter(name="blur", amount=3))) / high_frequency(image)
    assert 0.2 < ratio < 0.6, ratio
    assert stronger < ratio * 0.85
    # the same share at 320 and 2560: measured against the other width's result
    other = at(2560 if width == 320 else 320)
    other_ratio = high_frequency(run(other, "blur")) / high_frequency(other)
    assert abs(ratio - other_ratio) < 0.1, (ratio, other_ratio)


@pytest.mark.parametrize("width", [320, 2560])
def test_sharpen_raises_the_high_frequencies(width: int) -> None:
    image = at(width)
    sharp = run(image, "sharpen")
    assert (sharp.bands, sharp.format, sharp.interpretation) == (3, "uchar", "srgb")
    assert high_frequency(sharp) > high_frequency(image) * 1.2
    assert abs(sharp.avg() - image.avg()) < 3


@pytest.mark.parametrize("width", [320, 2560])
def test_edge_shows_bright_edges_on_a_flat_black_ground(width: int) -> None:
    image = at(width, flat_with_shapes)
    edges = run(image, "edge")
    assert channel_spread(edges) == 0
    ground = edges.crop(0, 0, width // 4, edges.height // 4)
    assert ground.max() == 0  # flat input, flat output
    corner_x, corner_y = image.width // 3, image.height // 3
    ring = edges.crop(corner_x - width // 50, corner_y + 10, width // 25, image.height // 10)
    assert ring.max() > 100  # the box's left edge
    share = edges.extract_band(0).relational_const("more", 40).avg() / 255
    assert 0.002 < share < 0.05, share  # thin edges, at a thickness relative to the width


@pytest.mark.parametrize("width", [320, 2560])
def test_emboss_is_a_grey_relief(width: int) -> None:
    image = at(width, flat_with_shapes)
    relief = run(image, "emboss")
    assert channel_spread(relief) == 0
    assert relief.crop(0, 0, width // 4, relief.height // 4).avg() == 128  # flat: mid grey
    top_left = relief.crop(image.width // 3 - 4, image.height // 3 - 4, 10, 10)
    bottom_right = relief.crop(2 * image.width // 3 - 4, 2 * image.height // 3 - 4, 10, 10)
    assert top_left.max() > 160 or top_left.min() < 96
    assert (top_left.avg() - 128) * (bottom_right.avg() - 128) < 0  # lit on one side, shaded on the other
    photo = run(at(width), "emboss")
    assert channel_spread(photo) == 0 and abs(photo.avg() - 128) < 8


def test_filters_apply_in_order_and_keep_the_alpha_band() -> None:
    image = at(320)
    alpha = image.extract_band(0).linear(0.5, 10).cast("uchar")
    rgba = image.bandjoin(alpha)
    out = run(rgba, "grayscale", "negative")
    assert out.bands == 4 and (out.extract_band(3) == alpha).min() == 255
    assert abs(out.extract_band(0).avg() - (255 - image.colourspace("b-w").avg())) < 1
    assert run(image, "negative", "negative").avg() == image.avg()
