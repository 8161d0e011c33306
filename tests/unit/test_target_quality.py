"""Target-quality encoding: the search meets its SSIMULACRA2 target on real photos, within its encode budget,
and the rendition set degrades gracefully on tiny, thin and huge photos.

Scores are measured, never file sizes: each rendition is decoded and scored against a careful reference (the
whole photo resized with lanczos3 straight to the rendition's size). The quality is decided on the 320 px
rendition for the served format (the first a browser takes: AVIF here) and reused for every width; measured on
these photos at 320-768 px, its renditions then stay within 1.5 points of the target (docs/renditions.md). The
fallback format is encoded at the fixed quality.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from gallery.engine import render
from gallery.engine.encode import encode
from gallery.engine.quality import (
    MAX_ENCODES,
    choose_quality,
    encode_plan_memory_bytes,
    probe_width,
    search,
    search_memory_bytes,
    served_format,
    to_array,
)
from gallery.engine.vips import pyvips
from gallery.metrics.ssimulacra2 import ssimulacra2
from gallery.model import OutputFormat, RenditionSpec
from tests.paths import LARGE, SAMPLES

TARGET = 75.0
SPEC = RenditionSpec(
    widths=(320, 512, 768, 1024), formats=("avif", "webp"), avif_effort=0, quality_target=TARGET
)  # AVIF to the target, a WebP fallback (WebP's largest side differs from AVIF's)
BELOW_TARGET = 1.5  # see the module docstring
PHOTOS = ["dragonfly_13mp_4x3_progressive.jpg", "portrait_10mp_progressive.jpg"]


def decode(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "").copy_memory()


def score(reference: pyvips.Image, data: bytes) -> float:
    return ssimulacra2(to_array(reference.cast("uchar").copy_memory()), to_array(decode(data)))


# --- the search itself, on a real probe rendition ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["avif", "webp", "jpeg"])
@pytest.mark.parametrize("photo", PHOTOS)
def test_the_search_meets_the_target_with_the_lowest_quality_it_can_find(photo: str, fmt: OutputFormat) -> None:
    probe = pyvips.Image.thumbnail(str(LARGE / photo), 320, height=10_000_000)
    probe = probe.crop(0, (probe.height - 240) // 2, 320, 240).copy_memory()  # the middle rows the search scores
    spec = replace(SPEC, formats=(fmt,))
    choice = choose_quality(probe, fmt, spec)
    assert choice.met_target and choice.encodes <= MAX_ENCODES
    assert score(probe, choice.probe_data) >= TARGET  # scored again from the bytes, not taken from the search
    if choice.quality > spec.quality_min:  # one step lower misses the target (unless the budget ran out first)
        cheaper = encode(probe, fmt, choice.quality - 1, webp_effort=spec.webp_effort, avif_effort=spec.avif_effort)
        assert score(probe, cheaper) < TARGET or choice.encodes == MAX_ENCODES


# --- every rendition of a render, against a careful reference ---------------------------------------------------


@pytest.mark.parametrize("photo", PHOTOS)
def test_every_served_rendition_of_a_real_photo_meets_the_target_and_the_fallback_is_fixed(photo: str) -> None:
    data = (LARGE / photo).read_bytes()
    spec = replace(SPEC, widths=(320, 512, 768))
    result = render(data, spec)
    fixed = {(r.format, r.width): r.data for r in render(data, replace(spec, quality_target=0)).renditions}
    full = pyvips.Image.new_from_buffer(data, "").autorot().copy_memory()
    assert {(r.format, r.width) for r in result.renditions} == {(f, w) for f in spec.formats for w in spec.widths}
    for rendition in result.renditions:
        if rendition.format == "webp":  # the fallback: the fixed quality (the probe width is resized differently)
            assert rendition.width == 320 or rendition.data == fixed[("webp", rendition.width)]
            continue
        reference = full.resize(rendition.width / full.width, vscale=rendition.height / full.height, kernel="lanczos3")
        got = score(reference, rendition.data)
        assert got >= TARGET - BELOW_TARGET, f"{rendition.format} {rendition.width}px: {got:.2f}"


def test_a_higher_target_buys_a_higher_score_with_more_bytes() -> None:
    data = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()
    spec = replace(SPEC, widths=(512,), formats=("avif",))
    low, high = render(data, replace(spec, quality_target=70)), render(data, replace(spec, quality_target=86))
    reference = decode(low.renditions[0].data)  # only its size matters: score against the careful path
    full = pyvips.Image.new_from_buffer(data, "").copy_memory()
    careful = full.resize(reference.width / full.width, vscale=reference.height / full.height, kernel="lanczos3")
    assert score(careful, high.renditions[0].data) > score(careful, low.renditions[0].data) + 5
    assert len(high.renditions[0].data) > len(low.renditions[0].data)


def test_a_fixed_quality_stays_available() -> None:
    data = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()
    spec = replace(SPEC, widths=(320,), formats=("webp",), quality_target=0, quality=80)
    direct = pyvips.Image.thumbnail_buffer(data, 320, height=10_000_000).copy_memory()
    expected = direct.webpsave_buffer(Q=80, effort=spec.webp_effort, keep="none")
    rendition = render(data, spec).renditions[0]
    assert score(direct, rendition.data) == pytest.approx(score(direct, expected), abs=0.5)
    assert spec.version != replace(spec, quality_target=TARGET).version


# --- the search as pure logic: budget, bounds, edge cases --------------------------------------------------------


class Counting:
    """An encoder/scorer pair over a made-up score curve; counts the encodes."""

    def __init__(self, curve: dict[int, float] | None = None, slope: float = 0.5, at_zero: float = 45.0) -> None:
        self.curve = curve
        self.slope, self.at_zero = slope, at_zero
        self.encodes: list[int] = []

    def encode(self, quality: int) -> bytes:
        self.encodes.append(quality)
        return quality.to_bytes(2, "big")

    def score(self, data: bytes) -> float:
        quality = int.from_bytes(data, "big")
        if self.curve is not None:
            return self.curve[quality]
        return self.at_zero + self.slope * quality


@pytest.mark.parametrize("slope", [0.2, 0.4, 0.55, 0.8, 1.5])
@pytest.mark.parametrize("target", [50.0, 70.0, 78.0, 84.5])
@pytest.mark.parametrize("fmt", ["avif", "webp"])
def test_the_search_finds_the_lowest_passing_quality_within_the_budget(
    fmt: OutputFormat, target: float, slope: float
) -> None:
    fake = Counting(slope=slope)
    choice = search(fake.encode, fake.score, fmt, target, 30, 90)
    assert len(fake.encodes) == choice.encodes <= MAX_ENCODES
    assert len(set(fake.encodes)) == len(fake.encodes)  # never encodes the same quality twice
    exact = min(max(math.ceil((target - fake.at_zero) / slope), 30), 90)
    if fake.score(exact.to_bytes(2, "big")) >= target:
        assert choice.met_target and choice.score is not None and choice.score >= target
        assert choice.quality - exact <= 3  # exact, or a few steps above when the budget ran out
    assert choice.probe_data == choice.quality.to_bytes(2, "big")


def test_when_even_the_highest_quality_misses_the_bound_wins() -> None:
    fake = Counting(slope=0.1, at_zero=40.0)  # 49 at quality 90
    choice = search(fake.encode, fake.score, "avif", 78.0, 30, 90)
    assert (choice.quality, choice.met_target) == (90, False)
    assert len(fake.encodes) <= MAX_ENCODES


def test_when_even_the_lowest_quality_passes_it_is_taken() -> None:
    fake = Counting(slope=0.1, at_zero=80.0)
    choice = search(fake.encode, fake.score, "webp", 78.0, 30, 90)
    assert (choice.quality, choice.met_target) == (30, True)
    assert len(fake.encodes) <= MAX_ENCODES


def test_a_noisy_non_monotonic_curve_still_returns_a_passing_quality() -> None:
    curve = {q: 40 + 0.5 * q + (1.2 if q % 3 == 0 else -1.2) for q in range(1, 101)}
    fake = Counting(curve=curve)
    choice = search(fake.encode, fake.score, "avif", 72.0, 30, 90)
    assert choice.met_target and curve[choice.quality] >= 72.0 and len(fake.encodes) <= MAX_ENCODES


def test_only_the_served_format_is_searched_the_fallbacks_take_the_fixed_quality() -> None:
    assert [served_format(f) for f in [("jpeg", "avif"), ("webp", "jpeg"), ("jpeg",), ("webp", "avif")]] == [
        "avif",
        "webp",
        "jpeg",
        "avif",
    ]
    probe = pyvips.Image.thumbnail(str(SAMPLES / "gps_DSCN0010.jpg"), 320).copy_memory()
    fallback = choose_quality(probe, "webp", SPEC)
    assert (fallback.quality, fallback.encodes, fallback.score) == (SPEC.quality, 0, None)
    assert choose_quality(probe, "avif", SPEC).encodes > 0


def test_the_probe_is_the_width_closest_to_320() -> None:
    assert probe_width((320, 512, 768)) == 320
    assert probe_width((200, 640)) == 200
    assert probe_width((1024, 2048)) == 1024
    assert probe_width((180,)) == 180


# --- graceful on tiny, thin and huge photos ----------------------------------------------------------------------


def jpeg(width: int, height: int) -> bytes:
    image = pyvips.Image.xyz(width, height)[0].cast("uchar").bandjoin([128, 64]).copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=95))


@pytest.mark.parametrize(("width", "height"), [(5, 4), (12, 9), (3000, 7), (7, 2000)])
def test_tiny_and_thin_photos_render_every_format(width: int, height: int) -> None:
    result = render(jpeg(width, height), SPEC)
    assert {r.format for r in result.renditions} == {"avif", "webp"}
    for rendition in result.renditions:
        image = decode(rendition.data)
        assert (image.width, image.height) == (rendition.width, rendition.height)
        assert image.width <= width


def test_a_tall_panorama_is_searched_on_its_middle_and_fits_every_format() -> None:
    """200 x 17000: past AVIF's (16384) and WebP's (16383) largest side, so the renditions and the probes are
    scaled to fit; the search scores a crop of the probe's middle rows, not the whole strip."""
    strip = pyvips.Image.xyz(200, 17_000)[1].cast("uchar").bandjoin([90, 160]).copy(interpretation="srgb")
    result = render(bytes(strip.jpegsave_buffer(Q=90)), SPEC)
    sizes = {r.format: (r.width, r.height) for r in result.renditions}
    assert max(sizes["avif"]) == 16_384 and max(sizes["webp"]) == 16_383
    probe = strip.copy_memory()
    choice = choose_quality(probe, "avif", SPEC)
    assert choice.encodes <= MAX_ENCODES and choice.probe_data == b""  # a crop: nothing to reuse
    assert search_memory_bytes(SPEC, 200, 17_000) < search_memory_bytes(SPEC, 320, 480) * 2


def test_a_thin_probe_falls_back_to_the_fixed_quality() -> None:
    strip = pyvips.Image.black(320, 3, bands=3).copy(interpretation="srgb")
    choice = choose_quality(strip, "avif", SPEC)
    assert (choice.quality, choice.encodes, choice.score) == (SPEC.quality, 0, None)


def test_the_search_costs_the_same_on_a_huge_photo() -> None:
    """The search runs on the 320 px probe: its memory does not grow with the photo."""
    small, huge = search_memory_bytes(SPEC, 1024, 768), search_memory_bytes(SPEC, 30_000, 22_500)
    assert small == huge > 0
    assert search_memory_bytes(replace(SPEC, quality_target=0), 30_000, 22_500) == 0


def test_the_encode_plan_memory_grows_with_the_largest_rendition_and_avif() -> None:
    wide = replace(SPEC, widths=(320, 2560))
    assert encode_plan_memory_bytes(wide, 6000, 4000) > encode_plan_memory_bytes(SPEC, 6000, 4000)
    webp_only = replace(wide, formats=("webp",))
    assert encode_plan_memory_bytes(wide, 6000, 4000) > encode_plan_memory_bytes(webp_only, 6000, 4000)
    assert encode_plan_memory_bytes(wide, 200, 100) < encode_plan_memory_bytes(wide, 6000, 4000)
