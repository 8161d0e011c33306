"""Variants render from the default set's decode, are stored under the generation and listed in the document."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gallery.engine import render
from gallery.engine.vips import pyvips
from gallery.events import parse_message
from gallery.ids import photo_id
from gallery.model import EventKind, Limits, ObjectEvent, RenditionSpec
from gallery.presets.load import parse_presets
from gallery.presets.plan import PresetSet
from gallery.service import Outcome, PhotoService, ServiceConfig
from gallery_cli.app import app
from tests.paths import SAMPLES
from tests.unit.fakes import FakeRegistry, FakeRenditions, FakeSources

PHOTO = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()  # 640x480
SPEC = RenditionSpec(widths=(320, 512), formats=("webp",))
PRESETS: list[dict[str, Any]] = [
    {
        "name": "square",
        "match": "catalog/**",
        "widths": [160, 320, 4096],
        "formats": ["webp", "jpeg"],
        "quality": 70,
        "crop": {"aspect": "1:1"},
        "filters": ["sepia"],
        "languages": ["hi", "en"],
        "overlays": [{"type": "text", "text": "{title}", "size": 0.08, "stroke": "#000"}],
    },
    {"name": "mono", "widths": [200], "filters": ["grayscale"]},
]
META = {"title-hi": "नमस्ते दुनिया", "title-en": "Hello world", "presets": "mono"}


def preset_set() -> PresetSet:
    return parse_presets(json.dumps(PRESETS), source="test", base_dir=Path())


def test_variants_come_per_preset_and_language_with_crop_widths_and_formats() -> None:
    request = preset_set().request("catalog/summer/lake.jpg", META)
    result = render(PHOTO, SPEC, Limits(), request)
    plain = render(PHOTO, SPEC, Limits())
    assert [(r.width, r.format) for r in result.renditions] == [(r.width, r.format) for r in plain.renditions]
    assert [(v.preset, v.language) for v in result.variants] == [("square", "hi"), ("square", "en"), ("mono", None)]
    square_hi = result.variants[0]
    # 1:1 crop of 640x480 is 480x480: 4096 collapses into the crop's own width, never upscaled
    assert [(r.format, r.width, r.height) for r in square_hi.renditions] == [
        ("jpeg", 160, 160),
        ("jpeg", 320, 320),
        ("jpeg", 480, 480),
        ("webp", 160, 160),
        ("webp", 320, 320),
        ("webp", 480, 480),
    ]
    assert square_hi.renditions[0].data != result.variants[1].renditions[0].data  # a different title drawn
    mono = pyvips.Image.new_from_buffer(result.variants[2].renditions[0].data, "")
    assert (mono.width, mono.height) == (200, 150)
    r, g, b = (mono.extract_band(i) for i in range(3))
    assert (r - g).abs().max() <= 3 and (g - b).abs().max() <= 3  # lossy WebP keeps it grey


def test_variants_use_the_one_decode_of_the_default_set(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_render = sys.modules["gallery.engine.render"]  # the module; `gallery.engine.render` is the function
    calls: list[int] = []
    real = engine_render.decode

    def counting(data: bytes, max_width: int, limits: Limits, **options: Any) -> Any:
        calls.append(max_width)
        return real(data, max_width, limits, **options)

    monkeypatch.setattr(engine_render, "decode", counting)
    engine_render.render(PHOTO, SPEC, Limits(), preset_set().request("catalog/x.jpg", META))
    assert calls == [4096]  # once, to the largest width any rendition needs


def test_a_photo_without_matching_presets_renders_no_variants() -> None:
    request = preset_set().request("other/x.jpg", {})
    assert request.presets == ()
    assert render(PHOTO, SPEC, Limits(), None).variants == ()


BUCKET, NAME = "uploads", "catalog/lake.jpg"
PID = photo_id(BUCKET, NAME)


class World:
    def __init__(self, presets: PresetSet) -> None:
        self.sources = FakeSources()
        self.renditions = FakeRenditions()
        self.registry = FakeRegistry()
        config = ServiceConfig(
            uploads_bucket=BUCKET,
            spec=RenditionSpec(widths=(320,), formats=("webp",), presets_digest=presets.digest),
            limits=Limits(),
            url_prefix="https://cdn.example/r",
            presets=presets,
        )
        self.service = PhotoService(self.sources, self.renditions, self.registry, config)

    def upload(self, generation: int, metadata: dict[str, str] | None) -> ObjectEvent:
        self.sources.put(BUCKET, NAME, generation, PHOTO)
        self.sources.object_metadata[(BUCKET, NAME)] = dict(META)
        return ObjectEvent(EventKind.FINALIZE, "OBJECT_FINALIZE", BUCKET, NAME, generation, metadata=metadata)


def test_the_document_lists_the_variants_and_their_files_exist_under_the_naming_scheme() -> None:
    world = World(preset_set())
    assert world.service.handle(world.upload(7, META)) is Outcome.REGISTERED
    doc = world.registry.get(PID)
    assert doc is not None and doc["status"] == "ready"
    variants = doc["variants"]
    assert [(v["preset"], v["language"]) for v in variants] == [("square", "hi"), ("square", "en"), ("mono", None)]
    hi = variants[0]
    assert [r["path"] for r in hi["renditions"] if r["format"] == "webp"] == [
        f"{PID}/7/square/hi/{w}.webp" for w in (160, 320, 480)
    ]
    assert hi["srcset"]["jpeg"] == ", ".join(
        f"https://cdn.example/r/{PID}/7/square/hi/{w}.jpg {w}w" for w in (160, 320, 480)
    )
    assert hi["src"] == f"https://cdn.example/r/{PID}/7/square/hi/480.jpg"
    assert variants[2]["renditions"][0]["path"] == f"{PID}/7/mono/200.webp"
    listed = {r["path"] for v in variants for r in v["renditions"]} | {r["path"] for r in doc["renditions"]}
    assert listed == set(world.renditions.objects)
    assert world.renditions.objects[f"{PID}/7/square/en/160.jpg"][1] == "image/jpeg"
    assert world.sources.metadata_reads == 0

    world.sources.delete(BUCKET, NAME)
    world.service.handle(ObjectEvent(EventKind.DELETE, "OBJECT_DELETE", BUCKET, NAME, 7))
    assert world.registry.get(PID) is None and world.renditions.objects == {}


def test_metadata_is_read_from_the_object_when_the_notification_has_none() -> None:
    world = World(preset_set())
    assert world.service.handle(world.upload(3, None)) is Outcome.REGISTERED
    assert world.sources.metadata_reads == 1
    doc = world.registry.get(PID)
    assert doc is not None and len(doc["variants"]) == 3


def test_a_title_in_a_script_no_font_covers_fails_the_photo_naming_the_script() -> None:
    world = World(preset_set())
    event = world.upload(4, {"title": "東京"})
    assert world.service.handle(event) is Outcome.FAILED
    doc = world.registry.get(PID)
    assert doc is not None and doc["status"] == "failed"
    assert doc["error"]["code"] == "unsupported_script" and "Han" in doc["error"]["reason"]
    assert world.renditions.objects == {}


def test_a_failed_new_generation_drops_the_variants_of_the_old_one() -> None:
    world = World(preset_set())
    world.service.handle(world.upload(5, META))
    assert len(world.registry.get(PID)["variants"]) == 3  # type: ignore[index]
    world.service.handle(world.upload(6, {"title": "東京"}))
    doc = world.registry.get(PID)
    assert doc is not None and doc["status"] == "failed" and doc["variants"] == []
    assert world.renditions.objects == {}


def test_without_presets_the_document_has_no_variants_field() -> None:
    world = World(PresetSet())
    world.service.handle(world.upload(2, META))
    doc = world.registry.get(PID)
    assert doc is not None and "variants" not in doc and world.sources.metadata_reads == 0


def test_notifications_carry_the_custom_metadata() -> None:
    resource = {"bucket": "b", "name": "n.jpg", "generation": "5", "metadata": {"title-hi": "नमस्ते", "presets": "x"}}
    message = {
        "attributes": {"eventType": "OBJECT_FINALIZE", "bucketId": "b", "objectId": "n.jpg", "objectGeneration": "5"},
        "data": base64.b64encode(json.dumps(resource).encode()).decode(),
    }
    assert parse_message(message).metadata == {"title-hi": "नमस्ते", "presets": "x"}
    del resource["metadata"]
    message["data"] = base64.b64encode(json.dumps(resource).encode()).decode()
    assert parse_message(message).metadata == {}
    del message["data"]
    assert parse_message(message).metadata is None


def test_gallery_render_json_lists_every_variant_file(tmp_path: Path) -> None:
    presets = tmp_path / "presets.json"
    presets.write_text(json.dumps(PRESETS))
    photo = tmp_path / "lake.jpg"
    photo.write_bytes(PHOTO)
    out = tmp_path / "out"
    args = ["render", str(photo), "--presets", str(presets), "--name", "catalog/lake.jpg", "--out", str(out), "--json"]
    args += ["--meta", "title-hi=नमस्ते", "--meta", "title=Lake"]
    done = CliRunner().invoke(app, args, env={"RENDITION_WIDTHS": "320", "RENDITION_FORMATS": "webp"})
    assert done.exit_code == 0, done.output
    [report] = json.loads(done.stdout)
    assert [(r["width"], r["height"], r["format"]) for r in report["renditions"]] == [(320, 240, "webp")]
    assert [(v["preset"], v["language"]) for v in report["variants"]] == [("square", "hi"), ("square", "en")]
    for variant in report["variants"]:
        assert {(r["width"], r["format"]) for r in variant["renditions"]} == {
            (w, f) for w in (160, 320, 480) for f in ("webp", "jpeg")
        }
        for rendition in variant["renditions"]:
            path = Path(rendition["path"])
            assert path.parent == out / "lake" / "square" / variant["language"]
            image = pyvips.Image.new_from_file(str(path))
            assert (image.width, image.height) == (rendition["width"], rendition["height"])
    meta_only = CliRunner().invoke(
        app, ["render", str(photo), "--presets", str(presets), "--meta", "presets=mono", "--out", str(out), "--json"]
    )
    assert [v["preset"] for v in json.loads(meta_only.stdout)[0]["variants"]] == ["mono"]
    bad = CliRunner().invoke(app, ["render", str(photo), "--meta", "nokey", "--out", str(out)])
    assert bad.exit_code == 2


def test_variants_of_a_wide_gamut_photo_kept_p3_are_drawn_in_srgb() -> None:
    """The default set may stay Display P3; variants (whose colours are sRGB) are converted and untagged."""
    from dataclasses import replace

    from tests.colour_files import delta_e, tagged

    case = tagged("p3", "jpeg")
    wide = RenditionSpec(widths=(320,), formats=("webp",), keep_wide_gamut=True)
    request = parse_presets(json.dumps([{"name": "plain", "widths": [320]}]), source="t", base_dir=Path()).request(
        None, {"presets": "plain"}
    )
    result = render(case.data, wide, Limits(), request)
    default = pyvips.Image.new_from_buffer(result.renditions[0].data, "")
    variant = pyvips.Image.new_from_buffer(result.variants[0].renditions[0].data, "")
    assert default.get_typeof("icc-profile-data") and not variant.get_typeof("icc-profile-data")
    srgb_default = render(case.data, replace(wide, keep_wide_gamut=False)).renditions[0]
    assert delta_e(variant, pyvips.Image.new_from_buffer(srgb_default.data, ""))[0] < 0.5  # as the sRGB set shows it
    assert delta_e(variant, default.copy(interpretation="srgb"))[0] > 1.0  # not P3 values read as sRGB
    assert replace(wide, keep_wide_gamut=False).version != wide.version


def _encoded_qualities(monkeypatch: pytest.MonkeyPatch, spec: RenditionSpec) -> dict[tuple[str, int, int], int]:
    """{(format, width, height): quality} of every encode the render module made, variants included."""
    engine_render = sys.modules["gallery.engine.render"]
    seen: dict[tuple[str, int, int], int] = {}
    real = engine_render.encode

    def recording(image: pyvips.Image, fmt: str, quality: int, **options: Any) -> bytes:
        seen[(fmt, image.width, image.height)] = quality
        return bytes(real(image, fmt, quality, **options))

    monkeypatch.setattr(engine_render, "encode", recording)
    render(PHOTO, spec, Limits(), preset_set().request("catalog/summer/lake.jpg", META))
    return seen


def test_a_preset_keeps_its_own_quality_and_one_without_follows_the_default_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fixed = _encoded_qualities(monkeypatch, RenditionSpec(widths=(320, 512), formats=("webp",), quality=80))
    assert fixed[("webp", 480, 480)] == fixed[("jpeg", 480, 480)] == 70  # "square" says 70
    assert fixed[("webp", 200, 150)] == fixed[("webp", 512, 384)] == 80  # "mono" has none: RENDITION_QUALITY

    targeted = RenditionSpec(widths=(320, 512), formats=("webp",), quality=80, quality_target=85, quality_max=95)
    searched = _encoded_qualities(monkeypatch, targeted)
    assert searched[("webp", 480, 480)] == 70  # a fixed preset quality wins over the target
    assert searched[("webp", 200, 150)] == searched[("webp", 512, 384)] != 80  # the photo's searched WebP quality
