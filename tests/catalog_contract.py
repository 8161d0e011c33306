"""What every PhotoCatalog answers, run against the in-memory one (tests/unit) and Firestore's (tests/integration)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from gallery.catalog import Failure
from gallery.model import PhotoStatus
from gallery.ports import PhotoCatalog

T0 = datetime(2026, 1, 1, tzinfo=UTC)

Store = Callable[[str, dict[str, Any]], None]


def doc(name: str, status: str, minute: int, code: str | None = None) -> dict[str, Any]:
    when = T0 + timedelta(minutes=minute)
    out: dict[str, Any] = {
        "photo_id": name,
        "source": {"bucket": "uploads", "name": f"{name}.jpg", "generation": minute + 1},
        "status": status,
        "created_at": when,
        "updated_at": when + timedelta(seconds=30),
    }
    if code:
        out["error"] = {"code": code, "reason": f"{code} reason"}
    return out


DOCS = {
    "a": doc("a", "ready", 1),
    "b": doc("b", "failed", 2, "corrupt_image"),
    "c": doc("c", "processing", 3),
    "d": doc("d", "failed", 4, "too_large"),
    "e": doc("e", "retrying", 5, "too_large"),
}


def check_catalog(catalog: PhotoCatalog, store: Store) -> None:
    """`store(id, doc)` writes a document behind the catalog's back (and tells its watchers, for the fake)."""
    seen: list[dict[str, dict[str, Any]]] = []
    arrived = threading.Event()

    def on_change(docs: dict[str, dict[str, Any]]) -> None:
        seen.append(docs)
        arrived.set()

    watch = catalog.watch(on_change)
    try:
        assert arrived.wait(10)
        assert seen[-1] == {}
        for pid, body in DOCS.items():
            store(pid, body)

        assert catalog.get("a") == DOCS["a"]
        assert catalog.get("nope") is None
        assert set(catalog.get_many(["a", "c", "nope"])) == {"a", "c"}
        assert [d["photo_id"] for d in catalog.recent(10)] == ["e", "d", "c", "b", "a"]
        assert [d["photo_id"] for d in catalog.recent(2)] == ["e", "d"]
        assert [d["photo_id"] for d in catalog.recent(10, PhotoStatus.FAILED)] == ["d", "b"]
        assert catalog.failures() == [
            Failure("d", "uploads", "d.jpg", 5, "too_large", "too_large reason", "2026-01-01T00:04:30+00:00"),
            Failure("b", "uploads", "b.jpg", 3, "corrupt_image", "corrupt_image reason", "2026-01-01T00:02:30+00:00"),
        ]
        assert [f.photo_id for f in catalog.failures(code="corrupt_image")] == ["b"]
        assert [f.photo_id for f in catalog.failures(limit=1)] == ["d"]
        assert catalog.counts() == {
            PhotoStatus.PROCESSING: 1,
            PhotoStatus.READY: 1,
            PhotoStatus.FAILED: 2,
            PhotoStatus.RETRYING: 1,
        }
        assert catalog.failure_codes() == {"corrupt_image": 1, "too_large": 1}
        assert catalog.media_counts() == {"videos": 0, "live_photos": 0}
        settled = catalog.settled_since(T0 + timedelta(minutes=2), 10)
        assert [d["photo_id"] for d in settled] == ["d", "b"]  # c is processing, e retrying, a older
        assert settled[0]["error"]["code"] == "too_large"
        assert [d["photo_id"] for d in catalog.settled_since(T0, 10)] == ["d", "b", "a"]
        assert [d["photo_id"] for d in catalog.settled_since(T0, 1)] == ["d"]
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while set(seen[-1]) != set(DOCS) and datetime.now(UTC) < deadline:
            arrived.clear()
            arrived.wait(0.2)
        assert set(seen[-1]) == set(DOCS), "the change feed delivers every document"
        assert seen[-1]["b"]["status"] == "failed"

        # Videos, and a Live Photo: a still whose video names it in `part_of`; an unlinked video has `part_of` null.
        store("v", {**doc("v", "ready", 6), "media_type": "video"})
        store("s", {**doc("s", "ready", 7), "media_type": "photo", "live_photo": {"video_id": "m"}})
        store("m", {**doc("m", "ready", 8), "media_type": "video", "part_of": "s"})
        store("u", {**doc("u", "ready", 9), "media_type": "video", "part_of": None})
        assert catalog.media_counts() == {"videos": 3, "live_photos": 1}
    finally:
        watch.stop()
