"""The generation rules every registry applies, as pure functions over the stored document.

A document belongs to one source generation. A newer generation always wins; an older one never
overwrites, completes, fails or removes it. The same generation processed twice is a no-op once done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gallery.model import BeginOutcome

Doc = Mapping[str, Any]


def stored_generation(doc: Doc | None) -> int | None:
    if not doc:
        return None
    value = (doc.get("source") or {}).get("generation")
    return int(value) if value is not None else None


def begin_document(
    doc: Doc | None, generation: int, fields: Mapping[str, Any], spec_version: str, now: datetime
) -> tuple[BeginOutcome, dict[str, Any] | None]:
    """Decide whether `generation` may start processing, and the document to store if so."""
    stored = stored_generation(doc)
    if stored is not None and stored > generation:
        return BeginOutcome.STALE, None
    same = doc is not None and stored == generation
    if (
        same
        and doc is not None
        and doc.get("status") in ("ready", "failed")
        and doc.get("spec_version") == spec_version
    ):
        return BeginOutcome.DONE, None
    new = dict(doc or {})
    new.update(fields)
    new.update(
        status="processing",
        spec_version=spec_version,
        attempts=int(new.get("attempts", 0)) + 1 if same else 1,
        created_at=(doc or {}).get("created_at", now),
        updated_at=now,
    )
    if not same:  # a new generation starts clean (explicit nulls: a set() must not keep stale fields)
        new.update(error=None, last_error=None)
    return BeginOutcome.PROCEED, new


def update_if_current(
    doc: Doc | None, generation: int, fields: Mapping[str, Any], now: datetime
) -> dict[str, Any] | None:
    """The updated document, or None if it is gone or now belongs to another generation."""
    if doc is None or stored_generation(doc) != generation:
        return None
    return {**doc, **fields, "updated_at": now}


def may_remove(doc: Doc | None, generation: int) -> bool:
    """A delete of `generation` removes the document only if it is at that generation or older."""
    stored = stored_generation(doc)
    return doc is not None and (stored is None or stored <= generation)


def retry_document(doc: Doc | None, generation: int, now: datetime) -> dict[str, Any] | None:
    """A failed document of `generation` marked `retrying` (so a redelivery is processed again), or None.

    `begin_document` treats `failed` as done; `retrying` is not, so the next FINALIZE of the same generation
    proceeds. The error stays on the document until the retry succeeds or fails again.
    """
    if doc is None or stored_generation(doc) != generation or doc.get("status") != "failed":
        return None
    return {**doc, "status": "retrying", "retry_requested_at": now, "updated_at": now}
