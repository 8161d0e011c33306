"""Text is shaped (Devanagari conjuncts, Arabic joining), wrapped and shrunk to fit; crops; image overlays."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery.engine.vips import pyvips
from gallery.presets.crop import crop_size, crop_to_aspect
from gallery.presets.fonts import UnsupportedScriptError, font_catalogue
from gallery.presets.model import Crop, ImageOverlay, TextOverlay
from gallery.presets.overlays import draw_image, draw_overlays
from gallery.presets.placement import place
from gallery.presets.text import TextDoesNotFitError, draw_text, fill_template, set_text

FONTS = font_catalogue()
BIG_BOX = (4000, 1000)


def width_of(text: str, family: str = "Noto Sans") -> int:
    return int(set_text(text, family, False, 60, BIG_BOX, "low").mask.width)


def black(width: int, height: int) -> pyvips.Image:
    return pyvips.Image.black(width, height, bands=3).copy(interpretation="srgb").cast("uchar")


def ink_box(image: pyvips.Image) -> tuple[int, int, int, int]:
    """left, top, width, height of everything that is not black."""
    left, top, width, height = image.extract_band(0).find_trim(background=[0], threshold=10)
    return int(left), int(top), int(width), int(height)


def test_bundled_fonts_cover_the_scripts_the_product_promises() -> None:
    assert {"Noto Sans", "Noto Sans Devanagari", "Noto Sans Arabic", "Noto Sans Bengali"} <= FONTS.families
    samples = "Hello Ωμέγα Привет नमस्ते বাংলা தமிழ் తెలుగు ગુજરાતી مرحبا 0123 “—”"
    assert FONTS.missing_scripts(samples) == ()
    total = sum(face.path.stat().st_size for face in FONTS.faces)
    assert total < 5_000_000, total  # the bundle carries them


def test_a_devanagari_conjunct_is_one_cluster_narrower_than_its_parts() -> None:
    conjunct = width_of("क्ष")  # KA + VIRAMA + SSA: one conjunct glyph when shaped
    parts = width_of("क्") + width_of("ष")
    assert conjunct < parts * 0.75, (conjunct, parts)


def test_arabic_letters_join_and_run_right_to_left() -> None:
    word = "مرحبا"
    joined = width_of(word)
    isolated = sum(width_of(letter) for letter in word)
    assert joined < isolated * 0.85, (joined, isolated)
    # Right to left: the first letter (MEEM) is drawn at the right end of the word.
    meem = set_text("م", "Noto Sans", False, 60, BIG_BOX, "low").mask
    line = set_text(word, "Noto Sans", False, 60, BIG_BOX, "low").mask
    right = line.crop(line.width - meem.width, 0, meem.width, line.height)
    left = line.crop(0, 0, meem.width, line.height)
    assert right.avg() > 0 and left.avg() > 0
    reversed_line = set_text(word[::-1], "Noto Sans", False, 60, BIG_BOX, "low").mask
    assert (reversed_line.width, reversed_line.avg()) != (line.width, line.avg())


def test_a_script_no_font_covers_is_a_permanent_error_naming_it() -> None:
    overlay = TextOverlay(type="text", text="{title}")
    with pytest.raises(UnsupportedScriptError, match="Han") as caught:
        draw_text(black(320, 200), overlay, "東京の夜", FONTS)
    assert caught.value.code == "unsupported_script"
    assert "Hiragana" in caught.value.reason
    with pytest.raises(UnsupportedScriptError, match="Ethiopic"):
        FONTS.check_text("Hello ሰላም")
    with pytest.raises(UnsupportedScriptError, match="no font covers symbol U\\+1F305"):
        FONTS.check_text("Sunrise 🌅")


@pytest.mark.parametrize("anchor", ["top-left", "bottom-right", "centre", "bottom"])
def test_long_text_is_wrapped_and_shrunk_into_the_margins_never_clipped(anchor: str) -> None:
    width, height, margin = 480, 270, 0.05
    overlay = TextOverlay(type="text", text="{t}", size=0.2, anchor=anchor, margin=margin)  # type: ignore[arg-type]
    long_title = "A very long title about a summer evening at the lake with friends, " * 3
    drawn = draw_text(black(width, height), overlay, long_title, FONTS)
    left, top, w, h = ink_box(drawn)
    inset = round(margin * width)
    assert left >= inset and top >= inset, (left, top)
    assert left + w <= width - inset and top + h <= height - inset, (left, top, w, h)
    assert h > 3 * 0.2 * width * 0.1  # wrapped onto several lines, still legible
    setting = set_text(long_title, "Noto Sans", False, 0.2 * width, (width - 2 * inset, height - 2 * inset), "low")
    assert setting.font_px < 0.2 * width * 0.5  # shrunk
    assert setting.mask.width <= width - 2 * inset and setting.mask.height <= height - 2 * inset


def test_short_text_keeps_its_size_and_sits_at_its_anchor() -> None:
    overlay = TextOverlay(type="text", text="{t}", size=0.1, anchor="top-right", margin=0.05)
    drawn = draw_text(black(400, 300), overlay, "Hi", FONTS)
    left, top, w, h = ink_box(drawn)
    assert 20 <= top <= 30 and 360 <= left + w <= 380 and left > 200
    assert 20 <= h <= 40  # a 40 px font's cap height


def test_text_that_cannot_fit_is_refused_not_clipped() -> None:
    with pytest.raises(TextDoesNotFitError):
        set_text("word " * 400, "Noto Sans", False, 40, (60, 20), "low")


def test_fill_and_stroke_colours() -> None:
    overlay = TextOverlay(type="text", text="x", size=0.3, fill="#ff0000", stroke="#00ff00", anchor="centre")
    drawn = draw_text(black(300, 200), overlay, "O", FONTS)
    reds = drawn.extract_band(0).relational_const("more", 200).avg()
    greens = drawn.extract_band(1).relational_const("more", 200).avg()
    assert reds > 0 and greens > 0
    assert drawn.bands == 3 and drawn.format == "uchar"


def test_templates_use_the_language_then_the_plain_key() -> None:
    meta = {"title-hi": "नमस्ते", "title": "Hello", "place": "Pune"}
    assert fill_template("{title}", meta, "hi") == "नमस्ते"
    assert fill_template("{title}", meta, "en") == "Hello"
    assert fill_template("{title}, {place}", meta, None) == "Hello, Pune"
    assert fill_template("{caption}", meta, "hi") is None
    assert fill_template("{{literal}}", meta, "hi") == "{literal}"


def test_overlays_leave_out_a_text_without_metadata() -> None:
    image = black(200, 100)
    overlay = TextOverlay(type="text", text="{title}")
    assert draw_overlays(image, [overlay], {}, "hi", FONTS, Path()).avg() == 0
    assert draw_overlays(image, [overlay], {"title": "Hi"}, "hi", FONTS, Path()).avg() > 0


@pytest.mark.parametrize(("aspect", "ratio"), [("1:1", 1.0), ("16:9", 16 / 9), ("4:5", 0.8), ("3:1", 3.0)])
@pytest.mark.parametrize("focus", ["attention", "centre"])
def test_crops_give_the_aspect(aspect: str, ratio: float, focus: str) -> None:
    image = pyvips.Image.xyz(800, 600).extract_band(0).cast("uchar").bandjoin([128, 64]).copy(interpretation="srgb")
    cropped = crop_to_aspect(image, Crop(aspect=aspect, focus=focus))  # type: ignore[arg-type]
    assert abs(cropped.width / cropped.height - ratio) < 0.01
    assert cropped.width == 800 or cropped.height == 600  # the largest such crop


def test_attention_crop_keeps_the_busy_part() -> None:
    flat = pyvips.Image.black(900, 300, bands=3).new_from_image([100, 100, 100]).copy(interpretation="srgb")
    busy = pyvips.Image.gaussnoise(200, 200, sigma=80, mean=128, seed=1).cast("uchar").bandjoin([0, 255])
    image = flat.insert(busy.copy(interpretation="srgb"), 650, 50).cast("uchar")
    square = crop_to_aspect(image, Crop(aspect="1:1", focus="attention"))
    centre = crop_to_aspect(image, Crop(aspect="1:1", focus="centre"))
    assert square.deviate() > centre.deviate() * 2
    assert crop_size(900, 300, 1.0) == (300, 300) and crop_size(300, 900, 0.5) == (300, 600)


def _logo(path: Path) -> Path:
    logo = pyvips.Image.black(100, 50, bands=3).new_from_image([255, 255, 255]).bandjoin(255)
    logo.copy(interpretation="srgb").cast("uchar").pngsave(str(path))
    return path


@pytest.mark.parametrize("opacity", [1.0, 0.5, 0.25])
def test_image_overlay_width_anchor_and_opacity(tmp_path: Path, opacity: float) -> None:
    _logo(tmp_path / "logo.png")
    overlay = ImageOverlay(type="image", src="logo.png", anchor="bottom-right", width=0.25, opacity=opacity, margin=0)
    drawn = draw_image(black(400, 300), overlay, tmp_path)
    left, top, w, h = ink_box(drawn)
    assert (left, top, w, h) == (300, 250, 100, 50)
    assert abs(drawn.crop(300, 250, 100, 50).avg() - 255 * opacity) < 1.5
    assert drawn.crop(0, 0, 300, 250).max() == 0


def test_image_overlay_keeps_the_photo_alpha(tmp_path: Path) -> None:
    _logo(tmp_path / "logo.png")
    photo = black(200, 100).bandjoin(128)
    drawn = draw_image(photo, ImageOverlay(type="image", src="logo.png", anchor="top-left", margin=0.1), tmp_path)
    assert drawn.bands == 4 and drawn.format == "uchar"


def test_place_puts_an_overlay_at_each_anchor() -> None:
    box, size, inset = (100, 80), (20, 10), 5
    assert place("top-left", box, size, inset) == (5, 5)
    assert place("top", box, size, inset) == (40, 5)
    assert place("right", box, size, inset) == (75, 35)
    assert place("centre", box, size, inset) == (40, 35)
    assert place("bottom-left", box, size, inset) == (5, 65)


def test_fonts_dir_adds_a_family_that_text_overlays_can_use(tmp_path: Path) -> None:
    """A face from FONTS_DIR is found by its family name (here Noto Sans Bold renamed "Gallery Wide")."""
    from fontTools.ttLib import TTFont

    from gallery.presets.fonts import BUNDLED_FONTS

    with TTFont(BUNDLED_FONTS / "NotoSans-Bold.ttf") as font:
        for record in font["name"].names:
            if record.nameID in (1, 16):
                record.string = "Gallery Wide"
            elif record.nameID in (2, 17):
                record.string = "Regular"
            elif record.nameID in (4, 6):
                record.string = "GalleryWide-Regular"
        font["OS/2"].usWeightClass = 400
        font["OS/2"].fsSelection = (font["OS/2"].fsSelection & ~0x20) | 0x40
        font["head"].macStyle = 0
        font.save(tmp_path / "GalleryWide-Regular.ttf")
    fonts = font_catalogue(str(tmp_path))
    assert fonts.has_family("Gallery Wide") and not font_catalogue().has_family("Gallery Wide")
    overlay = TextOverlay(type="text", text="{t}", font="Gallery Wide", size=0.1, anchor="top-left", margin=0)
    wide = ink_box(draw_text(black(800, 200), overlay, "Hello there", fonts))
    regular = ink_box(
        draw_text(black(800, 200), overlay.model_copy(update={"font": "Noto Sans"}), "Hello there", fonts)
    )
    bold = ink_box(
        draw_text(
            black(800, 200), overlay.model_copy(update={"font": "Noto Sans", "weight": "bold"}), "Hello there", fonts
        )
    )
    assert wide[2] == bold[2] and wide[2] > regular[2]  # drawn with the added face, not a fallback
