"""Presets end to end: a photo uploaded with title-hi/title-en metadata gets its variants, stored and listed."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gallery.engine.vips import pyvips
from gallery_devstack.processes import REPO_ROOT
from gallery_devstack.stack import DevStack
from tests.e2e.conftest import Harness, build_harness, settled
from tests.paths import SAMPLES

PRESETS = [
    {
        "name": "card",
        "match": "catalog/**",
        "widths": [320, 640],
        "formats": ["webp"],
        "crop": {"aspect": "1:1", "focus": "attention"},
        "filters": ["sepia"],
        "languages": ["hi", "en"],
        "overlays": [
            {"type": "text", "text": "{title}", "size": 0.07, "fill": "#ffffff", "stroke": "#000000", "margin": 0.04},
            {"type": "image", "src": "badge.png", "anchor": "top-right", "width": 0.2, "opacity": 0.8},
        ],
    },
    {"name": "relief", "widths": [256], "formats": ["jpeg"], "filters": ["emboss"]},
]


ARTIFACT = REPO_ROOT / "test-artifacts" / "presets.png"  # the variants side by side, to look at


def _fetch(url: str) -> pyvips.Image:
    with urllib.request.urlopen(url, timeout=10) as response:
        return pyvips.Image.new_from_buffer(response.read(), "").copy_memory()


@pytest.fixture(scope="module")
def presets_stack(
    devstack_factory: Callable[..., DevStack], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    folder = tmp_path_factory.mktemp("presets")
    badge = pyvips.Image.black(60, 60, bands=3).new_from_image([255, 200, 0]).bandjoin(255)
    badge.copy(interpretation="srgb").cast("uchar").pngsave(str(folder / "badge.png"))
    (folder / "presets.json").write_text(json.dumps(PRESETS))
    stack = devstack_factory(function_env={"PRESETS_FILE": str(folder / "presets.json")}, max_delivery_attempts=5)
    yield build_harness(stack)


def test_an_upload_with_titles_gets_a_variant_per_language_whose_files_exist(presets_stack: Harness) -> None:
    e2e = presets_stack
    name = f"catalog/{uuid.uuid4().hex}.jpg"
    blob = e2e.uploads.blob(name)
    blob.metadata = {"title-hi": "झील पर शाम", "title-en": "Evening at the lake", "presets": "relief"}
    blob.upload_from_string((SAMPLES / "gps_DSCN0010.jpg").read_bytes(), content_type="image/jpeg")
    doc = e2e.wait_doc(name, settled, timeout=90)
    assert doc is not None and doc["status"] == "ready", doc
    variants = doc["variants"]
    assert [(v["preset"], v["language"]) for v in variants] == [("card", "hi"), ("card", "en"), ("relief", None)]
    stored = e2e.rendition_names(name)
    generation = doc["source"]["generation"]
    for variant in variants:
        assert set(variant["srcset"]) == {"webp"} or set(variant["srcset"]) == {"jpeg"}
        for rendition in variant["renditions"]:
            assert rendition["path"] in stored
            assert rendition["path"].startswith(f"{doc['photo_id']}/{generation}/{variant['preset']}/")
    hi = variants[0]["renditions"]
    assert [(r["width"], r["height"]) for r in hi] == [(320, 320), (480, 480)]  # 1:1 crop of 640x480
    served = _fetch(hi[-1]["url"])
    assert (served.width, served.height) == (480, 480)
    badge_corner = served.crop(480 - 19 - 96, 19, 96, 20)  # top-right, inside the 4 % margin
    assert badge_corner.extract_band(0).avg() > 180 and badge_corner.extract_band(2).avg() < 120
    sheet = [served] + [_fetch(v["renditions"][-1]["url"]).thumbnail_image(480) for v in variants[1:]]
    ARTIFACT.parent.mkdir(exist_ok=True)
    pyvips.Image.arrayjoin([im.extract_band(0, n=3) for im in sheet], across=3, shim=8).pngsave(str(ARTIFACT))

    blob.delete()
    e2e.wait_doc(name, lambda d: d is None, timeout=60)
    deadline = time.monotonic() + 30  # the files go right after the document
    while e2e.rendition_names(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert e2e.rendition_names(name) == set()


def test_the_notification_metadata_alone_selects_a_preset(presets_stack: Harness, tmp_path: Path) -> None:
    e2e = presets_stack
    name = f"elsewhere/{uuid.uuid4().hex}.jpg"
    blob = e2e.uploads.blob(name)
    blob.metadata = {"presets": "relief"}
    blob.upload_from_string((SAMPLES / "gps_DSCN0010.jpg").read_bytes(), content_type="image/jpeg")
    doc = e2e.wait_doc(name, lambda d: d is not None and d.get("status") == "ready", timeout=90)
    assert doc is not None
    assert [(v["preset"], v["language"]) for v in doc["variants"]] == [("relief", None)]
    nothing = f"elsewhere/{uuid.uuid4().hex}.jpg"
    e2e.upload(nothing, (SAMPLES / "gps_DSCN0010.jpg").read_bytes())
    plain = e2e.wait_doc(nothing, lambda d: d is not None and d.get("status") == "ready", timeout=90)
    assert plain is not None and plain["variants"] == []
