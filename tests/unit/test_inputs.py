"""Every input of the generated corpus either renders correctly or fails with its documented code."""

from __future__ import annotations

import pytest

from gallery.engine import render
from gallery.engine.limits import check_header, check_isobmff_complete
from gallery.engine.vips import pyvips
from gallery.errors import CorruptImageError, GalleryError, LimitExceededError, PermanentError
from gallery.ids import photo_id
from gallery.model import EventKind, Limits, ObjectEvent, RenderResult, RenditionSpec
from gallery.service import Outcome, PhotoService, ServiceConfig
from gallery.settings import Settings
from tests.corpus import Case, Failed, Ready, case, corpus, too_large
from tests.paths import ORIENTATION
from tests.unit.fakes import FakeRegistry, FakeRenditions, FakeSources

SPEC = RenditionSpec(widths=(160, 320), formats=("webp", "jpeg"))
READY = [c for c in corpus() if isinstance(c.expect, Ready)]
FAILING = [c for c in corpus() if isinstance(c.expect, Failed)]
TRANSPARENT = {"png_alpha.png", "webp_alpha.webp"}


def _image(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def _difference(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean absolute difference of two images' RGB bands, after resizing `b` to `a`."""
    b = b.thumbnail_image(a.width, height=a.height, size="force")
    return float((a[0:3].cast("float") - b[0:3].cast("float")).abs().avg())


@pytest.fixture(scope="module")
def rendered() -> dict[str, RenderResult]:
    return {c.name: render(c.data, SPEC, Limits()) for c in READY}


@pytest.mark.parametrize("item", READY, ids=lambda c: c.name)
def test_supported_inputs_render_upright_srgb_renditions(item: Case, rendered: dict[str, RenderResult]) -> None:
    expect = item.expect
    assert isinstance(expect, Ready)
    result = rendered[item.name]
    assert (result.source_format, result.width, result.height, result.has_alpha) == (
        expect.format,
        expect.width,
        expect.height,
        expect.alpha,
    )
    for rendition in result.renditions:
        image = _image(rendition.data)
        assert (image.width, image.height) == (rendition.width, rendition.height)
        assert image.interpretation == "srgb" and image.format == "uchar"
        if rendition.format == "jpeg" or not expect.alpha:
            assert image.bands == 3  # flattened for JPEG
        elif item.name in TRANSPARENT:
            assert image.bands == 4  # alpha kept where the format has it (libwebp drops an all-opaque one)
        assert not image.get_typeof("exif-data") and not image.get_typeof("icc-profile-data")


@pytest.mark.parametrize("item", [c for c in READY if c.upright_like], ids=lambda c: c.name)
def test_every_exif_orientation_is_applied(item: Case, rendered: dict[str, RenderResult]) -> None:
    assert item.upright_like is not None
    webp = next(r for r in rendered[item.name].renditions if r.format == "webp" and r.width == 320)
    image = _image(webp.data)
    upright = pyvips.Image.new_from_file(str(ORIENTATION / item.upright_like))
    wrong = [upright.fliphor(), upright.flipver(), upright.rot180()]  # what a missed or wrong rotation shows
    assert _difference(image, upright) < 0.5 * min(_difference(image, w) for w in wrong)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("jpeg_cmyk.jpg", None),  # compared with libvips' own CMYK→sRGB conversion through the embedded profile
        ("jpeg_p3_icc.jpg", "jpeg_baseline.jpg"),  # Display P3 bytes must come back to the sRGB original
        ("png_rgb16.png", "jpeg_baseline.jpg"),
        ("png_palette.png", "jpeg_baseline.jpg"),
        ("tiff.tif", "jpeg_baseline.jpg"),
        ("avif.avif", "jpeg_baseline.jpg"),
    ],
)
def test_colour_is_converted_to_srgb(name: str, reference: str | None, rendered: dict[str, RenderResult]) -> None:
    webp = next(r for r in rendered[name].renditions if r.format == "webp" and r.width == 320)
    ref = _image(case(reference or name).data)
    ref = ref.icc_transform("srgb") if reference is None else ref
    assert _difference(_image(webp.data), ref) < 8


def test_grey_inputs_stay_grey(rendered: dict[str, RenderResult]) -> None:
    for name in ("jpeg_grey.jpg", "png_grey16.png"):
        webp = next(r for r in rendered[name].renditions if r.format == "webp")
        image = _image(webp.data)
        assert image.bands == 3  # rendered as sRGB
        assert float((image[0].cast("float") - image[2].cast("float")).abs().avg()) < 1


@pytest.mark.parametrize("name", ["gif_animated.gif", "webp_animated.webp", "tiff_multipage.tif"])
def test_animated_and_multi_page_inputs_render_their_first_frame(name: str, rendered: dict[str, RenderResult]) -> None:
    webp = next(r for r in rendered[name].renditions if r.format == "webp")
    first = pyvips.Image.new_from_file(str(ORIENTATION / "landscape_1.jpg"))
    image = _image(webp.data)
    assert _difference(image, first) < 12  # frame 1 is the negative: it would differ by ~100
    assert _difference(image, first.invert()) > 50


def test_alpha_survives_in_webp(rendered: dict[str, RenderResult]) -> None:
    webp = next(r for r in rendered["png_alpha.png"].renditions if r.format == "webp" and r.width == 320)
    alpha = _image(webp.data)[3]
    assert alpha.crop(0, 0, 150, alpha.height).avg() > 250  # left half opaque
    assert alpha.crop(170, 0, 150, alpha.height).avg() < 5  # right half transparent


@pytest.mark.parametrize("item", FAILING, ids=lambda c: c.name)
def test_hostile_inputs_fail_with_their_code(item: Case) -> None:
    assert isinstance(item.expect, Failed)
    with pytest.raises(PermanentError) as raised:
        render(item.data, SPEC, Limits())
    assert raised.value.code == item.expect.code
    assert raised.value.reason


def test_the_byte_limit_is_checked_before_anything_else() -> None:
    item = too_large(1000)
    with pytest.raises(LimitExceededError) as raised:
        render(item.data, SPEC, Limits(max_bytes=1000))
    assert raised.value.code == "too_large"


@pytest.mark.parametrize(
    ("width", "height", "pages", "code"),
    [
        (10_001, 10_000, 1, "too_many_pixels"),
        (30_001, 10, 1, "side_too_long"),
        (10, 30_001, 1, "side_too_long"),
        (100, 100, 501, "too_many_frames"),
        (0, 100, 1, "corrupt_image"),
    ],
)
def test_header_limits(width: int, height: int, pages: int, code: str) -> None:
    with pytest.raises(GalleryError) as raised:
        check_header(width, height, pages, 10, Limits())
    assert raised.value.code == code
    check_header(10_000, 10_000, 500, 10, Limits())  # exactly at every limit is fine


def test_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_SIDE", "4000")
    monkeypatch.setenv("MAX_FRAMES", "3")
    limits = ServiceConfig.from_settings(Settings.from_env()).limits
    assert (limits.max_side, limits.max_frames) == (4000, 3)
    with pytest.raises(LimitExceededError) as raised:
        render(case("gif_600_frames.gif").data, SPEC, Limits(max_frames=3))
    assert raised.value.code == "too_many_frames"


def test_truncated_isobmff_is_refused_before_decoding() -> None:
    data = case("heic_iphone.heic").data
    check_isobmff_complete(data)
    with pytest.raises(CorruptImageError, match="truncated"):
        check_isobmff_complete(data[:-1])


@pytest.mark.parametrize("item", FAILING, ids=lambda c: c.name)
def test_a_failing_input_is_recorded_as_failed_and_leaves_no_renditions(item: Case) -> None:
    assert isinstance(item.expect, Failed)
    sources, renditions, registry = FakeSources(), FakeRenditions(), FakeRegistry()
    config = ServiceConfig(uploads_bucket="up", spec=SPEC, limits=Limits(), url_prefix="https://cdn")
    service = PhotoService(sources, renditions, registry, config)
    sources.put("up", item.name, 5, item.data)
    event = ObjectEvent(EventKind.FINALIZE, "OBJECT_FINALIZE", "up", item.name, 5, item.content_type, len(item.data))
    assert service.handle(event) is Outcome.FAILED
    doc = registry.get(photo_id("up", item.name))
    assert doc is not None and doc["status"] == "failed"
    assert doc["error"]["code"] == item.expect.code and doc["error"]["reason"]
    assert doc["renditions"] == [] and renditions.objects == {}
    assert service.handle(event) is Outcome.DUPLICATE  # acked once recorded: a redelivery changes nothing
