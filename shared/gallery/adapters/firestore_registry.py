"""Firestore: one document per photo, every write guarded by the source generation in a transaction."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud import firestore

from gallery.adapters.classify import classify
from gallery.live_photo import linked_documents, unlinked_document
from gallery.model import BeginOutcome, PhotoStatus
from gallery.registry_rules import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    RELEASED,
    begin_document,
    dead_letter_document,
    may_deregister,
    optimization_document,
    preview_document,
    renew_lease_document,
    requeued_document,
    reset_document,
    retry_document,
    update_if_current,
)

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


class FirestoreRegistry:
    """Implements `gallery.ports.Registry` on a Firestore collection."""

    def __init__(self, client: firestore.Client, collection: str, retry_seconds: float = 30.0) -> None:
        self._client = client
        self._collection = client.collection(collection)
        # Retry inside one delivery only briefly; past that, answer 503 and let Pub/Sub's backoff take over.
        self._retry = Retry(
            predicate=if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError),
            timeout=retry_seconds,
        )
        self._timeout = min(retry_seconds, 20.0)
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()

    def _lock(self, photo_id: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(photo_id)
            if lock is None:
                lock = self._locks[photo_id] = threading.Lock()
            return lock

    def _run(self, what: str, photo_id: str, body: Callable[[Any, Any, dict[str, Any] | None], T]) -> T:
        # Transactions on one document are also serialized inside this process: it spares Firestore the
        # contention retries, and keeps the generation rules exact on emulators that do not isolate
        # transactions. Across instances, Firestore's transactions are what guarantees it.
        with self._lock(photo_id):
            return self._run_transaction(what, photo_id, body)

    def _run_transaction(self, what: str, photo_id: str, body: Callable[[Any, Any, dict[str, Any] | None], T]) -> T:
        ref = self._collection.document(photo_id)

        @firestore.transactional
        def in_transaction(txn: Any) -> T:
            snap = ref.get(transaction=txn, retry=self._retry, timeout=self._timeout)
            return body(txn, ref, snap.to_dict() if snap.exists else None)

        try:
            result: T = in_transaction(self._client.transaction(max_attempts=10))
        except Exception as err:
            raise classify(err, f"firestore {what} {photo_id}") from err
        return result

    def begin(
        self,
        photo_id: str,
        generation: int,
        fields: Mapping[str, Any],
        spec_version: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        holder: str = "",
    ) -> BeginOutcome:
        def body(txn: Any, ref: Any, doc: dict[str, Any] | None) -> BeginOutcome:
            outcome, new = begin_document(
                doc,
                generation,
                fields,
                spec_version,
                _now(),
                max_attempts=max_attempts,
                lease_seconds=lease_seconds,
                holder=holder,
            )
            if new is not None:
                txn.set(ref, new)
            return outcome

        return self._run("begin", photo_id, body)

    def renew_lease(self, photo_id: str, generation: int, holder: str, lease_seconds: float) -> bool:
        def body(txn: Any, ref: Any, doc: dict[str, Any] | None) -> bool:
            new = renew_lease_document(doc, generation, holder, _now(), lease_seconds)
            if new is not None:
                txn.update(ref, {"lease_expires_at": new["lease_expires_at"]})  # the one field, not the document
            return new is not None

        return self._run("renew_lease", photo_id, body)

    def note_preview(self, photo_id: str, generation: int, holder: str, fields: Mapping[str, Any]) -> bool:
        def body(txn: Any, ref: Any, doc: dict[str, Any] | None) -> bool:
            new = preview_document(doc, generation, holder, fields)
            if new is not None:
                txn.update(ref, dict(fields))  # the preview's fields only
            return new is not None

        return self._run("note_preview", photo_id, body)

    def _update(self, what: str, photo_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        def body(txn: Any, ref: Any, doc: dict[str, Any] | None) -> bool:
            new = update_if_current(doc, generation, fields, _now())
            if new is not None:
                txn.set(ref, new)
            return new is not None

        return self._run(what, photo_id, body)

    def complete(self, photo_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        return self._update(
            "complete", photo_id, generation, {**fields, **RELEASED, "status": PhotoStatus.READY.value, "error": None}
        )

    def fail(self, photo_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        return self._update("fail", photo_id, generation, {**fields, **RELEASED, "status": PhotoStatus.FAILED.value})

    def note_retry(self, photo_id: str, generation: int, code: str, reason: str) -> None:
        self._update(
            "note_retry",
            photo_id,
            generation,
            {**RELEASED, "last_error": {"code": code, "reason": reason, "at": _now()}},
        )

    def _replace(
        self, what: str, photo_id: str, rule: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> bool:
        def body(txn: Any, ref: Any, doc: dict[str, Any] | None) -> bool:
            new = rule(doc)
            if new is not None:
                txn.set(ref, new)
            return new is not None

        return self._run(what, photo_id, body)

    def mark_retrying(
        self, photo_id: str, generation: int, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS, force: bool = False
    ) -> bool:
        """Mark a failed document `retrying` so the next delivery of `generation` renders it again.

        Refused (False) past the delivery cap unless `force`, which also restarts the count.
        """
        now = _now()
        return self._replace(
            "mark_retrying",
            photo_id,
            lambda doc: retry_document(doc, generation, now, max_attempts=max_attempts, force=force),
        )

    def reset_attempts(self, photo_id: str, generation: int) -> bool:
        """Give `generation` a fresh delivery count (a forced backfill); False if the document changed."""
        now = _now()
        return self._replace("reset_attempts", photo_id, lambda doc: reset_document(doc, generation, now))

    def record_dead_letter(
        self, photo_id: str, generation: int, fields: Mapping[str, Any], reason: str, *, live_generation: int | None
    ) -> bool:
        now = _now()
        return self._replace(
            "record_dead_letter",
            photo_id,
            lambda doc: dead_letter_document(doc, generation, fields, reason, now, live_generation=live_generation),
        )

    def record_optimization(
        self,
        photo_id: str,
        generation: int,
        expected_renditions: Sequence[Mapping[str, Any]],
        fields: Mapping[str, Any],
    ) -> bool:
        def body(txn: Any, ref: Any, doc: dict[str, Any] | None) -> bool:
            now = _now()
            new = optimization_document(doc, generation, expected_renditions, fields, now)
            if new is not None:
                txn.update(ref, {**fields, "updated_at": now})  # the pass's fields only
            return new is not None

        return self._run("record_optimization", photo_id, body)

    def record_requeue(self, photo_id: str, generation: int, fields: Mapping[str, Any], reason: str) -> bool:
        now = _now()
        return self._replace(
            "record_requeue", photo_id, lambda doc: requeued_document(doc, generation, fields, reason, now)
        )

    def remove(self, photo_id: str, generation: int, *, live_generation: int | None) -> bool:
        def body(txn: Any, ref: Any, doc: dict[str, Any] | None) -> bool:
            if not may_deregister(doc, generation, live_generation):
                return False
            txn.delete(ref)
            return True

        return self._run("remove", photo_id, body)

    def _run_pair(self, what: str, first: str, second: str, body: Callable[[Any, Any, Any, Any, Any], bool]) -> bool:
        """One transaction over two documents (locked in id order inside this process, as `_run` does for one)."""
        ordered = sorted((first, second))
        with self._lock(ordered[0]), self._lock(ordered[1]):
            refs = self._collection.document(first), self._collection.document(second)

            @firestore.transactional
            def in_transaction(txn: Any) -> bool:
                snaps = [ref.get(transaction=txn, retry=self._retry, timeout=self._timeout) for ref in refs]
                docs = [snap.to_dict() if snap.exists else None for snap in snaps]
                return body(txn, refs[0], docs[0], refs[1], docs[1])

            try:
                return bool(in_transaction(self._client.transaction(max_attempts=10)))
            except Exception as err:
                raise classify(err, f"firestore {what} {first} {second}") from err

    def link_live_photo(self, still_id: str, motion_id: str) -> bool:
        def body(txn: Any, still_ref: Any, still: Any, motion_ref: Any, motion: Any) -> bool:
            linked = linked_documents(still, motion, still_id, motion_id)
            if linked is None:
                return False
            now = _now()
            txn.set(still_ref, {**linked[0], "updated_at": now})
            txn.set(motion_ref, {**linked[1], "updated_at": now})
            return True

        return self._run_pair("link_live_photo", still_id, motion_id, body)

    def unlink_live_photo(self, removed_id: str, partner_id: str) -> bool:
        def body(txn: Any, partner: Any) -> bool:
            ref, doc = partner
            new = unlinked_document(doc, removed_id)
            if new is not None:
                txn.set(ref, {**new, "updated_at": _now()})
            return new is not None

        return self._run("unlink_live_photo", partner_id, lambda txn, ref, doc: body(txn, (ref, doc)))

    def get(self, photo_id: str) -> dict[str, Any] | None:
        try:
            snap = self._collection.document(photo_id).get(retry=self._retry, timeout=self._timeout)
        except Exception as err:
            raise classify(err, f"firestore get {photo_id}") from err
        return snap.to_dict() if snap.exists else None
