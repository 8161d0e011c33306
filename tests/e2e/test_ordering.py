"""Duplicates, reordering, races and loop safety through the real local stack.

fake-gcs-server publishes its own notifications for every upload and delete; the tests add their own on top
(the `pubsub_admin()` publisher) to force the orders at-least-once delivery allows. Whatever arrives, the
final state must match the bucket's current object: its document and exactly its renditions, or nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from gallery.ids import photo_id
from tests.corpus import case
from tests.e2e.conftest import DEFAULT_FORMATS, Harness
from tests.paths import ORIENTATION, SAMPLES

PHOTO = (ORIENTATION / "landscape_1.jpg").read_bytes()  # 600x450
OTHER = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()  # 640x480


def unique(name: str) -> str:
    return f"order-{uuid.uuid4().hex[:8]}/{name}"


def publish(e2e: Harness, *notifications: dict[str, Any]) -> None:
    """Publish Cloud Storage notifications (JSON_API_V1 shape) to the uploads topic, in this order."""
    with e2e.stack.pubsub_admin() as (publisher, _):
        for n in notifications:
            bucket = n.get("bucket", e2e.uploads.name)
            attributes = {
                "eventType": n["event"],
                "bucketId": bucket,
                "objectId": n["name"],
                "objectGeneration": str(n["generation"]),
                "payloadFormat": "JSON_API_V1",
            }
            if "overwritten_by" in n:
                attributes["overwrittenByGeneration"] = str(n["overwritten_by"])
            resource = {"bucket": bucket, "name": n["name"], "generation": str(n["generation"])}
            publisher.publish(
                request={
                    "topic": e2e.stack.topic_path,
                    "messages": [{"data": json.dumps(resource).encode(), "attributes": attributes}],
                }
            )


def finalize(name: str, generation: int) -> dict[str, Any]:
    return {"event": "OBJECT_FINALIZE", "name": name, "generation": generation}


def delete(name: str, generation: int, overwritten_by: int | None = None) -> dict[str, Any]:
    n: dict[str, Any] = {"event": "OBJECT_DELETE", "name": name, "generation": generation}
    if overwritten_by is not None:
        n["overwritten_by"] = overwritten_by
    return n


def ready_at(generation: int) -> Callable[[dict[str, Any] | None], bool]:
    return lambda d: d is not None and d.get("status") == "ready" and d["source"]["generation"] == generation


def assert_settled_on(e2e: Harness, name: str, generation: int | None, quiet: float = 1.5) -> dict[str, Any] | None:
    """Wait for the state the bucket's current object implies, let stray deliveries land, and check it holds."""
    if generation is None:
        e2e.wait_doc(name, lambda d: d is None)
    else:
        e2e.wait_doc(name, ready_at(generation))
    deadline = time.monotonic() + 15
    while True:  # renditions of superseded generations are removed right after the document is written
        doc = e2e.doc(name)
        # a delivery may still be between `processing` and its outcome: no manifest yet
        expected = {r["path"] for r in (doc or {}).get("renditions") or []}
        if e2e.rendition_names(name) == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(quiet)
    doc = e2e.doc(name)
    if generation is None:
        assert doc is None
        # A delivery still rendering when the photo went away stores its renditions, then withdraws them once it
        # finds the document gone: wait for that, so a render slower than `quiet` is not taken for a leak.
        deadline = time.monotonic() + 15
        while e2e.rendition_names(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert e2e.rendition_names(name) == set()
        assert e2e.doc(name) is None
        return None
    assert doc is not None and ready_at(generation)(doc), doc
    names = e2e.rendition_names(name)
    assert names == {r["path"] for r in doc["renditions"]}
    assert all(n.startswith(f"{doc['photo_id']}/{generation}/") for n in names)
    return doc


def test_the_same_notification_five_times(e2e: Harness) -> None:
    name = unique("five.jpg")
    generation = e2e.upload(name, PHOTO)
    publish(e2e, *[finalize(name, generation)] * 5)
    doc = assert_settled_on(e2e, name, generation)
    assert doc is not None and doc["error"] is None
    assert sorted((r["format"], r["width"]) for r in doc["renditions"]) == [
        (f, w) for f in sorted(DEFAULT_FORMATS) for w in (320, 512, 600)
    ]  # each rendition once, in each default format


def test_finalize_g2_before_g1(e2e: Harness) -> None:
    name = unique("g2-first.jpg")
    g1 = e2e.upload(name, PHOTO)
    g2 = e2e.upload(name, OTHER)
    publish(e2e, finalize(name, g2), finalize(name, g1), delete(name, g1, overwritten_by=g2))
    doc = assert_settled_on(e2e, name, g2)
    assert doc is not None and (doc["width"], doc["height"]) == (640, 480)


def test_finalize_g1_arriving_after_g2_is_ready(e2e: Harness) -> None:
    name = unique("g1-late.jpg")
    g1 = e2e.upload(name, PHOTO)
    e2e.wait_doc(name, ready_at(g1))
    g2 = e2e.upload(name, OTHER)
    e2e.wait_doc(name, ready_at(g2))
    before = e2e.doc(name)
    publish(e2e, finalize(name, g1), finalize(name, g1), delete(name, g1))  # late, and a late plain delete
    assert_settled_on(e2e, name, g2)
    assert e2e.doc(name) == before


def test_delete_racing_finalize(e2e: Harness) -> None:
    name = unique("raced.jpg")
    generation = e2e.upload(name, PHOTO)
    e2e.uploads.blob(name).delete()
    publish(e2e, finalize(name, generation), delete(name, generation), finalize(name, generation))
    assert_settled_on(e2e, name, None)


def test_delete_racing_finalize_after_processing_started(e2e: Harness) -> None:
    name = unique("raced-late.jpg")
    generation = e2e.upload(name, PHOTO)
    e2e.wait_doc(name, lambda d: d is not None)  # processing (or already ready)
    e2e.uploads.blob(name).delete()
    publish(e2e, finalize(name, generation))
    assert_settled_on(e2e, name, None)


def test_overwrite_delete_is_not_a_deregistration(e2e: Harness) -> None:
    name = unique("overwrite.jpg")
    g1 = e2e.upload(name, PHOTO)
    e2e.wait_doc(name, ready_at(g1))
    g2 = e2e.upload(name, OTHER)
    # the overwrite's DELETE of g1, early (before g2 is processed) and again late
    publish(e2e, delete(name, g1, overwritten_by=g2))
    e2e.wait_doc(name, ready_at(g2))
    publish(e2e, delete(name, g1, overwritten_by=g2), delete(name, g2, overwritten_by=g2 + 1))
    doc = assert_settled_on(e2e, name, g2)
    assert doc is not None and doc["width"] == 640


def test_deleting_a_failed_photo_removes_its_document(e2e: Harness) -> None:
    name = unique("failed-then-deleted.jpg")
    e2e.upload(name, case("jpeg_truncated.jpg").data)
    doc = e2e.wait_doc(name, lambda d: d is not None and d.get("status") == "failed")
    assert doc is not None and doc["error"]["code"] == "corrupt_image"
    e2e.uploads.blob(name).delete()
    assert_settled_on(e2e, name, None)


def test_renditions_never_trigger_processing(e2e: Harness) -> None:
    name = unique("loop.jpg")
    generation = e2e.upload(name, PHOTO)
    doc = assert_settled_on(e2e, name, generation)
    assert doc is not None
    rendition = doc["renditions"][0]["path"]
    # A notification for the renditions bucket (as if it were wired by mistake) is ignored...
    publish(
        e2e,
        {"event": "OBJECT_FINALIZE", "bucket": e2e.renditions.name, "name": rendition, "generation": 1},
    )
    # ...and writing to the renditions bucket publishes nothing (fake-gcs-server notifies for uploads only).
    e2e.renditions.blob(f"{doc['photo_id']}/manual/320.webp").upload_from_string(PHOTO, content_type="image/webp")
    time.sleep(1.5)
    pid = photo_id(e2e.renditions.name, rendition)
    assert e2e.db.collection(e2e.stack.config.photos_collection).document(pid).get().exists is False
    process = e2e.stack.process("function")
    assert process is not None
    log = [line for line in process.log_path.read_text().splitlines() if doc["photo_id"] in line or pid in line]
    ignored = [line for line in log if "notification for another bucket ignored" in line]
    assert len(ignored) == 1, ignored  # only the one published above; the real upload produced none
    e2e.renditions.blob(f"{doc['photo_id']}/manual/320.webp").delete()


def test_a_rendition_like_name_in_the_uploads_bucket_is_just_a_photo(e2e: Harness) -> None:
    name = f"{uuid.uuid4().hex[:26]}/123/320.webp"
    webp = case("webp_still.webp").data
    generation = e2e.upload(name, webp, "image/webp")
    doc = assert_settled_on(e2e, name, generation)
    assert doc is not None and doc["format"] == "webp" and doc["source"]["name"] == name
    assert all(r["path"].startswith(photo_id(e2e.uploads.name, name)) for r in doc["renditions"])
