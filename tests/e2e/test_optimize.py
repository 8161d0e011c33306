"""The optimize pass on the real local stack: a photo is ready with its fast live set, then the bulk lane swaps in
the AVIF set, and `gallery prune` removes what it superseded once the grace period is over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery.engine.vips import pyvips
from gallery_devstack.stack import DevStack
from tests.e2e.conftest import Harness, build_harness
from tests.paths import LARGE

WIDTHS = [320, 512, 768, 1024, 1280, 1600, 2048, 2560]


@pytest.fixture(scope="module")
def optimizing(devstack_factory: Callable[..., DevStack]) -> Iterator[Harness]:
    """A stack on the default settings, the optimize pass included."""
    yield build_harness(devstack_factory(function_env={"OPTIMIZE": "true", "LOG_LEVEL": "INFO"}))


def _optimized(doc: dict[str, Any] | None) -> bool:
    """The optimize pass reached its outcome on the document."""
    return ((doc or {}).get("optimization") or {}).get("status") in ("done", "failed")


def _gallery(harness: Harness, *args: str) -> dict[str, Any]:
    env = {**os.environ, **harness.stack.env()}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "gallery"), *args, "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_a_ready_photo_is_optimized_on_the_bulk_lane_and_keeps_a_jpeg_fallback(optimizing: Harness) -> None:
    name = "optimize/landscape_20mp.jpg"
    generation = optimizing.upload(name, (LARGE / "landscape_20mp.jpg").read_bytes())
    ready = optimizing.wait_doc(name, lambda d: (d or {}).get("status") == "ready", timeout=60)
    assert ready is not None
    assert [(e["format"], e["width"]) for e in ready["renditions"]] == [("jpeg", w) for w in WIDTHS]

    doc = optimizing.wait_doc(name, _optimized, timeout=120)
    assert doc is not None and doc["status"] == "ready"
    state = doc["optimization"]
    assert state["status"] == "done", state
    formats = sorted((e["format"], e["width"]) for e in doc["renditions"])
    assert formats == sorted([("avif", w) for w in WIDTHS] + [("jpeg", w) for w in WIDTHS if w <= 1280])
    assert set(doc["srcset"]) == {"avif", "jpeg"} and doc["src"].endswith("/1280.jpg")
    for entry in doc["renditions"]:
        blob = optimizing.renditions.get_blob(entry["path"])
        assert blob is not None and blob.size == entry["bytes"] and blob.content_type == entry["content_type"]
        assert entry["path"].startswith(f"{doc['photo_id']}/{generation}/")
        if entry["format"] == "avif":
            image = pyvips.Image.new_from_buffer(blob.download_as_bytes(), "")
            assert (image.width, image.height) == (entry["width"], entry["height"])
    assert state["served_bytes_after"] < state["served_bytes_before"]
    assert state["stored_bytes_after"] == sum(e["bytes"] for e in doc["renditions"])

    # The wide JPEGs are superseded: still there (pages may hold their URLs), marked with the time they were.
    superseded = state["superseded"]
    assert sorted(p.rsplit("/", 1)[-1] for p in superseded) == ["1600.jpg", "2048.jpg", "2560.jpg"]
    for path in superseded:
        blob = optimizing.renditions.get_blob(path)
        assert blob is not None and blob.custom_time is not None
    listed = optimizing.rendition_names(name)
    assert listed == {e["path"] for e in doc["renditions"]} | set(superseded)

    # Within the grace period nothing goes; past it, exactly the superseded renditions do.
    assert _gallery(optimizing, "prune")["deleted"] == 0
    assert _gallery(optimizing, "prune", "--older-than-days", "0")["deleted"] == len(superseded)
    assert optimizing.rendition_names(name) == {e["path"] for e in doc["renditions"]}


def test_a_photo_replaced_before_its_optimize_task_ran_keeps_only_the_new_generation(optimizing: Harness) -> None:
    name = "optimize/replaced.jpg"
    data = (LARGE / "portrait_10mp_progressive.jpg").read_bytes()
    optimizing.upload(name, data)
    second = optimizing.upload(name, (LARGE / "landscape_20mp.jpg").read_bytes())
    doc = optimizing.wait_doc(
        name, lambda d: _optimized(d) and (d or {}).get("source", {}).get("generation") == second, timeout=180
    )
    assert doc is not None and doc["optimization"]["status"] == "done"
    prefixes = {p.split("/")[1] for p in optimizing.rendition_names(name)}
    assert prefixes == {str(second)}


def test_backfill_queues_the_optimize_task_of_ready_photos_that_lack_it(optimizing: Harness) -> None:
    name = "optimize/backfilled.jpg"
    optimizing.upload(name, (LARGE / "portrait_10mp_progressive.jpg").read_bytes())
    doc = optimizing.wait_doc(name, _optimized, timeout=120)
    assert doc is not None and doc["optimization"]["status"] == "done"
    # A photo made ready before the pass existed (or with OPTIMIZE off) has no optimization record.
    ref = optimizing.db.collection(optimizing.stack.config.photos_collection).document(doc["photo_id"])
    ref.update({"optimization": None, "optimization_status": None})
    report = _gallery(optimizing, "backfill", "--prefix", "optimize/backfilled", "--optimize")
    assert (report["states"], report["queued"]) == ({"unoptimized": 1}, 1)
    again = optimizing.wait_doc(name, _optimized, timeout=120)
    assert again is not None and again["optimization"]["status"] == "done"
    assert again["renditions"] == doc["renditions"] and again["optimization"]["superseded"] == []
    for entry in again["renditions"]:  # rewritten under the same names, and none of them marked for deletion
        assert optimizing.renditions.get_blob(entry["path"]).custom_time is None
    report = _gallery(optimizing, "backfill", "--prefix", "optimize/backfilled", "--optimize")
    assert (report["states"], report["queued"]) == ({"done": 1}, 0)
