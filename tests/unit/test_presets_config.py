"""Presets files: validation errors name the preset and the field; which presets a photo gets; the spec version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gallery.model import RenditionSpec
from gallery.presets.load import InvalidPresetsError, load_presets, parse_presets
from gallery.presets.plan import PresetSet, glob_match
from gallery.service import ServiceConfig
from gallery.settings import Settings
from gallery_cli.app import app

GOOD: list[dict[str, Any]] = [
    {
        "name": "square",
        "match": "catalog/**",
        "widths": [320, 640],
        "formats": ["webp", "jpeg"],
        "crop": {"aspect": "1:1", "focus": "attention"},
        "filters": ["grayscale", {"name": "blur", "amount": 0.5}],
        "languages": ["hi", "en"],
        "overlays": [
            {
                "type": "text",
                "text": "{title}",
                "font": "Noto Sans",
                "size": 0.06,
                "fill": "#fff",
                "stroke": "#000000cc",
                "anchor": "bottom-left",
                "margin": 0.04,
            }
        ],
    },
    {"name": "fx", "widths": [320], "filters": ["emboss"]},
]


def _problems(presets: Any, tmp_path: Path = Path()) -> list[str]:
    with pytest.raises(InvalidPresetsError) as caught:
        parse_presets(json.dumps(presets), source="test", base_dir=tmp_path)
    return caught.value.problems


def _with(change: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
    presets = json.loads(json.dumps(GOOD))
    presets[index].update(change)
    return presets


def test_a_valid_file_parses_with_every_field() -> None:
    parsed = parse_presets(json.dumps({"presets": GOOD}), source="test", base_dir=Path())
    square = parsed.presets[0]
    assert [f.name for f in square.filters] == ["grayscale", "blur"]
    assert square.filters[1].strength == 0.5 and square.crop is not None and square.crop.ratio == 1.0
    assert square.languages == ("hi", "en") and square.formats == ("webp", "jpeg")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"filters": ["grayscale", "vignette"]}, "preset 'square': field filters[1].name: Input should be"),
        ({"filters": [{"name": "sepia", "amount": 2}]}, "preset 'square': field filters[0]: sepia takes no amount"),
        ({"crop": {"aspect": "square"}}, "preset 'square': field crop.aspect: 'square' is not an aspect ratio"),
        ({"crop": {"aspect": "1:1", "focus": "face"}}, "preset 'square': field crop.focus"),
        ({"languages": ["Hindi"]}, "preset 'square': field languages: 'Hindi' is not a language tag"),
        ({"widths": [8]}, "preset 'square': field widths: widths must be between 16 and 16384"),
        ({"formats": ["gif"]}, "preset 'square': field formats[0]"),
        ({"name": "Bad Name"}, "preset 'Bad Name': field name: String should match pattern"),
        ({"colour": "#fff"}, "preset 'square': field colour: Extra inputs are not permitted"),
    ],
)
def test_validation_errors_name_the_preset_and_the_field(change: dict[str, Any], expected: str) -> None:
    problems = _problems(_with(change))
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        ({"fill": "#12345"}, "field overlays[0].fill: '#12345' is not a colour"),
        ({"stroke": "black"}, "field overlays[0].stroke: 'black' is not a colour"),
        ({"anchor": "middle"}, "field overlays[0].anchor: Input should be 'top-left'"),
        ({"size": 2}, "field overlays[0].size: Input should be less than or equal to 0.5"),
        ({"text": "{title!r}"}, "field overlays[0].text: {title} in '{title!r}': only plain {key} fields"),
        ({"font": "Comic Sans"}, "field overlays[0].font: unknown font 'Comic Sans' (available: Noto Sans, "),
    ],
)
def test_overlay_errors_name_the_preset_and_the_overlay_field(overlay: dict[str, Any], expected: str) -> None:
    presets = json.loads(json.dumps(GOOD))
    presets[0]["overlays"][0].update(overlay)
    problems = _problems(presets)
    assert any(p.startswith(f"preset 'square': {expected}") for p in problems), problems


def test_image_overlays_must_name_an_existing_png(tmp_path: Path) -> None:
    (tmp_path / "logo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a png")
    presets = _with({"overlays": [{"type": "image", "src": "missing.png"}, {"type": "image", "src": "logo.jpg"}]}, 1)
    problems = _problems(presets, tmp_path)
    assert problems[0] == f"preset 'fx': field overlays[0].src: {tmp_path / 'missing.png'} does not exist"
    assert problems[1] == f"preset 'fx': field overlays[1].src: {tmp_path / 'logo.jpg'} is not a PNG file"


def test_unknown_overlay_type_and_duplicate_names_are_refused() -> None:
    problems = _problems(_with({"overlays": [{"type": "video", "src": "x"}]}))
    assert problems[0].startswith("preset 'square': field overlays[0]: Input tag 'video'"), problems
    duplicate = [*GOOD, {"name": "fx", "widths": [64]}]
    assert _problems(duplicate) == ["presets: preset 'fx' is defined twice"]
    assert _problems({"presets": "nope"})[0].startswith("presets: Input should be a valid tuple")


def test_terraform_nulls_mean_absent() -> None:
    """Terraform's jsonencode writes every unset optional attribute as null."""
    raw = [
        {
            "name": "tf",
            "match": None,
            "widths": [320],
            "formats": ["webp"],
            "quality": None,
            "crop": None,
            "filters": [{"name": "blur", "amount": None}],
            "languages": [],
            "overlays": [
                {"type": "text", "text": "{title}", "font": None, "fill": "#fff", "stroke": None, "src": None}
            ],
        }
    ]
    parsed = parse_presets(json.dumps(raw), source="PRESETS_JSON", base_dir=Path())
    assert parsed.presets[0].filters[0].strength == 1.0 and parsed.presets[0].overlays[0].font == "Noto Sans"


def test_presets_come_from_a_file_or_json_not_both(tmp_path: Path) -> None:
    file = tmp_path / "presets.json"
    file.write_text(json.dumps(GOOD))
    assert [p.name for p in load_presets(str(file), "", "", tmp_path).presets] == ["square", "fx"]
    assert [p.name for p in load_presets("presets.json", "", "", tmp_path).presets] == ["square", "fx"]
    assert [p.name for p in load_presets("", json.dumps(GOOD), "", tmp_path).presets] == ["square", "fx"]
    assert load_presets("", "", "", tmp_path).presets == ()
    with pytest.raises(InvalidPresetsError, match="not both"):
        load_presets(str(file), json.dumps(GOOD), "", tmp_path)
    with pytest.raises(InvalidPresetsError, match="not JSON"):
        load_presets("", "[{", "", tmp_path)


@pytest.mark.parametrize(
    ("glob", "name", "matches"),
    [
        ("catalog/**", "catalog/a.jpg", True),
        ("catalog/**", "catalog/2024/summer/a.jpg", True),
        ("catalog/**", "catalogue/a.jpg", False),
        ("catalog/*", "catalog/2024/a.jpg", False),
        ("**/*.jpg", "a.jpg", True),
        ("**/*.jpg", "x/y/a.jpg", True),
        ("**/*.jpg", "x/y/a.png", False),
        ("shop/[ab]?.jpg", "shop/a1.jpg", True),
        ("shop/[!ab]?.jpg", "shop/a1.jpg", False),
    ],
)
def test_match_globs(glob: str, name: str, matches: bool) -> None:
    assert glob_match(glob, name) is matches


def test_a_photo_gets_presets_by_glob_or_by_its_presets_metadata() -> None:
    presets = parse_presets(json.dumps(GOOD), source="test", base_dir=Path())
    assert [p.name for p in presets.request("catalog/a.jpg", {}).presets] == ["square"]
    assert [p.name for p in presets.request("other/a.jpg", {"presets": "fx"}).presets] == ["fx"]
    assert [p.name for p in presets.request("catalog/a.jpg", {"presets": "fx, nope"}).presets] == ["square", "fx"]
    assert presets.request("other/a.jpg", None).presets == ()
    assert presets.request(None, {"presets": "square fx"}).metadata == {"presets": "square fx"}


def test_the_spec_version_changes_with_the_presets(tmp_path: Path) -> None:
    base = RenditionSpec(widths=(320,), formats=("webp",))
    one = parse_presets(json.dumps(GOOD), source="t", base_dir=tmp_path)
    other = parse_presets(json.dumps(_with({"widths": [320, 641]})), source="t", base_dir=tmp_path)
    assert PresetSet().digest == "" and one.digest != other.digest
    versions = {
        RenditionSpec(widths=(320,), formats=("webp",), presets_digest=d).version
        for d in ("", one.digest, other.digest)
    }
    assert len(versions) == 3 and base.version in versions

    file = tmp_path / "p.json"
    file.write_text(json.dumps(GOOD))
    plain = ServiceConfig.from_settings(Settings())
    with_presets = ServiceConfig.from_settings(Settings(presets_file=str(file)))
    assert with_presets.presets.presets and plain.spec.version != with_presets.spec.version
    assert (
        with_presets.spec.version == ServiceConfig.from_settings(Settings(presets_json=json.dumps(GOOD))).spec.version
    )


def test_gallery_presets_check_exits_0_for_a_valid_file_and_1_naming_preset_and_field(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(GOOD))
    bad.write_text(json.dumps(_with({"filters": ["grayscale", "vignette"]})))
    runner = CliRunner()
    done = runner.invoke(app, ["presets", "check", str(good)])
    assert done.exit_code == 0, done.output
    assert "2 preset(s) valid: square, fx" in done.output
    failed = runner.invoke(app, ["presets", "check", str(bad), "--json"])
    assert failed.exit_code == 1
    report = json.loads(failed.stdout)
    assert report["valid"] is False
    assert report["problems"][0].startswith("preset 'square': field filters[1].name: Input should be 'grayscale'")
    assert "(got 'vignette')" in report["problems"][0]
