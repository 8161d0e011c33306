"""A live copy of the photo documents, kept by the catalog's change feed and fanned out to page subscribers.

`PhotoFeed.start()` watches the `PhotoCatalog` (on Firestore: an `on_snapshot` listener that a watchdog
re-attaches if it dies). Every change carries the full set of documents, so the feed diffs it against what it
holds (`gallery.catalog.changes`) and hands each subscriber ``("upsert", doc)`` /
``("remove", {"photo_id": ...})`` events. `publish_status` hands them the pipeline status (the queue panel's
figures) as ``("status", {...})`` and keeps the latest for pages that connect later.

The feed holds the items the gallery shows (`gallery_items`): the video of a Live Photo is left out, since its
still stands for both and carries its motion. When a video becomes part of a Live Photo its tile is removed, and
when it stands on its own again (its still deleted) the tile comes back.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gallery.catalog import changes
from gallery.live_photo import shown_in_gallery
from gallery.ports import PhotoCatalog, Watch

logger = logging.getLogger(__name__)

Event = tuple[str, dict[str, Any]]


def jsonable(value: Any) -> Any:
    """A Firestore value as JSON-friendly data (timestamps as ISO 8601 strings, GeoPoints as lat/lng)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "latitude") and hasattr(value, "longitude"):
        return {"lat": value.latitude, "lng": value.longitude}
    return value


def photo_json(photo_id: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    doc = jsonable(dict(data or {}))
    doc.setdefault("photo_id", photo_id)
    return dict(doc)


def gallery_items(docs: Mapping[str, Mapping[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """The documents the gallery shows as tiles, as JSON, by id: every one but a Live Photo's video."""
    return {pid: photo_json(pid, data) for pid, data in docs.items() if shown_in_gallery(data or {})}


class Subscription:
    """One page's stream of events; `get` blocks up to `timeout` seconds and returns None on timeout."""

    def __init__(self, feed: PhotoFeed, max_queued: int = 10_000) -> None:
        self._feed = feed
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=max_queued)
        self.overflowed = False

    def put(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.overflowed = True  # the page is not reading: it gets a fresh snapshot when it reconnects

    def get(self, timeout: float) -> Event | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._feed.unsubscribe(self)


class PhotoFeed:
    """Holds ``{photo_id: document}`` for the collection and publishes changes to subscribers."""

    def __init__(self, catalog: PhotoCatalog | None) -> None:
        self._catalog = catalog
        self._docs: dict[str, dict[str, Any]] = {}
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._watch: Watch | None = None
        self._ready = threading.Event()
        self._status: dict[str, Any] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait_seconds: float = 10.0) -> bool:
        """Start watching the catalog; returns whether the first set of documents arrived within `wait_seconds`."""
        if self._catalog is not None:
            self._watch = self._catalog.watch(self._on_change)
        return self._ready.wait(wait_seconds)

    def stop(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def _on_change(self, docs: dict[str, dict[str, Any]]) -> None:
        self.apply(docs)
        self._ready.set()

    # ------------------------------------------------------------------ state

    def subscribe(self) -> tuple[Subscription, list[dict[str, Any]]]:
        """A new subscription and the state it starts from (no event is lost or repeated in between)."""
        sub = Subscription(self)
        with self._lock:
            self._subscribers.append(sub)
            return sub, list(self._docs.values())

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    @property
    def status(self) -> dict[str, Any] | None:
        """The latest pipeline status published, if any."""
        with self._lock:
            return self._status

    def publish_status(self, status: dict[str, Any]) -> None:
        """Keep `status` as the latest and send it to every subscriber."""
        with self._lock:
            self._status = status
            for sub in self._subscribers:
                sub.put(("status", status))

    def apply(self, docs: Mapping[str, Mapping[str, Any] | None]) -> list[Event]:
        """Replace the state with `docs` (a full result set, shown or not) and publish what changed in what the
        gallery shows; returns the events."""
        fresh = gallery_items(docs)
        with self._lock:
            events: list[Event] = [
                (kind, {"photo_id": pid} if doc is None else dict(doc)) for kind, pid, doc in changes(self._docs, fresh)
            ]
            self._docs = fresh
            for sub in self._subscribers:
                for event in events:
                    sub.put(event)
        return events
