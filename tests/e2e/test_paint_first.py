"""Paint first on the real stack: a large upload's document carries a paintable preview before its set is ready."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import Harness
from tests.paths import LARGE, SAMPLES


def test_a_large_photo_is_paintable_before_it_is_ready(e2e: Harness) -> None:
    name = "paint/landscape_20mp.jpg"
    e2e.upload(name, (LARGE / "landscape_20mp.jpg").read_bytes())
    previews: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    doc = e2e.doc(name)
    while (doc or {}).get("status") != "ready" and time.monotonic() < deadline:
        if doc and doc.get("status") == "processing" and doc.get("preview"):
            previews.append(doc)
            # the rendition the preview names exists already: a page can load it now
            assert e2e.renditions.blob(doc["preview"]["renditions"][0]["path"]).exists()
        time.sleep(0.01)
        doc = e2e.doc(name)
    assert doc is not None and doc["status"] == "ready", doc
    assert previews, "the document never carried a preview while processing"
    painted = previews[0]
    assert (painted["width"], painted["height"]) == (doc["width"], doc["height"])
    assert (painted["placeholder"], painted["dominant_color"]) == (doc["placeholder"], doc["dominant_color"])
    assert set(painted["preview"]["srcset"]) == {"jpeg"}  # the fallback: no quality search to wait for
    assert painted["preview"]["renditions"][0] in doc["renditions"]  # the finished set lists the same object
    assert doc["preview"] is None
    assert 0 < doc["timings"]["paint_ms"] < doc["timings"]["total_ms"]


def test_a_small_photo_goes_straight_to_ready(e2e: Harness) -> None:
    name = "paint/gps_DSCN0010.jpg"  # 0.3 MP: below PAINT_FIRST_MEGAPIXELS
    e2e.upload(name, (SAMPLES / "gps_DSCN0010.jpg").read_bytes())
    doc = e2e.wait_doc(name, lambda d: d is not None and d.get("status") == "ready", timeout=60)
    assert doc is not None and "paint_ms" not in doc["timings"] and not doc.get("preview")
