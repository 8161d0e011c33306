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
    registry.begin("p3", 1, source(1), "v1")
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
