"""FirestoreRegistry against the Firestore emulator: the generation guard on every write."""

from __future__ import annotations

import uuid

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from gallery.adapters.firestore_registry import FirestoreRegistry
from gallery.model import BeginOutcome
from tests.fixtures_devstack import FirestoreEmulatorInfo


@pytest.fixture
def registry(firestore_emulator: FirestoreEmulatorInfo, monkeypatch: pytest.MonkeyPatch) -> FirestoreRegistry:
    for key, value in firestore_emulator.env.items():
        monkeypatch.setenv(key, value)
    client = firestore.Client(project="gallery-it", credentials=AnonymousCredentials())
    return FirestoreRegistry(client, f"photos-{uuid.uuid4().hex[:8]}")


def source(generation: int) -> dict[str, object]:
    return {"source": {"bucket": "b", "name": "n.jpg", "generation": generation}}


def test_begin_complete_and_duplicate(registry: FirestoreRegistry) -> None:
    assert registry.begin("p1", 10, source(10), "v1") is BeginOutcome.PROCEED
    doc = registry.get("p1")
    assert doc is not None and doc["status"] == "processing" and doc["attempts"] == 1
    assert registry.complete("p1", 10, {"width": 640, "renditions": [{"width": 320}]})
    doc = registry.get("p1")
    assert doc is not None and doc["status"] == "ready" and doc["width"] == 640 and doc["error"] is None
    assert doc["created_at"] <= doc["updated_at"]
    assert registry.begin("p1", 10, source(10), "v1") is BeginOutcome.DONE
    # a new rendition spec re-renders the same generation
    assert registry.begin("p1", 10, source(10), "v2") is BeginOutcome.PROCEED


def test_older_generation_never_overwrites(registry: FirestoreRegistry) -> None:
    registry.begin("p2", 20, source(20), "v1")
    assert registry.begin("p2", 19, source(19), "v1") is BeginOutcome.STALE
    assert not registry.complete("p2", 19, {"width": 1})
    assert not registry.fail("p2", 19, {"error": {"code": "x", "reason": "y"}})
    assert not registry.remove("p2", 19, live_generation=None)
    doc = registry.get("p2")
    assert doc is not None and doc["source"]["generation"] == 20 and doc["status"] == "processing"


def test_newer_generation_takes_over_and_resets_attempts(registry: FirestoreRegistry) -> None:
    registry.begin("p3", 1, source(1), "v1")
    registry.note_retry("p3", 1, "dependency_unavailable", "storage down")  # ends the delivery, frees the lease
    assert registry.begin("p3", 1, source(1), "v1") is BeginOutcome.PROCEED
    assert registry.get("p3")["attempts"] == 2  # type: ignore[index]
    registry.note_retry("p3", 1, "dependency_unavailable", "storage down")
    assert registry.get("p3")["last_error"]["code"] == "dependency_unavailable"  # type: ignore[index]
    assert registry.begin("p3", 2, source(2), "v1") is BeginOutcome.PROCEED
    doc = registry.get("p3")
    assert doc is not None and doc["attempts"] == 1 and doc["last_error"] is None
    assert not registry.complete("p3", 1, {"width": 1})  # the old generation finishing late changes nothing


def test_fail_and_remove(registry: FirestoreRegistry) -> None:
    registry.begin("p4", 7, source(7), "v1")
    assert registry.fail("p4", 7, {"error": {"code": "corrupt_image", "reason": "truncated"}})
    assert registry.get("p4")["status"] == "failed"  # type: ignore[index]
    assert registry.begin("p4", 7, source(7), "v1") is BeginOutcome.DONE
    assert registry.remove("p4", 7, live_generation=None)
    assert registry.get("p4") is None
    assert not registry.remove("p4", 7, live_generation=None)
    assert not registry.complete("p4", 7, {"width": 1})  # deleted while rendering: nothing is resurrected


def test_unreachable_firestore_is_transient_and_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from gallery.errors import TransientError
    from gallery_devstack.processes import free_port

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    client = firestore.Client(project="gallery-it", credentials=AnonymousCredentials())
    registry = FirestoreRegistry(client, "photos", retry_seconds=2)
    started = time.monotonic()
    with pytest.raises(TransientError):
        registry.get("p9")
    # Reads honour the adapter's retry budget (the client's own default is 60 s). Transactions begin with
    # the client's fixed BeginTransaction retry, so they are not timed here.
    assert time.monotonic() - started < 15


def test_a_held_lease_makes_a_second_delivery_wait_and_an_expired_one_is_counted(registry: FirestoreRegistry) -> None:
    assert registry.begin("p5", 3, source(3), "v1", max_attempts=2, lease_seconds=60) is BeginOutcome.PROCEED
    doc = registry.get("p5")
    assert doc is not None and doc["lease_expires_at"] > doc["updated_at"]
    assert registry.begin("p5", 3, source(3), "v1", max_attempts=2) is BeginOutcome.BUSY
    assert registry.get("p5")["attempts"] == 1  # type: ignore[index]
    # the delivery died: its lease runs out (a zero-second lease stands for the wait)
    assert registry.begin("p6", 3, source(3), "v1", max_attempts=2, lease_seconds=0) is BeginOutcome.PROCEED
    assert registry.begin("p6", 3, source(3), "v1", max_attempts=2, lease_seconds=0) is BeginOutcome.PROCEED
    assert registry.begin("p6", 3, source(3), "v1", max_attempts=2, lease_seconds=0) is BeginOutcome.EXHAUSTED
    doc = registry.get("p6")
    assert doc is not None and doc["status"] == "failed" and doc["error"]["code"] == "too_many_attempts"
    assert not registry.mark_retrying("p6", 3, max_attempts=2)  # past the cap: only forced
    assert registry.mark_retrying("p6", 3, max_attempts=2, force=True)
    doc = registry.get("p6")
    assert doc is not None and doc["status"] == "retrying" and doc["attempts"] == 0


def test_dead_letters_are_recorded_only_for_the_live_unsettled_generation(registry: FirestoreRegistry) -> None:
    registry.begin("p7", 4, source(4), "v1")
    registry.note_retry("p7", 4, "permission_denied", "403")
    assert not registry.record_dead_letter("p7", 4, source(4), "dead", live_generation=5)  # not live any more
    assert registry.record_dead_letter("p7", 4, source(4), "dead", live_generation=4)
    doc = registry.get("p7")
    assert doc is not None and doc["status"] == "failed" and doc["error"]["code"] == "dead_lettered"
    assert "permission_denied" in doc["error"]["reason"]
    assert not registry.record_dead_letter("p7", 4, source(4), "dead", live_generation=4)  # already failed
    assert registry.record_dead_letter("p8", 9, source(9), "dead", live_generation=9)  # never processed
    assert registry.reset_attempts("p8", 9) and registry.get("p8")["status"] == "retrying"  # type: ignore[index]


def test_only_the_holder_renews_its_lease_with_one_field_written(registry: FirestoreRegistry) -> None:
    assert registry.begin("r1", 3, source(3), "v1", lease_seconds=10, holder="a") is BeginOutcome.PROCEED
    before = registry.get("r1")
    assert before is not None and before["lease_holder"] == "a"
    assert registry.renew_lease("r1", 3, "a", 60)
    after = registry.get("r1")
    assert after is not None and after["lease_expires_at"] > before["lease_expires_at"]
    assert {k: v for k, v in after.items() if k != "lease_expires_at"} == {
        k: v for k, v in before.items() if k != "lease_expires_at"
    }
    assert not registry.renew_lease("r1", 3, "b", 60)  # not its lease
    assert not registry.renew_lease("r1", 4, "a", 60)
    assert registry.complete("r1", 3, {"renditions": []})
    assert not registry.renew_lease("r1", 3, "a", 60)  # settled: nothing to renew
    assert registry.get("r1")["lease_holder"] is None  # type: ignore[index]
    assert not registry.renew_lease("missing", 3, "a", 60)


def test_a_preview_is_added_only_by_the_holder_of_a_photo_still_processing(registry: FirestoreRegistry) -> None:
    assert registry.begin("pv", 3, source(3), "v1", holder="a") is BeginOutcome.PROCEED
    preview = {"width": 640, "preview": {"src": "u/320.jpg", "srcset": {"jpeg": "u/320.jpg 320w"}, "renditions": []}}
    assert not registry.note_preview("pv", 3, "b", preview)
    assert registry.note_preview("pv", 3, "a", preview)
    doc = registry.get("pv")
    assert doc is not None and doc["status"] == "processing" and doc["preview"]["src"] == "u/320.jpg"
    assert doc["width"] == 640 and doc["attempts"] == 1
    assert registry.complete("pv", 3, {"renditions": [], "preview": None})
    assert not registry.note_preview("pv", 3, "a", preview)  # too late: the set is ready
    assert registry.get("pv")["preview"] is None  # type: ignore[index]


def test_a_requeued_dead_letter_is_counted_on_the_document(registry: FirestoreRegistry) -> None:
    assert registry.record_requeue("q1", 5, source(5), "dead-lettered after 10 deliveries")
    doc = registry.get("q1")
    assert doc is not None and (doc["status"], doc["dead_letters"], doc["attempts"]) == ("retrying", 1, 0)
    assert registry.begin("q1", 5, source(5), "v1", holder="h") is BeginOutcome.PROCEED
    assert registry.record_requeue("q1", 5, source(5), "again")
    doc = registry.get("q1")
    assert doc is not None and (doc["status"], doc["dead_letters"], doc["attempts"]) == ("processing", 2, 1)
    assert not registry.record_requeue("q1", 4, source(4), "older generation")


def test_remove_keeps_a_document_whose_generation_is_live(registry: FirestoreRegistry) -> None:
    registry.begin("p9", 7, source(7), "v1")
    assert not registry.remove("p9", 7, live_generation=7)
    assert not registry.remove("p9", 8, live_generation=7)
    assert registry.remove("p9", 7, live_generation=8)


def test_a_live_photo_is_linked_and_unlinked_in_one_transaction_over_both_documents(
    registry: FirestoreRegistry,
) -> None:
    still = {"source": {"bucket": "b", "name": "IMG_1.HEIC", "generation": 5}}
    motion = {"source": {"bucket": "b", "name": "IMG_1.MOV", "generation": 6}}
    assert registry.begin("still", 5, still, "v1") is BeginOutcome.PROCEED
    assert registry.begin("motion", 6, motion, "v1") is BeginOutcome.PROCEED
    assert registry.complete("still", 5, {"media_type": "photo", "motion": None})
    assert not registry.link_live_photo("still", "motion")  # the video is not ready yet
    video = {"duration_s": 2.9, "content_identifier": "ID"}
    assert registry.complete("motion", 6, {"media_type": "video", "video": video, "motion": {"url": "u/m.mp4"}})
    assert registry.link_live_photo("still", "motion")
    assert not registry.link_live_photo("still", "motion")  # already linked: nothing written
    linked_still, linked_motion = registry.get("still"), registry.get("motion")
    assert linked_still is not None and linked_motion is not None
    assert linked_still["motion"] == {"url": "u/m.mp4"} and linked_still["live_photo"]["video_id"] == "motion"
    assert linked_motion["part_of"] == "still"
    assert registry.unlink_live_photo("still", "motion")
    unlinked = registry.get("motion")
    assert unlinked is not None and unlinked["part_of"] is None and unlinked["motion"] == {"url": "u/m.mp4"}
    assert not registry.unlink_live_photo("still", "motion")
