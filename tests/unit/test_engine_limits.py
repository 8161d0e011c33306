"""Output sizes are checked against each encoder's limit before encoding; EXIF text is cleaned and bounded."""

from __future__ import annotations

import pytest
from PIL import Image

from gallery.engine import render
from gallery.engine.exif import MAX_TEXT_CHARS, clean_text, read_exif
from gallery.engine.render import MAX_OUTPUT_SIDE
from gallery.engine.vips import pyvips
from gallery.model import OutputFormat, RenditionSpec


def _png(width: int, height: int) -> bytes:
    """A horizontal gradient, so every rendition has real content."""
    ramp = (pyvips.Image.xyz(width, height)[0] * (255 / max(width - 1, 1))).cast("uchar")
    return bytes(ramp.bandjoin([ramp, ramp]).pngsave_buffer(compression=1))


def _encode(fmt: OutputFormat, width: int, height: int) -> bytes:
    image = (pyvips.Image.black(width, height, bands=3) + 128).cast("uchar")
    if fmt == "webp":
        return bytes(image.webpsave_buffer(Q=50, effort=0))
    if fmt == "avif":
        return bytes(image.heifsave_buffer(Q=50, compression="av1", effort=0))
    return bytes(image.jpegsave_buffer(Q=50))


@pytest.mark.parametrize("fmt", ["webp", "avif", "jpeg"])
def test_the_limits_are_the_encoders_own(fmt: OutputFormat) -> None:
    limit = MAX_OUTPUT_SIDE[fmt]
    assert _encode(fmt, 16, limit)
    with pytest.raises(pyvips.Error):
        _encode(fmt, 16, limit + 1)


def test_a_wide_panorama_gets_every_width_each_format_can_write() -> None:
    spec = RenditionSpec(widths=(320, 16383, 16384), formats=("webp", "avif", "jpeg"), avif_effort=0, webp_effort=0)
    result = render(_png(20000, 100), spec)
    sizes = {(r.format, r.width, r.height) for r in result.renditions}
    assert sizes == {
        ("webp", 320, 2),
        ("webp", 16383, 82),  # 16384 is past WebP's limit: written once at the largest width WebP allows
        ("avif", 320, 2),
        ("avif", 16383, 82),
        ("avif", 16384, 82),
        ("jpeg", 320, 2),
        ("jpeg", 16383, 82),
        ("jpeg", 16384, 82),
    }
    for rendition in result.renditions:
        decoded = pyvips.Image.new_from_buffer(rendition.data, "")
        assert (decoded.width, decoded.height) == (rendition.width, rendition.height)


def test_a_tall_panorama_is_scaled_to_fit_the_formats_limit() -> None:
    spec = RenditionSpec(widths=(320,), formats=("webp", "jpeg"), webp_effort=0)
    result = render(_png(100, 20000), spec)
    by_format = {r.format: r for r in result.renditions}
    webp, jpeg = by_format["webp"], by_format["jpeg"]
    assert (webp.width, webp.height) == (82, 16383)
    assert (jpeg.width, jpeg.height) == (100, 20000)  # within JPEG's limit: untouched
    decoded = pyvips.Image.new_from_buffer(webp.data, "")
    assert (decoded.width, decoded.height) == (82, 16383)


def _exif_block(make: str, model: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    return bytes(exif.tobytes())


def test_exif_text_loses_control_characters_and_is_bounded() -> None:
    hostile = "Canon\x1b[31m EOS\r\n\t5D\x7f\x07" + "X" * 5000
    summary = read_exif(_exif_block(make="NIKON\x00\x00", model=hostile))
    assert summary.camera_make == "NIKON"
    assert summary.camera_model is not None
    assert len(summary.camera_model) == MAX_TEXT_CHARS
    assert summary.camera_model.startswith("Canon[31m EOS 5D" + "X")
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in summary.camera_model)


def test_clean_text_keeps_ordinary_unicode() -> None:
    assert clean_text("  Leica  M11\u00a0Monochrom ") == "Leica M11 Monochrom"
    assert (
        clean_text("ÉOS 東京 \u0928\u092e\u0938\u094d\u0924\u0947") == "ÉOS 東京 \u0928\u092e\u0938\u094d\u0924\u0947"
    )
    assert clean_text("\x00\x01\x02") == ""
    assert clean_text("photo\u202egpj.exe\u200b") == "photogpj.exe"  # bidi override and zero-width space go
    assert clean_text("a" * 300, limit=10) == "a" * 10
