"""Valid files that strict loading must not refuse: a strip TIFF without RowsPerStrip, fully transparent PNGs and
LZMA-compressed TIFFs (decoded by Pillow, with the header's limits, orientation and profile as for any TIFF).

Every input is generated here, in memory.
"""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Callable

import pytest
import thumbhash
from PIL import Image, TiffImagePlugin

import gallery.engine.decode as decode_module
from gallery.engine import render
from gallery.engine.memory import estimate_render
from gallery.engine.vips import pyvips
from gallery.errors import CorruptImageError, LimitExceededError
from gallery.model import Limits, RenderResult, RenditionSpec
from tests.paths import ORIENTATION

SPEC = RenditionSpec(widths=(160, 600), formats=("webp",), quality=95)
EVERY_FORMAT = RenditionSpec(widths=(160, 320), formats=("webp", "avif", "jpeg"))
ROWS_PER_STRIP, EXTRA_SAMPLES = 278, 338


def _photo(width: int = 240) -> Image.Image:
    """A real photo, `width` px wide (4:3), as 8-bit RGB."""
    image = Image.open(ORIENTATION / "landscape_1.jpg").convert("RGB")
    return image.resize((width, width * 3 // 4), Image.Resampling.LANCZOS)


def _as_vips(image: Image.Image) -> pyvips.Image:
    rgb = image.convert("RGB")
    pixels = pyvips.Image.new_from_memory(rgb.tobytes(), rgb.width, rgb.height, 3, "uchar")
    return pixels.copy(interpretation="srgb").copy_memory()  # a copy of the pixels, not a view of the bytes


def _tiff(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "TIFF", **options)
    return out.getvalue()


def _without_tag(tiff: bytes, tag: int) -> bytes:
    """The classic TIFF with `tag` removed from its first IFD, rewritten in place (every offset stays valid)."""
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    entries = [tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i] for i in range(count)]
    kept = [entry for entry in entries if struct.unpack_from(order + "H", entry)[0] != tag]
    assert len(kept) == count - 1, f"tag {tag} is not in the first IFD"
    next_ifd = tiff[ifd + 2 + 12 * count : ifd + 6 + 12 * count]
    rewritten = struct.pack(order + "H", len(kept)) + b"".join(kept) + next_ifd + bytes(12)
    return tiff[:ifd] + rewritten + tiff[ifd + len(rewritten) :]


def _tags(tiff: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(tiff)) as image:
        return dict(image.tag_v2)  # type: ignore[attr-defined]


def _largest(result: RenderResult, fmt: str = "webp") -> pyvips.Image:
    widest = max((r for r in result.renditions if r.format == fmt), key=lambda r: r.width)
    return pyvips.Image.new_from_buffer(widest.data, "")


def _difference(a: pyvips.Image, b: pyvips.Image) -> float:
    assert (a.width, a.height, a.bands) == (b.width, b.height, b.bands)
    return float((a.cast("float") - b.cast("float")).abs().avg())


# A strip TIFF without RowsPerStrip: TIFF 6.0's default (2**32 - 1) puts the whole image in one strip.


@pytest.mark.parametrize("options", [{}, {"compression": "tiff_deflate"}, {"compression": "packbits"}])
@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_a_strip_tiff_without_rows_per_strip_renders(options: dict[str, object], byte_order: str) -> None:
    photo = _photo()
    whole = _tiff(photo, tiffinfo={ROWS_PER_STRIP: photo.height}, byte_order=byte_order, **options)
    data = _without_tag(whole, ROWS_PER_STRIP)
    assert ROWS_PER_STRIP not in _tags(data) and len(_tags(data)[273]) == 1  # type: ignore[arg-type]
    assert pyvips.Image.new_from_buffer(data, "").avg() > 0  # libvips on its own reads it
    estimate_render(data, SPEC, Limits())
    result, expected = render(data, SPEC, Limits()), render(whole, SPEC, Limits())
    assert (result.width, result.height) == photo.size
    assert _largest(result).write_to_memory() == _largest(expected).write_to_memory()
    assert _difference(_largest(result), _as_vips(photo)) < 4  # WebP at quality 95 on a small photo


def test_a_truncated_strip_tiff_without_rows_per_strip_is_still_refused() -> None:
    photo = _photo()
    data = _without_tag(_tiff(photo, tiffinfo={ROWS_PER_STRIP: photo.height}), ROWS_PER_STRIP)
    with pytest.raises(CorruptImageError):
        render(data[: len(data) // 2], SPEC, Limits())


# Fully transparent images: valid (a spacer, a blank layer), rendered like any other image with alpha.


@pytest.mark.parametrize(("width", "height"), [(1, 1), (64, 48)])
def test_a_fully_transparent_png_renders(width: int, height: int) -> None:
    clear = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    out = io.BytesIO()
    clear.save(out, "PNG")
    result = render(out.getvalue(), EVERY_FORMAT, Limits())
    assert (result.width, result.height, result.has_alpha) == (width, height, True)
    # never upscaled: every width at or above the image's own collapses into one at its own width
    assert {(r.format, r.width, r.height) for r in result.renditions} == {
        (fmt, width, height) for fmt in ("webp", "avif", "jpeg")
    }
    for fmt in ("webp", "avif"):
        image = _largest(result, fmt)
        assert image.bands == 4 and image[3].max() == 0
    assert _largest(result, "jpeg").min() > 250  # flattened onto white, as every JPEG with alpha
    assert result.dominant_color == "#ffffff"  # the colour of what shows through: the white it is flattened on
    hashed = thumbhash.thumb_hash_to_average_rgba(base64.b64decode(result.placeholder))
    assert hashed[3] < 0.05  # the placeholder is transparent too


def test_a_fully_transparent_png_renders_with_a_quality_target() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (64, 48), (0, 0, 0, 0)).save(out, "PNG")
    spec = RenditionSpec(widths=(32, 160), formats=("webp", "avif"), quality_target=80.0)
    result = render(out.getvalue(), spec, Limits())
    assert {(r.format, r.width) for r in result.renditions} == {("webp", 32), ("webp", 64), ("avif", 32), ("avif", 64)}


def test_a_tiff_with_alpha_that_is_fully_transparent_renders() -> None:
    data = _tiff(Image.new("RGBA", (64, 48), (10, 20, 30, 0)))
    assert EXTRA_SAMPLES in _tags(data)
    result = render(data, SPEC, Limits())
    assert result.has_alpha and _largest(result)[3].max() == 0


def test_a_tiff_without_alpha_that_decodes_fully_transparent_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """libtiff's RGBA reader turns a codec it cannot really decode into an empty, fully transparent image: when the
    file declares no alpha sample, such a decode is damage, not a picture."""
    data = _tiff(_photo())
    real_open_image = decode_module.open_image

    def misdecoding(data: bytes, fmt: str, **options: object) -> pyvips.Image:
        return real_open_image(data, fmt, **options).bandjoin(0)

    monkeypatch.setattr(decode_module, "open_image", misdecoding)
    with pytest.raises(CorruptImageError, match="fully transparent"):
        render(data, SPEC, Limits())


# LZMA-compressed TIFF (compression 34925): the bundled libtiff has no LZMA codec, Pillow's has.


def _lzma(image: Image.Image, **options: object) -> bytes:
    data = _tiff(image, compression="lzma", **options)
    assert _tags(data)[259] == 34925
    return data


def _cmyk(photo: Image.Image) -> Image.Image:
    return photo.convert("CMYK")


def _grey16(photo: Image.Image) -> Image.Image:
    return photo.convert("L").point(lambda v: v * 257, "I").convert("I;16")


def _half_clear(photo: Image.Image) -> Image.Image:
    rgba = photo.convert("RGBA")
    rgba.paste((0, 0, 0, 0), (0, 0, rgba.width // 2, rgba.height))
    return rgba


def _p3_profile() -> bytes:
    profile: bytes = pyvips.Image.black(1, 1, bands=3).icc_transform("p3").get("icc-profile-data")
    return profile


def _same(photo: Image.Image) -> Image.Image:
    return photo


def _grey(photo: Image.Image) -> Image.Image:
    return photo.convert("L")


@pytest.mark.parametrize(
    ("make", "options"),
    [
        (_same, {}),
        (_same, {"tiffinfo": {274: 6}}),  # EXIF orientation: rotate 90° clockwise
        (_same, {"icc_profile": _p3_profile()}),
        (_half_clear, {}),
        (_grey, {}),
        (_grey16, {}),
        (_cmyk, {}),
    ],
    ids=["rgb", "orientation 6", "display p3", "rgba", "grey", "grey 16-bit", "cmyk"],
)
def test_an_lzma_tiff_renders_as_the_same_tiff_uncompressed_does(
    make: Callable[[Image.Image], Image.Image], options: dict[str, object]
) -> None:
    image = make(_photo())
    _assert_renders_alike(_lzma(image, **options), _tiff(image, **options))


def test_an_lzma_tiff_without_rows_per_strip_renders() -> None:
    photo = _photo()
    lzma = _without_tag(_lzma(photo, tiffinfo={ROWS_PER_STRIP: photo.height}), ROWS_PER_STRIP)
    _assert_renders_alike(lzma, _tiff(photo))


def _assert_renders_alike(data: bytes, reference: bytes) -> None:
    expected, result = render(reference, SPEC, Limits()), render(data, SPEC, Limits())
    assert (result.source_format, result.width, result.height, result.has_alpha) == (
        "tiff",
        expected.width,
        expected.height,
        expected.has_alpha,
    )
    assert _difference(_largest(result), _largest(expected)) < 1
    assert result.dominant_color == expected.dominant_color


def test_an_lzma_tiff_looks_like_the_photo() -> None:
    photo = _photo(600)
    result = render(_lzma(photo), SPEC, Limits())
    assert (result.width, result.height) == (600, 450)
    assert _difference(_largest(result), _as_vips(photo)) < 3


def test_an_lzma_pyramid_renders_its_full_resolution_page() -> None:
    photo = _photo(400)
    out = io.BytesIO()
    photo.resize((100, 75)).save(out, "TIFF", compression="lzma", save_all=True, append_images=[photo])
    result = render(out.getvalue(), SPEC, Limits())
    assert (result.width, result.height) == (400, 300)
    assert _difference(_largest(result), _as_vips(photo)) < 3


def test_a_truncated_lzma_tiff_is_corrupt() -> None:
    data = _lzma(_photo())
    with pytest.raises(CorruptImageError):
        render(data[: len(data) * 2 // 3], SPEC, Limits())


def _forbid_pillow_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow decoded pixels before the limits were checked")

    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "load", refuse)


@pytest.mark.parametrize(
    ("limits", "pages", "code"),
    [
        (Limits(max_pixels=10_000), 1, "too_many_pixels"),
        (Limits(max_side=200), 1, "side_too_long"),
        (Limits(max_frames=2), 3, "too_many_frames"),
    ],
)
def test_an_lzma_tiff_over_a_limit_is_refused_before_pillow_decodes(
    limits: Limits, pages: int, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = _photo()
    out = io.BytesIO()
    photo.save(out, "TIFF", compression="lzma", save_all=True, append_images=[photo] * (pages - 1))
    _forbid_pillow_decoding(monkeypatch)
    for attempt in (render, estimate_render):
        with pytest.raises(LimitExceededError) as raised:
            attempt(out.getvalue(), SPEC, limits)
        assert raised.value.code == code


def test_an_lzma_tiff_is_estimated_as_decoded_whole() -> None:
    photo = _photo(1200)
    plain, lzma = estimate_render(_tiff(photo), SPEC, Limits()), estimate_render(_lzma(photo), SPEC, Limits())
    assert plain.decode_mib == 0  # libvips streams an uncompressed strip TIFF
    assert lzma.decode_mib * 1024 * 1024 >= 8 * 1200 * 900  # Pillow holds the whole image, and a copy of it


def test_a_tiff_over_pillows_own_pixel_ceiling_is_refused_by_the_limits() -> None:
    """Reading the tags must not trip Pillow's decompression-bomb check: the header limits decide."""
    data = bytes(pyvips.Image.black(20_000, 10_000).tiffsave_buffer(compression="deflate"))
    with pytest.raises(LimitExceededError) as raised:
        render(data, SPEC, Limits())
    assert raised.value.code == "too_many_pixels"


def test_a_tiff_over_pillows_own_ceiling_but_within_the_limits_is_refused_as_a_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pillow, which decodes an LZMA TIFF, has a pixel ceiling of its own: a photo over it is a limit, not damage."""
    data = _lzma(_photo())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    with pytest.raises(LimitExceededError) as raised:
        render(data, SPEC, Limits())
    assert raised.value.code == "too_many_pixels"


def test_an_8bit_cielab_tiff_is_rendered_upright_like_any_tiff() -> None:
    """8-bit CIELab goes through the same Pillow decode: its EXIF orientation is applied and the size reported
    upright."""
    photo = _photo()
    expected = render(_tiff(photo, tiffinfo={274: 6}), SPEC, Limits())
    result = render(_tiff(photo.convert("LAB"), tiffinfo={274: 6}), SPEC, Limits())
    assert (result.width, result.height) == (expected.width, expected.height) == (180, 240)
    assert _difference(_largest(result), _largest(expected)) < 4
