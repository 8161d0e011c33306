"""Firestore: checkpoint documents of long-running operator commands (`gallery backfill`), one per id.

Reads and transactional read-modify-writes by document id only: no query, so no index is involved. The rules
(who may hold a checkpoint, what it records) are the caller's (gallery_cli.backfill_checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from google.cloud import firestore

logger = logging.getLogger(__name__)

CHECKPOINTS_COLLECTION = "backfills"


class FirestoreCheckpoints:
    """Checkpoint documents in one Firestore collection (implements gallery_cli.backfill_checkpoint's store)."""

    def __init__(self, client: firestore.Client, collection: str = CHECKPOINTS_COLLECTION) -> None:
        self._client = client
        self._collection = client.collection(collection)

    def get(self, checkpoint_id: str) -> dict[str, Any] | None:
        snap = self._collection.document(checkpoint_id).get()
        return (snap.to_dict() or {}) if snap.exists else None

    def update(
        self, checkpoint_id: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Read the document and write `change(document)` in one transaction, unless it is None; returns what was
        written."""
        ref = self._collection.document(checkpoint_id)

        @firestore.transactional
        def in_transaction(txn: Any) -> dict[str, Any] | None:
            snap = ref.get(transaction=txn)
            new = change((snap.to_dict() or {}) if snap.exists else None)
            if new is not None:
                txn.set(ref, new)
            return new

        written: dict[str, Any] | None = in_transaction(self._client.transaction(max_attempts=5))
        logger.debug("checkpoint %s %s", checkpoint_id, "written" if written is not None else "left as it was")
        return written

    def delete(self, checkpoint_id: str) -> None:
        self._collection.document(checkpoint_id).delete()
