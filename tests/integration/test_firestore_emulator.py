"""The Node Firestore emulator driven by the official google-cloud-firestore client."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from tests.fixtures_devstack import FirestoreEmulatorInfo


@pytest.fixture
def db(firestore_emulator: FirestoreEmulatorInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[firestore.Client]:
    for key, value in firestore_emulator.env.items():
        monkeypatch.setenv(key, value)
    client = firestore.Client(project="gallery-it")
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def photos(db: firestore.Client) -> firestore.CollectionReference:
    return db.collection(f"photos-{uuid.uuid4().hex[:8]}")


def test_set_get_update_delete(photos: firestore.CollectionReference) -> None:
    ref = photos.document("p1")
    assert not ref.get().exists
    ref.set({"status": "processing", "generation": 1, "renditions": [{"width": 320}], "exif": {"camera": "X"}})
    assert ref.get().to_dict() == {
        "status": "processing",
        "generation": 1,
        "renditions": [{"width": 320}],
        "exif": {"camera": "X"},
    }
    ref.update({"status": "ready", "exif.camera": "Y", "updated": firestore.SERVER_TIMESTAMP})
    snap = ref.get()
    assert snap.get("status") == "ready"
    assert snap.get("exif.camera") == "Y"
    assert snap.get("updated").year >= 2024
    with pytest.raises(gexc.AlreadyExists):
        ref.create({"status": "processing"})
    with pytest.raises(gexc.NotFound):
        photos.document("missing").update({"status": "ready"})
    ref.delete()
    assert not ref.get().exists


def test_transaction_reads_then_writes(db: firestore.Client, photos: firestore.CollectionReference) -> None:
    ref = photos.document("p1")
    ref.set({"generation": 5, "status": "ready"})

    @firestore.transactional
    def accept_if_newer(transaction: Any, generation: int) -> bool:
        snap = ref.get(transaction=transaction)
        if snap.exists and snap.get("generation") > generation:
            return False
        transaction.set(ref, {"generation": generation, "status": "processing"})
        return True

    assert accept_if_newer(db.transaction(), 4) is False
    assert ref.get().get("generation") == 5
    assert accept_if_newer(db.transaction(), 6) is True
    assert ref.get().to_dict() == {"generation": 6, "status": "processing"}


@pytest.mark.xfail(reason="emulator quirk: transactions are not isolated (no lock, no ABORTED): lost update")
def test_concurrent_transactions_are_serialized(db: firestore.Client, photos: firestore.CollectionReference) -> None:
    ref = photos.document("counter")
    ref.set({"n": 0})

    @firestore.transactional
    def add(transaction: Any, amount: int, pause: float) -> None:
        snap = ref.get(transaction=transaction)
        time.sleep(pause)
        transaction.update(ref, {"n": snap.get("n") + amount})

    slow = threading.Thread(target=lambda: add(db.transaction(), 1, 0.5))
    slow.start()
    time.sleep(0.1)
    add(db.transaction(), 10, 0.0)
    slow.join(10)
    assert ref.get().get("n") == 11


def test_queries(photos: firestore.CollectionReference) -> None:
    for i, status in enumerate(["ready", "failed", "ready", "processing"]):
        photos.document(f"p{i}").set({"status": status, "taken": i})
    ready = photos.where(filter=firestore.FieldFilter("status", "==", "ready")).stream()
    assert sorted(d.id for d in ready) == ["p0", "p2"]
    newest = photos.order_by("taken", direction=firestore.Query.DESCENDING).limit(2).stream()
    assert [d.id for d in newest] == ["p3", "p2"]
    later = photos.where(filter=firestore.FieldFilter("taken", ">=", 2)).stream()
    assert sorted(d.id for d in later) == ["p2", "p3"]


def test_on_snapshot(photos: firestore.CollectionReference) -> None:
    ref = photos.document("watched")
    events: list[tuple[str, dict[str, Any] | None]] = []
    cond = threading.Condition()

    def on_snapshot(docs: list[Any], changes: list[Any], read_time: Any) -> None:
        with cond:
            events.extend((change.type.name, change.document.to_dict()) for change in changes)
            cond.notify_all()

    watch = ref.on_snapshot(on_snapshot)
    try:
        time.sleep(0.3)
        ref.set({"status": "processing"})
        with cond:
            assert cond.wait_for(lambda: ("ADDED", {"status": "processing"}) in events, timeout=10)
        ref.update({"status": "ready"})
        with cond:
            assert cond.wait_for(lambda: ("MODIFIED", {"status": "ready"}) in events, timeout=10)
    finally:
        watch.unsubscribe()  # type: ignore[no-untyped-call]
