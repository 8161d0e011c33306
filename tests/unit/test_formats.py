"""Format variants of real-world photos: each renders at full resolution, or is refused naming the variant."""

from __future__ import annotations

import pytest

import gallery.engine.decode as decode_module
from gallery.engine import render
from gallery.engine.loaders import open_image
from gallery.engine.vips import pyvips
from gallery.errors import CorruptImageError, UnsupportedImageError
from gallery.model import Limits, RenditionSpec
from tests.corpus import case
from tests.paths import ORIENTATION

FULL = RenditionSpec(widths=(160, 600), formats=("webp",), quality=95)


def _photo() -> pyvips.Image:
    return pyvips.Image.new_from_file(str(ORIENTATION / "landscape_1.jpg"))  # 600x450


def _largest(name: str) -> pyvips.Image:
    result = render(case(name).data, FULL, Limits())
    widest = max(result.renditions, key=lambda r: r.width)
    return pyvips.Image.new_from_buffer(widest.data, "")


def _difference(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a[0:3].cast("float") - b[0:3].cast("float")).abs().avg())


@pytest.mark.parametrize(
    "name", ["tiff_pyramid_subifd.tif", "tiff_pyramid_pages.tif", "tiff_reduced_page_first.tif", "tiff_bigtiff.tif"]
)
def test_tiffs_render_from_their_full_resolution_image(name: str) -> None:
    image = _largest(name)
    assert (image.width, image.height) == (600, 450)  # a reduced level would give 300 or 150 px
    assert _difference(image, _photo()) < 3


@pytest.mark.parametrize(
    "name", ["tiff_cielab8.tif", "tiff_cielab16.tif", "tiff_cielab_float.tif", "tiff_lzma.tif", "avif_sequence.avif"]
)
def test_decodable_variants_render_the_photo(name: str) -> None:
    assert _difference(_largest(name), _photo()) < 4


@pytest.mark.parametrize("name", ["heic_grey8.heic", "heic_grey16.heic"])
def test_greyscale_heif_renders_grey(name: str) -> None:
    image = _largest(name)
    assert image.bands == 3 and _difference(image[0], image[2]) < 1  # sRGB, but grey
    grey = _photo().colourspace("b-w")[0]
    assert _difference(image[1], grey) < 3  # 16-bit (10 stored) is scaled, not read as 8-bit


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("tiff_ojpeg.tif", "OJPEG"),
        ("avif_sequence_track_only.avif", "only a track"),
    ],
)
def test_undecodable_variants_are_refused_by_name(name: str, variant: str) -> None:
    with pytest.raises(UnsupportedImageError, match=variant) as raised:
        render(case(name).data, FULL, Limits())
    assert raised.value.code == "unsupported_format"


def test_a_fully_transparent_png_is_rendered_not_refused() -> None:
    """Its file stores the alpha that makes it invisible: a spacer or blank layer, not a mis-decode (that guard,
    for TIFFs storing no alpha, is in test_decode_variants.py)."""
    result = render(case("png_fully_transparent.png").data, FULL, Limits())
    assert (result.width, result.height, result.has_alpha) == (64, 64, True)
    assert _largest("png_fully_transparent.png")[3].max() == 0


def test_the_loader_is_pinned_to_the_sniffed_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JPEG the sniffer took for a PNG is read by the PNG loader, which refuses it, not by libvips' guess."""
    jpeg = (ORIENTATION / "landscape_1.jpg").read_bytes()
    assert pyvips.Image.new_from_buffer(jpeg, "").width == 600  # libvips alone would pick the JPEG loader
    monkeypatch.setattr(decode_module, "sniff_format", lambda data: "png")
    with pytest.raises(CorruptImageError):
        render(jpeg, FULL, Limits())


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "tiff", "avif"])
def test_each_loader_reads_only_its_own_format(fmt: str) -> None:
    samples = {
        "jpeg": case("jpeg_baseline.jpg").data,
        "png": case("png_rgb8.png").data,
        "gif": case("gif_still.gif").data,
        "webp": case("webp_still.webp").data,
        "tiff": case("tiff.tif").data,
        "avif": case("avif.avif").data,
    }
    assert open_image(samples[fmt], fmt).avg() > 0
    for other, data in samples.items():
        if other != fmt:
            with pytest.raises(pyvips.Error):
                open_image(data, fmt).avg()
