"""Paint first: the engine hands over the smallest width, placeholder and colour before the rest of the set."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from gallery.engine import render
from gallery.engine.render import PreviewSink, preview_formats
from gallery.model import Limits, PreviewResult, RenditionSpec
from gallery.registry_rules import preview_document
from gallery.service import Outcome
from tests.paths import SAMPLES
from tests.unit.test_service import CONFIG, PID, World

PHOTO = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()  # 640x480
SEARCHED = RenditionSpec(widths=(320, 512, 768), formats=("avif", "jpeg"), quality_target=75.0)
FIXED = RenditionSpec(widths=(320, 512, 768), formats=("webp",), quality_target=0.0)


def _render_with_preview(spec: RenditionSpec) -> tuple[list[PreviewResult], object]:
    previews: list[PreviewResult] = []
    result = render(PHOTO, spec, on_preview=previews.append)
    return previews, result


def test_the_preview_is_the_finished_sets_smallest_width_byte_for_byte() -> None:
    previews, result = _render_with_preview(SEARCHED)
    assert len(previews) == 1
    [preview] = previews
    assert (preview.width, preview.height, preview.source_format) == (640, 480, "jpeg")
    # only the fallback: the served AVIF waits for the quality search, the JPEG does not
    assert [(r.format, r.width) for r in preview.renditions] == [("jpeg", 320)]
    final = {(r.format, r.width): r.data for r in result.renditions}  # type: ignore[attr-defined]
    assert preview.renditions[0].data == final[("jpeg", 320)]
    assert (preview.placeholder, preview.dominant_color) == (result.placeholder, result.dominant_color)  # type: ignore[attr-defined]


def test_without_a_target_every_format_is_in_the_preview() -> None:
    previews, result = _render_with_preview(FIXED)
    assert [(r.format, r.width) for r in previews[0].renditions] == [("webp", 320)]
    final = {(r.format, r.width): r.data for r in result.renditions}  # type: ignore[attr-defined]
    assert previews[0].renditions[0].data == final[("webp", 320)]
    assert preview_formats(FIXED) == ("webp",) and preview_formats(SEARCHED) == ("jpeg",)


def test_asking_for_a_preview_does_not_change_the_set() -> None:
    _, with_preview = _render_with_preview(SEARCHED)
    without = render(PHOTO, SEARCHED)
    assert [(r.format, r.width, r.data) for r in with_preview.renditions] == [  # type: ignore[attr-defined]
        (r.format, r.width, r.data) for r in without.renditions
    ]


def test_a_photo_smaller_than_the_smallest_width_previews_at_its_own_size() -> None:
    spec = RenditionSpec(widths=(1024, 2048), formats=("avif", "jpeg"), quality_target=75.0)
    previews, result = _render_with_preview(spec)
    assert [(r.format, r.width) for r in previews[0].renditions] == [("jpeg", 640)]
    assert previews[0].placeholder == result.placeholder  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- the service


def _world_painting(min_pixels: float = 0) -> tuple[World, list[dict[str, Any] | None]]:
    """A world whose renders pause after the preview until the document shows it (or 5 s pass)."""
    seen: list[dict[str, Any] | None] = []
    holder: dict[str, World] = {}

    def renderer(data: bytes, spec: RenditionSpec, limits: Limits, on_preview: PreviewSink | None = None) -> object:
        def paint(preview: PreviewResult) -> None:
            assert on_preview is not None
            on_preview(preview)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (holder["w"].doc() or {}).get("preview"):
                time.sleep(0.01)
            seen.append(holder["w"].doc())

        return render(data, spec, limits, on_preview=paint)

    world = World(renderer, dataclasses.replace(CONFIG, paint_first_min_pixels=min_pixels))
    holder["w"] = world
    return world, seen


def test_the_document_carries_a_preview_while_the_set_renders_and_loses_it_when_ready() -> None:
    world, seen = _world_painting()
    assert world.service.handle(world.upload(7)) is Outcome.REGISTERED
    [during] = seen
    assert during is not None and during["status"] == "processing"
    assert (during["width"], during["height"], during["aspect_ratio"]) == (640, 480, round(640 / 480, 6))
    preview = during["preview"]
    assert [e["path"] for e in preview["renditions"]] == [f"{PID}/7/320.webp"]
    assert preview["src"] == f"https://cdn.example/r/{PID}/7/320.webp"
    assert preview["srcset"] == {"webp": f"https://cdn.example/r/{PID}/7/320.webp 320w"}
    done = world.doc()
    assert done is not None and done["status"] == "ready" and done["preview"] is None
    assert (during["placeholder"], during["dominant_color"]) == (done["placeholder"], done["dominant_color"])
    assert preview["renditions"][0] in done["renditions"]  # the same object, listed by the finished set
    assert world.renditions.puts.count(f"{PID}/7/320.webp") == 1  # stored once, by the preview
    assert 0 < done["timings"]["paint_ms"] <= done["timings"]["total_ms"]


def test_small_photos_are_not_painted_first() -> None:
    world, seen = _world_painting(min_pixels=4_000_000)
    assert world.service.handle(world.upload(7)) is Outcome.REGISTERED
    done = world.doc()
    assert done is not None and "paint_ms" not in done["timings"] and not done.get("preview")
    assert seen and seen[0] is not None and "preview" not in seen[0]  # the render went on without a write


def test_a_preview_after_the_outcome_or_from_another_holder_is_dropped() -> None:
    doc = {"source": {"generation": 5}, "status": "processing", "lease_holder": "a"}
    assert preview_document(doc, 5, "a", {"preview": {"src": "x"}}) == {**doc, "preview": {"src": "x"}}
    assert preview_document(doc, 5, "b", {"preview": {}}) is None
    assert preview_document({**doc, "status": "ready"}, 5, "a", {"preview": {}}) is None
    assert preview_document(doc, 6, "a", {"preview": {}}) is None
