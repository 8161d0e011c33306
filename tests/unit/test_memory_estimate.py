"""The peak-memory estimate from header facts (pure), and the facts read from real generated headers."""

from __future__ import annotations

import io
import math
from dataclasses import replace

import pytest
from PIL import Image

from gallery.engine import estimate_render
from gallery.engine.header import HeaderFacts, read_header
from gallery.engine.memory import MIB, RENDITIONS_BYTES_PER_PIXEL, estimate, output_size
from gallery.engine.quality import encode_plan_memory_bytes
from gallery.engine.vips import pyvips
from gallery.errors import CorruptImageError, LimitExceededError
from gallery.model import Limits, RenditionSpec
from gallery.settings import DEFAULT_WIDTHS

WEBP = RenditionSpec(DEFAULT_WIDTHS, ("webp",))
AVIF = RenditionSpec(DEFAULT_WIDTHS, ("webp", "avif"))
FULL = RenditionSpec((*DEFAULT_WIDTHS, 16384), ("webp",))
MP100 = (11_540, 8_660)


def facts(fmt: str, width: int, height: int, **kw: object) -> HeaderFacts:
    base: dict[str, object] = {"bands": 3, "sample_bytes": 1, "chroma_samples": 1.5, "file_bytes": 5 * MIB}
    return HeaderFacts(format=fmt, width=width, height=height, **{**base, **kw})  # type: ignore[arg-type]


def test_progressive_jpeg_holds_every_coefficient_whatever_the_shrink() -> None:
    baseline = estimate(facts("jpeg", *MP100), WEBP)
    progressive = estimate(facts("jpeg", *MP100, progressive=True), WEBP)
    coefficients = MP100[0] * MP100[1] * 1.5 * 2 / MIB
    assert progressive.decode_mib == pytest.approx(coefficients)
    assert progressive.total_mib >= baseline.total_mib + coefficients
    assert baseline.decode_mib == 0


def test_chroma_sampling_and_cmyk_scale_the_coefficients() -> None:
    by_samples = [estimate(facts("jpeg", 6000, 4000, progressive=True, chroma_samples=s), WEBP) for s in (1.5, 2, 3)]
    cmyk = estimate(facts("jpeg", 6000, 4000, progressive=True, chroma_samples=4, bands=4), WEBP)
    assert [e.decode_mib for e in by_samples] == pytest.approx([6000 * 4000 * s * 2 / MIB for s in (1.5, 2, 3)])
    assert cmyk.total_mib > by_samples[-1].total_mib


def test_shrink_on_load_lowers_the_resize_buffers_of_jpeg_and_webp_only() -> None:
    jpeg = estimate(facts("jpeg", *MP100), WEBP)
    webp = estimate(facts("webp", 16000, 6000), WEBP)
    tiff = estimate(facts("tiff", *MP100), WEBP)
    assert jpeg.resize_mib == pytest.approx(MP100[0] / 2 * 1921 * 3 / MIB, rel=0.01)  # shrink 2 leaves >= 5120
    assert webp.resize_mib == pytest.approx(5120 * 960 * 3 / MIB, rel=0.01)  # scaled to twice the output
    assert tiff.resize_mib == pytest.approx(MP100[0] * 1921 * 3 / MIB, rel=0.01)


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        (facts("png", *MP100, bands=4, sample_bytes=2, interlaced=True), MP100[0] * MP100[1] * 8),
        (facts("webp", 16383, 6000, lossless=True), 16383 * 6000 * 4),
        (facts("avif", 7680, 4320), 7680 * 4320 * 15.2),
        (facts("avif", 7680, 4320, sample_bytes=2), 7680 * 4320 * 30.4),
        (facts("heif", 7680, 4320), 7680 * 4320 * 4.5),
        (facts("gif", 1000, 1000, pages=500), 1000 * 1000 * 8),
    ],
    ids=["interlaced-png16", "lossless-webp", "avif", "avif-10bit", "heic", "gif"],
)
def test_formats_decoded_whole_count_the_whole_image(kind: HeaderFacts, extra: float) -> None:
    assert estimate(kind, WEBP).decode_mib == pytest.approx(extra / MIB)
    streamed = HeaderFacts(**{**kind.__dict__, "interlaced": False, "lossless": False, "format": "png"})
    assert estimate(streamed, WEBP).decode_mib == 0


def test_only_the_first_frame_counts() -> None:
    assert estimate(facts("gif", 1000, 1000, pages=500), WEBP) == estimate(facts("gif", 1000, 1000, pages=1), WEBP)


def test_output_follows_the_largest_rendition_and_the_encoders() -> None:
    photo = facts("jpeg", 6000, 4000)
    assert output_size(photo, WEBP) == (2560, 1707)
    assert output_size(photo, FULL) == (6000, 4000)
    assert output_size(facts("jpeg", 1000, 3000), WEBP) == (1000, 3000)  # never upscaled
    webp, avif, full = (estimate(photo, s) for s in (WEBP, AVIF, FULL))
    assert avif.output_mib > 3 * webp.output_mib
    assert full.output_mib == pytest.approx(webp.output_mib * 6000 * 4000 / (2560 * 1707), rel=0.03)


def test_the_output_counts_the_encode_plan_of_the_spec() -> None:
    portrait = facts("jpeg", 1000, 3000)
    small = replace(AVIF, widths=(320,))  # the search's score outweighs the largest AVIF encode (320 x 960)
    searched = replace(small, quality_target=77)
    plain, with_search = estimate(portrait, small), estimate(portrait, searched)
    renditions_mib = 320 * 960 * RENDITIONS_BYTES_PER_PIXEL / MIB
    assert plain.output_mib == pytest.approx(renditions_mib + encode_plan_memory_bytes(small, 1000, 3000) / MIB)
    assert with_search.output_mib == pytest.approx(
        renditions_mib + encode_plan_memory_bytes(searched, 1000, 3000) / MIB
    )
    assert with_search.output_mib > plain.output_mib > estimate(portrait, replace(WEBP, widths=(320,))).output_mib
    # at the default widths the largest AVIF encode outweighs the search's 320 x 240 probe
    assert estimate(portrait, replace(AVIF, quality_target=77)).output_mib == estimate(portrait, AVIF).output_mib


def test_the_orientation_decides_the_output_height() -> None:
    upright = estimate(facts("jpeg", 6000, 4000), WEBP)
    turned = estimate(facts("jpeg", 6000, 4000, upright_width=4000), WEBP)  # EXIF 6: displayed 4000x6000
    assert output_size(facts("jpeg", 6000, 4000, upright_width=4000), WEBP) == (2560, 3840)
    assert turned.output_mib > upright.output_mib


def test_the_total_is_the_parts_with_the_margin_rounded_up() -> None:
    e = estimate(facts("png", 4000, 3000, interlaced=True), WEBP)
    parts = e.fixed_mib + e.input_mib + e.decode_mib + e.resize_mib + e.output_mib
    assert e.total_mib == math.ceil(parts * 1.10)
    assert e.input_mib == 5


def _jpeg(subsampling: int, progressive: bool, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (64, 48)).save(out, "JPEG", subsampling=subsampling, progressive=progressive)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "progressive", "samples"),
    [
        (_jpeg(2, True), True, 1.5),  # 4:2:0
        (_jpeg(1, True), True, 2.0),  # 4:2:2: libvips calls it 4:2:0
        (_jpeg(0, False), False, 3.0),  # 4:4:4
        (_jpeg(0, True, "CMYK"), True, 4.0),
    ],
    ids=["420-progressive", "422-progressive", "444-baseline", "cmyk-progressive"],
)
def test_jpeg_headers_give_scan_mode_and_stored_samples(data: bytes, progressive: bool, samples: float) -> None:
    got = read_header(data)
    assert (got.format, got.progressive, got.chroma_samples) == ("jpeg", progressive, samples)


def test_png_webp_and_tiff_headers() -> None:
    rgba16 = pyvips.Image.black(40, 30, bands=4).cast("ushort").copy(interpretation="rgb16")
    png = read_header(bytes(rgba16.pngsave_buffer(interlace=True)))
    assert (png.format, png.bands, png.sample_bytes, png.interlaced) == ("png", 4, 2, True)
    rgb = pyvips.Image.black(40, 30, bands=3)
    assert read_header(bytes(rgb.webpsave_buffer(lossless=True))).lossless
    assert not read_header(bytes(rgb.webpsave_buffer())).lossless
    frames = pyvips.Image.arrayjoin([rgb, rgb.invert()], across=1).copy()
    frames.set_type(pyvips.GValue.gint_type, "page-height", 30)
    animated = read_header(bytes(frames.webpsave_buffer(lossless=True)))
    assert (animated.pages, animated.lossless) == (2, True)
    assert not read_header(bytes(frames.webpsave_buffer())).lossless
    tiff = read_header(bytes(rgb.cast("float").tiffsave_buffer()))
    assert (tiff.format, tiff.sample_bytes, tiff.pixels) == ("tiff", 4, 1200)


def test_estimate_render_refuses_what_render_refuses() -> None:
    data = bytes(pyvips.Image.black(400, 300, bands=3).jpegsave_buffer())
    assert estimate_render(data, WEBP, Limits()).total_mib > 0
    with pytest.raises(LimitExceededError) as err:
        estimate_render(data, WEBP, Limits(max_pixels=1000))
    assert err.value.code == "too_many_pixels"
    with pytest.raises(CorruptImageError):
        estimate_render(data[:20], WEBP, Limits())


def test_heif_facts_agree_whether_libvips_or_pillow_heif_reads_the_header() -> None:
    from gallery.engine.header import _heif_header
    from tests.paths import SAMPLES

    data = (SAMPLES / "iphone_13_pro_max.heic").read_bytes()
    by_vips, by_libheif = read_header(data), _heif_header(data)
    assert (by_vips.format, by_vips.pixels, by_vips.bands) == (by_libheif.format, by_libheif.pixels, by_libheif.bands)
    assert estimate(by_libheif, WEBP).decode_mib == estimate(by_vips, WEBP).decode_mib


def test_a_cut_off_avif_is_refused_with_the_same_reason_as_decode() -> None:
    from gallery.engine import render

    data = bytes(pyvips.Image.black(64, 48, bands=3).heifsave_buffer(compression="av1"))[:-40]
    with pytest.raises(CorruptImageError) as by_estimate:
        estimate_render(data, WEBP, Limits())
    with pytest.raises(CorruptImageError) as by_render:
        render(data, WEBP, Limits())
    assert by_estimate.value.reason == by_render.value.reason
