"""Firestore: the read side of the photo documents (listing, failures, counts, a live feed)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from gallery.catalog import OPTIMIZATION_STATES, Failure, failures
from gallery.catalog import settled_since as settled_among
from gallery.model import PhotoStatus

logger = logging.getLogger(__name__)

BATCH = 200  # documents per BatchGetDocuments


class FirestoreCatalog:
    """Implements `gallery.ports.PhotoCatalog` on a Firestore collection."""

    def __init__(self, client: firestore.Client, collection: str, *, watchdog_seconds: float = 2.0) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._watchdog_seconds = watchdog_seconds

    def _with_status(self, status: PhotoStatus) -> Any:
        return self._collection.where(filter=FieldFilter("status", "==", status.value))

    def get(self, photo_id: str) -> dict[str, Any] | None:
        snap = self._collection.document(photo_id).get()
        return snap.to_dict() if snap.exists else None

    def get_many(self, photo_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(photo_ids), BATCH):
            refs = [self._collection.document(pid) for pid in photo_ids[start : start + BATCH]]
            for snap in self._client.get_all(refs):
                if snap.exists:
                    found[snap.id] = snap.to_dict() or {}
        return found

    def recent(self, limit: int, status: PhotoStatus | None = None) -> list[dict[str, Any]]:
        query = self._with_status(status) if status else self._collection
        query = query.order_by("created_at", direction=firestore.Query.DESCENDING).limit(limit)
        return [{"photo_id": snap.id, **(snap.to_dict() or {})} for snap in query.stream()]

    def failures(self, code: str | None = None, limit: int | None = None) -> list[Failure]:
        docs = [snap.to_dict() or {} for snap in self._with_status(PhotoStatus.FAILED).stream()]
        return failures(docs, code, limit)

    @staticmethod
    def _count(query: Any) -> int:
        return int(query.count().get()[0][0].value)

    def counts(self) -> dict[PhotoStatus, int]:
        """Count aggregations: the total and each settled or retrying status; the rest is processing."""
        count = self._count
        counts: dict[PhotoStatus, int] = {
            status: count(self._with_status(status)) for status in PhotoStatus if status is not PhotoStatus.PROCESSING
        }
        counts[PhotoStatus.PROCESSING] = count(self._collection) - sum(counts.values())
        return counts

    def optimization_counts(self) -> dict[str, int]:
        """One count aggregation per state on `optimization_status` (its automatic single-field index)."""
        field = "optimization_status"
        return {
            state: self._count(self._collection.where(filter=FieldFilter(field, "==", state)))
            for state in OPTIMIZATION_STATES
        }

    def media_counts(self) -> dict[str, int]:
        """Two count aggregations on automatic single-field indexes: `media_type == "video"`, and `part_of > ""`
        (a Live Photo's video names its still there; null and absent do not match a string range)."""
        videos = self._collection.where(filter=FieldFilter("media_type", "==", "video"))
        live = self._collection.where(filter=FieldFilter("part_of", ">", ""))
        return {"videos": self._count(videos), "live_photos": self._count(live)}

    def settled_since(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        """One range query on `updated_at` (its single-field index; no composite index needed), settled ones kept.

        Documents still processing also move `updated_at`; they are read (their timing fields only) and dropped.
        """
        query = (
            self._collection.where(filter=FieldFilter("updated_at", ">=", since))
            .order_by("updated_at", direction=firestore.Query.DESCENDING)
            .select(["status", "updated_at", "timings", "error.code"])
            .limit(limit * 2)
        )
        docs = [{"photo_id": snap.id, **(snap.to_dict() or {})} for snap in query.stream()]
        return [dict(doc) for doc in settled_among(docs, since, limit)]

    def failure_codes(self) -> dict[str, int]:
        """The failed documents' error codes only (a projection), counted here."""
        codes: dict[str, int] = {}
        for snap in self._with_status(PhotoStatus.FAILED).select(["error.code"]).stream():
            code = str(((snap.to_dict() or {}).get("error") or {}).get("code") or "")
            codes[code] = codes.get(code, 0) + 1
        return codes

    def watch(self, on_change: Callable[[dict[str, dict[str, Any]]], None]) -> _Listener:
        listener = _Listener(self._collection, on_change, self._watchdog_seconds)
        listener.start()
        return listener


class _Listener:
    """An `on_snapshot` listener on the whole collection, re-attached by a watchdog if it dies.

    Every snapshot carries the full result set, so after a re-attach the next call repairs any state the
    subscriber missed.
    """

    def __init__(self, collection: Any, on_change: Callable[[dict[str, dict[str, Any]]], None], every: float) -> None:
        self._collection = collection
        self._on_change = on_change
        self._every = every
        self._watch: Any = None
        self._stop = threading.Event()

    def start(self) -> None:
        self._attach()
        threading.Thread(target=self._keep_alive, name="photo-catalog-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        watch, self._watch = self._watch, None
        if watch is not None:
            try:
                watch.unsubscribe()
            except Exception:
                logger.debug("unsubscribing the listener failed", exc_info=True)

    def _attach(self) -> None:
        self._watch = self._collection.on_snapshot(self._on_snapshot)

    def _on_snapshot(self, snapshots: list[Any], _changes: list[Any], _read_time: Any) -> None:
        try:
            self._on_change({snap.id: snap.to_dict() or {} for snap in snapshots})
        except Exception:  # never let an exception kill the listener thread
            logger.exception("applying a Firestore snapshot failed")

    def _keep_alive(self) -> None:
        while not self._stop.wait(self._every):
            watch = self._watch
            if watch is not None and not getattr(watch, "is_active", True):
                logger.warning("Firestore listener stopped; re-attaching")
                try:
                    self._attach()
                except Exception:
                    logger.exception("re-attaching the Firestore listener failed")
