"""Upload to the local uploads bucket → notification → Pub/Sub push → function → renditions + Firestore."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
import uuid

from gallery.engine.vips import pyvips
from gallery.model import EXTENSIONS
from tests.e2e.conftest import DEFAULT_FORMATS, Harness
from tests.paths import LARGE, ORIENTATION, SAMPLES

IMMUTABLE = "public, max-age=31536000, immutable"


def is_ready(doc: dict[str, object] | None) -> bool:
    return doc is not None and doc.get("status") == "ready"


def unique(name: str) -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}/{name}"


def test_a_20_megapixel_jpeg_becomes_a_ready_document_with_every_rendition(e2e: Harness) -> None:
    name = unique("landscape_20mp.jpg")
    data = (LARGE / "landscape_20mp.jpg").read_bytes()
    generation = e2e.upload(name, data)
    doc = e2e.wait_doc(name, is_ready)
    assert doc is not None
    assert doc["source"] == {
        "bucket": e2e.uploads.name,
        "name": name,
        "generation": generation,
        "content_type": "image/jpeg",
        "bytes": len(data),
    }
    assert (doc["width"], doc["height"], doc["format"]) == (6028, 3391, "jpeg")
    widths = [320, 512, 768, 1024, 1280, 1600, 2048, 2560]
    assert [(r["format"], r["width"]) for r in doc["renditions"]] == [(f, w) for f in DEFAULT_FORMATS for w in widths]
    assert e2e.rendition_names(name) == {r["path"] for r in doc["renditions"]}
    for entry in doc["renditions"]:
        blob = e2e.renditions.get_blob(entry["path"])
        assert blob.content_type == f"image/{entry['format']}" and blob.cache_control == IMMUTABLE
        assert blob.size == entry["bytes"]
        image = pyvips.Image.new_from_buffer(blob.download_as_bytes(), "")
        assert (image.width, image.height) == (entry["width"], entry["height"])
        assert entry["path"].startswith(f"{doc['photo_id']}/{generation}/")
    assert all(doc["srcset"][f].count("w, ") == 7 for f in DEFAULT_FORMATS)
    fallback = next(f for f in ("jpeg", "webp", "avif") if f in DEFAULT_FORMATS)  # the most widely decoded
    assert doc["src"].endswith(f"/1280.{EXTENSIONS[fallback]}")
    assert doc["placeholder"]["type"] == "thumbhash" and doc["dominant_color"].startswith("#")
    assert doc["timings"]["total_ms"] > 0


def test_rendition_urls_are_served(e2e: Harness) -> None:
    name = unique("portrait_6.jpg")
    e2e.upload(name, (ORIENTATION / "portrait_6.jpg").read_bytes())
    doc = e2e.wait_doc(name, is_ready)
    assert doc is not None and (doc["width"], doc["height"]) == (450, 600)  # EXIF orientation 6 applied
    with urllib.request.urlopen(doc["src"], timeout=10) as response:
        body = response.read()
    fallback = next(f for f in ("jpeg", "webp", "avif") if f in DEFAULT_FORMATS)  # what `src` points at
    loader = pyvips.Image.new_from_buffer(body, "").get("vips-loader")
    assert loader == {"jpeg": "jpegload_buffer", "webp": "webpload_buffer", "avif": "heifload_buffer"}[fallback]


def test_png_with_alpha_and_heic(e2e: Harness) -> None:
    png, heic = unique("alpha.png"), unique("phone.heic")
    e2e.upload(png, (SAMPLES / "alpha.png").read_bytes(), "image/png")
    e2e.upload(heic, (SAMPLES / "iphone_13_pro_max.heic").read_bytes(), "image/heic")
    png_doc = e2e.wait_doc(png, is_ready)
    heic_doc = e2e.wait_doc(heic, is_ready, timeout=60)
    assert png_doc is not None and png_doc["has_alpha"] is True
    assert heic_doc is not None and (heic_doc["width"], heic_doc["height"]) == (3024, 4032)
    assert heic_doc["exif"]["camera_model"] == "iPhone 13 Pro Max"


def test_overwrite_keeps_only_the_new_generation(e2e: Harness) -> None:
    name = unique("overwritten.jpg")
    first = e2e.upload(name, (ORIENTATION / "landscape_1.jpg").read_bytes())
    e2e.wait_doc(name, is_ready)
    second = e2e.upload(name, (SAMPLES / "gps_DSCN0010.jpg").read_bytes())
    doc = e2e.wait_doc(name, lambda d: is_ready(d) and d is not None and d["source"]["generation"] == second)
    assert doc is not None and (doc["width"], doc["height"]) == (640, 480)
    deadline = time.monotonic() + 10
    while any(f"/{first}/" in n for n in e2e.rendition_names(name)) and time.monotonic() < deadline:
        time.sleep(0.05)
    names = e2e.rendition_names(name)
    assert names == {r["path"] for r in doc["renditions"]}
    assert all(f"/{second}/" in n for n in names)


def test_duplicate_and_stale_deliveries_change_nothing(e2e: Harness) -> None:
    name = unique("duplicate.jpg")
    generation = e2e.upload(name, (ORIENTATION / "landscape_3.jpg").read_bytes())
    before = e2e.wait_doc(name, is_ready)
    assert before is not None
    with e2e.stack.pubsub_admin() as (publisher, _):
        for gen in (generation, generation, generation - 1):  # the same notification twice, then an older one
            resource = {"bucket": e2e.uploads.name, "name": name, "generation": str(gen)}
            attributes = {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": e2e.uploads.name,
                "objectId": name,
                "objectGeneration": str(gen),
                "payloadFormat": "JSON_API_V1",
            }
            publisher.publish(
                request={
                    "topic": e2e.stack.topic_path,
                    "messages": [{"data": json.dumps(resource).encode(), "attributes": attributes}],
                }
            )
    time.sleep(1.5)
    after = e2e.doc(name)
    assert after == before


def test_broken_photo_is_failed_with_a_reason_and_nothing_dead_letters(e2e: Harness) -> None:
    name = unique("truncated.jpg")
    data = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()
    e2e.upload(name, data[: len(data) // 2])
    doc = e2e.wait_doc(name, lambda d: d is not None and d.get("status") == "failed")
    assert doc is not None and doc["error"]["code"] == "corrupt_image" and doc["error"]["reason"]
    assert e2e.rendition_names(name) == set()
    text = unique("notes.jpg")
    e2e.upload(text, b"this is a text file with a .jpg name")
    doc = e2e.wait_doc(text, lambda d: d is not None and d.get("status") == "failed")
    assert doc is not None and doc["error"]["code"] == "unsupported_format"
    assert e2e.dead_letters() == []


def test_delete_deregisters_document_and_renditions(e2e: Harness) -> None:
    name = unique("deleted.jpg")
    e2e.upload(name, (ORIENTATION / "landscape_2.jpg").read_bytes())
    e2e.wait_doc(name, is_ready)
    assert e2e.rendition_names(name)
    e2e.uploads.blob(name).delete()
    e2e.wait_doc(name, lambda d: d is None)
    deadline = time.monotonic() + 10
    while e2e.rendition_names(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert e2e.rendition_names(name) == set()


def test_placeholder_decodes(e2e: Harness) -> None:
    name = unique("placeholder.jpg")
    e2e.upload(name, (ORIENTATION / "landscape_1.jpg").read_bytes())
    doc = e2e.wait_doc(name, is_ready)
    assert doc is not None
    import thumbhash

    width, height, rgba = thumbhash.thumb_hash_to_rgba(base64.b64decode(doc["placeholder"]["value"]))
    assert width > height and len(rgba) == width * height * 4
