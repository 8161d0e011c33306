"""Colour management, measured: every tagged input comes out as a colour-managed viewer shows it.

The references come from tests/colour_files.py (Pillow/pillow-heif decoding and LittleCMS through Pillow's
ImageCms, or the BT.2020 matrix in linear light): a path that shares no code with the engine's. Each case
also shows that the old behaviour, pixel values read as if they were sRGB, fails the same bar.
"""

from __future__ import annotations

import io

import pillow_heif
import pytest

from gallery.engine import iccgen, render
from gallery.engine.colour import is_wide_gamut
from gallery.engine.decode import decode
from gallery.engine.vips import pyvips
from gallery.model import Limits, RenditionSpec
from tests.colour_files import ADOBE_RGB, D65, Tagged, builtin_profile, delta_e, encoded, hdr, nclx, photo, tagged

MAX_MEAN_DE = 1.0
MAX_P95_DE = 3.0
FORMATS = ["jpeg", "png16", "webp", "tiff", "heic", "avif"]
# Grey needs a format that stores one channel with a grey profile; libvips writes grey WebP and AVIF as RGB.
CASES = [
    *[("p3", f) for f in FORMATS],
    *[("adobe", f) for f in FORMATS],
    *[("grey18", f) for f in ("jpeg", "png16", "tiff", "heic")],
    *[("cmyk", f) for f in ("jpeg", "tiff")],
]


def _decoded(data: bytes, keep_wide_gamut: bool = False) -> pyvips.Image:
    return decode(data, 10_000, Limits(), keep_wide_gamut=keep_wide_gamut).image


def _check(case: Tagged, old_path_is_wrong: bool = True) -> None:
    image = _decoded(case.data)
    assert image.interpretation == "srgb" and image.format == "uchar" and image.bands == 3
    assert not image.get_typeof("icc-profile-data")  # renditions are untagged sRGB
    mean, p95 = delta_e(image, case.reference)
    assert mean <= MAX_MEAN_DE and p95 <= MAX_P95_DE, f"{case.name}: mean ΔE00 {mean:.2f}, p95 {p95:.2f}"
    if old_path_is_wrong:
        assert delta_e(case.unmanaged, case.reference)[0] > MAX_MEAN_DE  # the bar catches a missing conversion


@pytest.mark.parametrize(("kind", "fmt"), CASES, ids=[f"{k}-{f}" for k, f in CASES])
def test_an_embedded_profile_is_converted_to_srgb(kind: str, fmt: str) -> None:
    # CMYK was already converted through its profile before; grey and RGB profiles were ignored.
    _check(tagged(kind, fmt), old_path_is_wrong=kind != "cmyk")


@pytest.mark.parametrize(("primaries", "fmt"), [("p3", "heic"), ("p3", "avif"), ("bt2020", "heic"), ("bt2020", "avif")])
def test_nclx_colour_without_a_profile_is_converted_to_srgb(primaries: str, fmt: str) -> None:
    _check(nclx(primaries, fmt))


@pytest.mark.parametrize("fmt", ["heic", "avif"])
@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_hdr_is_tone_mapped_to_sdr(transfer: str, fmt: str) -> None:
    """A 10-bit BT.2020 PQ/HLG HEIC made from the photo (white at 203 cd/m²) looks like the SDR photo again.

    Highlights above 75 % roll off by design, so the bar is looser than a plain conversion's; read as sRGB,
    the raw signal is far off.
    """
    data = hdr(transfer, fmt)
    image = _decoded(data)
    mean, p95 = delta_e(image, photo())
    assert mean <= 2.5 and p95 <= 6, f"{transfer}: mean ΔE00 {mean:.2f}, p95 {p95:.2f}"
    if fmt == "avif":
        raw = pyvips.Image.heifload_buffer(data).colourspace("srgb")
    else:
        signal = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        raw = pyvips.Image.new_from_memory(bytes(signal.data), signal.stride // 3, signal.size[1], 3, "uchar")
        raw = raw.crop(0, 0, *signal.size).copy(interpretation="srgb")
    assert delta_e(raw, photo())[0] > 5  # the signal shown as if it were sRGB (HLG: 5.9, PQ: far more)


def test_built_profiles_match_libvips_builtin_ones() -> None:
    """The nclx profiles are built in code: sRGB and P3 built from their primaries equal libvips' own."""
    src = photo()
    for name, primaries in (
        ("srgb", ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))),
        ("p3", ((0.68, 0.32), (0.265, 0.69), (0.15, 0.06))),
    ):
        built = iccgen.rgb_profile(name, *primaries, D65)
        tagged_image = src.icc_transform(name).copy()
        ours = tagged_image.copy()
        ours.set_type(pyvips.GValue.blob_type, "icc-profile-data", built)
        a = tagged_image.icc_transform("srgb", embedded=True, intent="relative")
        b = ours.icc_transform("srgb", embedded=True, intent="relative")
        assert float((a.cast("int") - b.cast("int")).abs().max()) <= 2, name  # rounding of the primaries
        assert delta_e(a, b)[0] < 0.1, name


def test_wide_gamut_is_detected_from_the_profile() -> None:
    assert is_wide_gamut(builtin_profile("p3")) and is_wide_gamut(ADOBE_RGB)
    assert not is_wide_gamut(builtin_profile("srgb")) and not is_wide_gamut(builtin_profile("cmyk"))
    assert not is_wide_gamut(None) and not is_wide_gamut(b"not a profile")


SPEC = RenditionSpec(widths=(320,), formats=("webp", "avif", "jpeg"))
WIDE = RenditionSpec(widths=(320,), formats=("webp", "avif", "jpeg"), keep_wide_gamut=True)


@pytest.mark.parametrize("kind", ["p3", "adobe"])
def test_wide_gamut_opt_in_keeps_display_p3_with_its_profile(kind: str) -> None:
    case = tagged(kind, "jpeg")
    p3 = builtin_profile("p3")
    # The decoded photo is P3, and shows as the reference once its profile is applied.
    image = _decoded(case.data, keep_wide_gamut=True)
    assert image.get("icc-profile-data") == p3
    shown = image.icc_transform("srgb", embedded=True, intent="relative")
    assert delta_e(shown, case.reference)[0] <= MAX_MEAN_DE
    assert delta_e(image.copy(interpretation="srgb"), case.reference)[0] > MAX_MEAN_DE  # P3 values, not sRGB
    for rendition in render(case.data, WIDE).renditions:
        out = pyvips.Image.new_from_buffer(rendition.data, "")
        assert out.get("icc-profile-data") == p3, rendition.format
        assert not out.get_typeof("exif-data")
    assert len(p3) < 1024  # compact: a few hundred bytes per rendition


def test_wide_gamut_opt_in_leaves_srgb_photos_untagged() -> None:
    srgb_tagged = encoded(photo(), "jpeg", builtin_profile("srgb"))
    untagged = encoded(photo(), "jpeg", None)
    for data in (srgb_tagged, untagged):
        for rendition in render(data, WIDE).renditions:
            assert not pyvips.Image.new_from_buffer(rendition.data, "").get_typeof("icc-profile-data")


def test_the_placeholder_colour_is_srgb_in_both_modes() -> None:
    data = tagged("p3", "jpeg").data
    assert render(data, SPEC).dominant_color == render(data, WIDE).dominant_color


def test_the_wide_gamut_setting_is_part_of_the_spec_version() -> None:
    assert SPEC.version != WIDE.version
