"""GcsSourceStore and GcsRenditionStore against fake-gcs-server."""

from __future__ import annotations

import uuid

import pytest

from gallery.adapters.gcs import CACHE_CONTROL, GcsRenditionStore, GcsSourceStore
from gallery.errors import LimitExceededError, SourceGoneError, TransientError
from tests.fixtures_devstack import FakeGcsInfo


@pytest.fixture
def gcs(fake_gcs: FakeGcsInfo, monkeypatch: pytest.MonkeyPatch) -> FakeGcsInfo:
    for key, value in fake_gcs.env.items():
        monkeypatch.setenv(key, value)
    return fake_gcs


def test_download_is_pinned_to_the_generation(gcs: FakeGcsInfo) -> None:
    bucket = gcs.ensure_bucket("it-sources")
    name = f"photo-{uuid.uuid4().hex}.jpg"
    first = bucket.blob(name)
    first.upload_from_string(b"first version")
    second = bucket.blob(name)
    second.upload_from_string(b"second version, longer")
    store = GcsSourceStore(gcs.client())
    assert store.download("it-sources", name, int(second.generation), 1_000) == b"second version, longer"
    # the overwritten generation is gone: never silently read the newer bytes instead
    with pytest.raises(SourceGoneError):
        store.download("it-sources", name, int(first.generation), 1_000)


def test_live_object_is_what_the_bucket_says_now(gcs: FakeGcsInfo) -> None:
    bucket = gcs.ensure_bucket("it-sources")
    name = f"live-{uuid.uuid4().hex}.jpg"
    store = GcsSourceStore(gcs.client())
    assert store.live_object("it-sources", name) is None
    blob = bucket.blob(name)
    blob.upload_from_string(b"12345", content_type="image/jpeg")
    live = store.live_object("it-sources", name)
    assert live is not None and (live.generation, live.size, live.content_type) == (blob.generation, 5, "image/jpeg")
    newer = bucket.blob(name)
    newer.upload_from_string(b"123456789", content_type="image/png")
    assert store.live_object("it-sources", name).generation == newer.generation  # type: ignore[union-attr]
    newer.delete()
    assert store.live_object("it-sources", name) is None


def test_download_refuses_objects_over_the_byte_limit(gcs: FakeGcsInfo) -> None:
    bucket = gcs.ensure_bucket("it-sources")
    blob = bucket.blob(f"big-{uuid.uuid4().hex}.jpg")
    blob.upload_from_string(b"x" * 2048)
    with pytest.raises(LimitExceededError):
        GcsSourceStore(gcs.client()).download("it-sources", blob.name, int(blob.generation), 1024)


def test_missing_object_is_source_gone(gcs: FakeGcsInfo) -> None:
    gcs.ensure_bucket("it-sources")
    with pytest.raises(SourceGoneError):
        GcsSourceStore(gcs.client()).download("it-sources", "never-uploaded.jpg", 1, 1_000)


def test_renditions_are_written_with_cache_headers_listed_and_deleted(gcs: FakeGcsInfo) -> None:
    bucket = gcs.ensure_bucket("it-renditions")
    store = GcsRenditionStore(gcs.client(), "it-renditions")
    pid = uuid.uuid4().hex
    for generation in (5, 6):
        for width in (320, 640):
            store.put(f"{pid}/{generation}/{width}.webp", b"RIFF....WEBP", "image/webp")
    blob = bucket.get_blob(f"{pid}/6/320.webp")
    assert blob.content_type == "image/webp"
    assert blob.cache_control == CACHE_CONTROL
    assert store.list_generations(pid) == {5, 6}
    assert store.delete_prefix(f"{pid}/5/") == 2
    assert store.list_generations(pid) == {6}
    assert store.delete_prefix(f"{pid}/5/") == 0


def test_unreachable_storage_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    from gallery_devstack.processes import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead)
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="p", credentials=AnonymousCredentials(), client_options={"api_endpoint": dead})
    with pytest.raises(TransientError):
        GcsRenditionStore(client, "it-renditions", retry_seconds=1).put("x/1/1.webp", b"x", "image/webp")


def test_list_names_lists_the_live_objects_under_a_prefix(gcs: FakeGcsInfo) -> None:
    bucket = gcs.ensure_bucket("it-sources")
    folder = f"roll-{uuid.uuid4().hex[:8]}/"
    for name in ("IMG_1.HEIC", "IMG_1.MOV", "IMG_10.HEIC", "IMG_2.HEIC"):
        bucket.blob(folder + name).upload_from_string(b"x")
    store = GcsSourceStore(gcs.client())
    assert store.list_names("it-sources", folder + "IMG_1.") == [folder + "IMG_1.HEIC", folder + "IMG_1.MOV"]
    assert len(store.list_names("it-sources", folder, limit=3)) == 3
