"""The engine on real photos: sizes, orientation, colour, alpha, metadata, single decode."""

from __future__ import annotations

import pytest

import gallery.engine.decode as decode_module
from gallery.engine import render
from gallery.engine.render import target_widths
from gallery.engine.vips import pyvips
from gallery.model import RenditionSpec
from tests.paths import ORIENTATION, SAMPLES

SPEC = RenditionSpec(widths=(320, 512, 768, 1024, 1280, 1600, 2048, 2560), formats=("webp",))


def load(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def test_target_widths_never_upscale_and_collapse_into_own_width() -> None:
    assert target_widths((320, 512, 768), 600) == (320, 512, 600)
    assert target_widths((320, 512), 5000) == (320, 512)
    assert target_widths((320, 512), 320) == (320,)
    assert target_widths((320, 512), 200) == (200,)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ["landscape", "portrait"])
def test_every_exif_orientation_renders_upright(kind: str, orientation: int) -> None:
    reference = render((ORIENTATION / f"{kind}_1.jpg").read_bytes(), SPEC)
    result = render((ORIENTATION / f"{kind}_{orientation}.jpg").read_bytes(), SPEC)
    assert (result.width, result.height) == (reference.width, reference.height)
    assert (result.width > result.height) == (kind == "landscape")
    ours = load(result.renditions[0].data).cast("float")
    ref = load(reference.renditions[0].data).cast("float")
    assert (ours.width, ours.height) == (ref.width, ref.height)
    # The sample files differ from each other by ~14-16 mean abs error (re-encoding); a wrong rotation or
    # flip of this picture measures 36-88. So "< 25" means upright, and the flipped control proves the
    # comparison can tell.
    assert (ours - ref).abs().avg() < 25
    assert (ours.fliphor() - ref).abs().avg() > 30


def test_widths_at_or_above_the_photo_collapse_into_one_at_its_own_width() -> None:
    result = render((ORIENTATION / "landscape_1.jpg").read_bytes(), SPEC)  # 600x450
    assert [(r.width, r.height) for r in result.renditions] == [(320, 240), (512, 384), (600, 450)]


def test_portrait_is_sized_by_width() -> None:
    result = render((ORIENTATION / "portrait_1.jpg").read_bytes(), SPEC)  # 450x600
    assert [(r.width, r.height) for r in result.renditions] == [(320, 427), (450, 600)]


def test_renditions_are_webp_without_metadata_and_exif_subset_is_read() -> None:
    result = render((SAMPLES / "gps_DSCN0010.jpg").read_bytes(), SPEC)
    assert result.exif.camera_make == "NIKON"
    assert result.exif.camera_model == "COOLPIX P6000"
    assert result.exif.taken_at == "2008-10-22T16:28:39"
    assert result.exif.gps is not None
    for rendition in result.renditions:
        assert rendition.data[:4] == b"RIFF" and rendition.data[8:12] == b"WEBP"
        image = load(rendition.data)
        assert (image.width, image.height) == (rendition.width, rendition.height)
        fields = set(image.get_fields())
        assert not fields & {"exif-data", "xmp-data", "icc-profile-data", "iptc-data"}, fields
        assert b"Exif" not in rendition.data and b"NIKON" not in rendition.data


def test_formats_and_quality_are_configurable() -> None:
    spec = RenditionSpec(widths=(160, 320), formats=("avif", "jpeg", "webp"), quality=60)
    result = render((ORIENTATION / "landscape_1.jpg").read_bytes(), spec)
    kinds = {(r.format, r.width) for r in result.renditions}
    assert kinds == {(f, w) for f in ("avif", "jpeg", "webp") for w in (160, 320)}
    for rendition in result.renditions:
        assert (
            load(rendition.data)
            .get("vips-loader")
            .startswith({"avif": "heifload", "jpeg": "jpegload", "webp": "webpload"}[rendition.format])
        )
    low = render((ORIENTATION / "landscape_1.jpg").read_bytes(), RenditionSpec((320,), ("webp",), quality=30))
    high = render((ORIENTATION / "landscape_1.jpg").read_bytes(), RenditionSpec((320,), ("webp",), quality=95))
    assert len(low.renditions[0].data) < len(high.renditions[0].data)


def test_alpha_png_keeps_alpha_in_webp_and_is_flattened_in_jpeg() -> None:
    spec = RenditionSpec(widths=(160,), formats=("webp", "jpeg"))
    result = render((SAMPLES / "alpha.png").read_bytes(), spec)
    assert result.has_alpha and result.source_format == "png"
    by_format = {r.format: load(r.data) for r in result.renditions}
    webp = by_format["webp"]
    assert webp.bands == 4
    assert webp[3].min() < 50 and webp[3].max() == 255  # transparent corners, opaque centre
    assert by_format["jpeg"].bands == 3


def test_cmyk_jpeg_becomes_srgb() -> None:
    result = render((SAMPLES / "cmyk.jpg").read_bytes(), RenditionSpec((320,), ("webp",)))
    image = load(result.renditions[0].data)
    assert image.bands == 3 and image.interpretation == "srgb"
    # A real photo in sRGB, not inverted CMYK channels: not all-dark, not all-white.
    assert 30 < image.avg() < 220


def test_heic_from_a_phone_decodes_upright() -> None:
    result = render((SAMPLES / "iphone_13_pro_max.heic").read_bytes(), RenditionSpec((320,), ("webp",)))
    assert result.source_format == "heif"
    assert (result.width, result.height) == (3024, 4032)
    assert result.exif.camera_make == "Apple"
    assert (result.renditions[0].width, result.renditions[0].height) == (320, 427)


def test_grey_16_bit_png_converts_to_8_bit_srgb() -> None:
    grey16 = (pyvips.Image.black(64, 48) + 30000).cast("ushort").copy(interpretation="grey16")
    result = render(bytes(grey16.pngsave_buffer()), RenditionSpec((32,), ("webp",)))
    image = load(result.renditions[0].data)
    assert image.interpretation == "srgb" and image.format == "uchar"
    assert abs(image.avg() - 30000 / 257) < 2


def test_placeholder_and_dominant_colour() -> None:
    result = render((ORIENTATION / "landscape_1.jpg").read_bytes(), SPEC)
    import base64

    assert 5 <= len(base64.b64decode(result.placeholder)) <= 40
    assert result.dominant_color.startswith("#") and len(result.dominant_color) == 7


def test_the_photo_is_decoded_once_for_all_widths(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, object]]] = []
    real_open_image = decode_module.open_image

    def counting_open_image(data: bytes, fmt: str, **options: object) -> pyvips.Image:
        calls.append((fmt, options))
        return real_open_image(data, fmt, **options)

    monkeypatch.setattr(decode_module, "open_image", counting_open_image)
    spec = RenditionSpec(widths=(320, 512, 640), formats=("webp",))
    result = render((SAMPLES / "large" / "landscape_20mp.jpg").read_bytes(), spec)  # 6028 px wide
    assert [r.width for r in result.renditions] == [320, 512, 640]
    # one header read, one pixel decode by the JPEG loader, however many widths: it shrinks 4x on load
    # (6028 -> 1507) and leaves the last 2x or more to the resize
    assert calls == [("jpeg", {"access": "sequential"}), ("jpeg", {"access": "sequential", "shrink": 4})]


def test_calibrate_concurrency_is_the_terraform_formula() -> None:
    from gallery_cli.measure import capacity_table, concurrency, fit_line

    assert concurrency(2048, 1, 80) == 2  # CPU cap: 2 x vCPU
    assert concurrency(1024, 4, 120) == 6  # memory cap: floor((1024 - 200) / 120)
    assert concurrency(256, 1, 120) == 1  # never below one
    assert fit_line([(1, 90.0), (2, 135.0), (4, 225.0)]) == pytest.approx((45.0, 45.0))
    rows = {(r.memory_mib, r.vcpu): r for r in capacity_table(45.0, 1.0, load_per_hour=7200)}
    assert rows[(1024, 4)].concurrency is None  # Cloud Run needs 2 GiB for 4 vCPU
    assert (rows[(2048, 2)].concurrency, rows[(2048, 2)].photos_per_hour, rows[(2048, 2)].instances_for_load) == (
        4,
        7200,
        1,
    )
