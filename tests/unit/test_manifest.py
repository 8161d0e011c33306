"""The document's `src` and `<img>` fallback is the most widely decoded format present."""

from __future__ import annotations

from gallery.manifest import ready_fields
from gallery.model import EncodedRendition, OutputFormat, RenderResult


def result(formats: tuple[OutputFormat, ...]) -> RenderResult:
    renditions = tuple(EncodedRendition(w, w * 3 // 4, f, b"x") for f in sorted(formats) for w in (320, 1280, 2560))
    return RenderResult("jpeg", 4000, 3000, False, renditions, "ph", "#000000")


def test_src_is_webp_when_avif_and_webp_are_rendered() -> None:
    fields = ready_fields(result(("avif", "webp")), "p", 1, "https://cdn", keep_gps=False)
    assert fields["src"] == "https://cdn/p/1/1280.webp"
    assert set(fields["srcset"]) == {"avif", "webp"}
    assert fields["srcset"]["avif"].endswith("/p/1/2560.avif 2560w")


def test_src_is_jpeg_when_present_and_avif_when_alone() -> None:
    assert ready_fields(result(("avif", "jpeg", "webp")), "p", 1, "u", keep_gps=False)["src"].endswith(".jpg")
    assert ready_fields(result(("avif",)), "p", 1, "u", keep_gps=False)["src"] == "u/p/1/1280.avif"
