"""A live copy of the photos collection, kept by a Firestore listener and fanned out to page subscribers.

`PhotoFeed.start()` attaches `on_snapshot` to the collection (it works against the Firestore emulator and
Google Cloud alike). Every snapshot carries the full result set, so the feed diffs it against what it holds
and hands each subscriber ``("upsert", doc)`` / ``("remove", {"photo_id": ...})`` events. If the listener
dies (emulator restart, network), a watchdog re-attaches it and the next full snapshot repairs the state.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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

    def __init__(self, db: Any, collection: str, *, watchdog_seconds: float = 2.0) -> None:
        self._db = db
        self._collection = collection
        self._docs: dict[str, dict[str, Any]] = {}
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._watch: Any = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._watchdog_seconds = watchdog_seconds
        self._watchdog: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait_seconds: float = 10.0) -> bool:
        """Attach the listener; returns whether the first snapshot arrived within `wait_seconds`."""
        self._attach()
        self._watchdog = threading.Thread(target=self._keep_alive, name="photo-feed-watchdog", daemon=True)
        self._watchdog.start()
        return self._ready.wait(wait_seconds)

    def stop(self) -> None:
        self._stop.set()
        watch, self._watch = self._watch, None
        if watch is not None:
            try:
                watch.unsubscribe()
            except Exception:
                logger.debug("unsubscribing the listener failed", exc_info=True)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def _attach(self) -> None:
        self._watch = self._db.collection(self._collection).on_snapshot(self._on_snapshot)

    def _keep_alive(self) -> None:
        while not self._stop.wait(self._watchdog_seconds):
            watch = self._watch
            if watch is not None and not getattr(watch, "is_active", True):
                logger.warning("Firestore listener stopped; re-attaching")
                try:
                    self._attach()
                except Exception:
                    logger.exception("re-attaching the Firestore listener failed")

    # ------------------------------------------------------------------ state

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._docs.values())

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

    def apply(self, docs: Mapping[str, Mapping[str, Any] | None]) -> list[Event]:
        """Replace the state with `docs` (a full result set) and publish what changed; returns the events."""
        fresh = {pid: photo_json(pid, data) for pid, data in docs.items()}
        events: list[Event] = []
        with self._lock:
            for pid in self._docs.keys() - fresh.keys():
                events.append(("remove", {"photo_id": pid}))
            for pid, doc in fresh.items():
                if self._docs.get(pid) != doc:
                    events.append(("upsert", doc))
            self._docs = fresh
            for sub in self._subscribers:
                for event in events:
                    sub.put(event)
        return events

    def _on_snapshot(self, snapshots: list[Any], _changes: list[Any], _read_time: Any) -> None:
        try:
            self.apply({snap.id: snap.to_dict() for snap in snapshots})
        except Exception:  # never let an exception kill the listener thread
            logger.exception("applying a Firestore snapshot failed")
        self._ready.set()
