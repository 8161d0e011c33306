"""The generation and delivery rules every registry applies, as pure functions over the stored document.

A document belongs to one source generation. A newer generation always wins; an older one never
overwrites, completes, fails or removes it. The same generation processed twice is a no-op once done.

Deliveries are counted: every delivery that begins processing a generation adds one to `attempts` (written
before anything is downloaded or rendered) and holds a short lease (`lease_expires_at`, `lease_holder`) that it
renews while it works (a heartbeat well inside the lease). A delivery that ends, well or badly, releases it; one
whose instance died cannot, but it stops renewing, so its lease runs out within one lease period. A delivery that
finds the lease held is BUSY: it waits for the holder's outcome or for the lease to run out, then takes over. A
delivery that finds `attempts` already at the cap and the lease free records the photo failed
(`too_many_attempts`) instead of rendering, so a photo whose render kills its instance stops being retried.

Pub/Sub dead-letters a notification after its own delivery cap. A dead letter of a photo that never reached an
outcome and still has deliveries left (it was only busy, crashed with its instance, or waited out an outage) is
re-queued on the bulk lane up to `max_requeues` times instead of being recorded failed (`dead_letter_decision`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gallery.model import BeginOutcome, PhotoStatus

Doc = Mapping[str, Any]

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_MAX_REQUEUES = 1
TOO_MANY_ATTEMPTS = "too_many_attempts"
DEAD_LETTERED = "dead_lettered"
SETTLED = tuple(status.value for status in PhotoStatus if status.settled)


def stored_generation(doc: Doc | None) -> int | None:
    if not doc:
        return None
    value = (doc.get("source") or {}).get("generation")
    return int(value) if value is not None else None


def attempts(doc: Doc | None) -> int:
    """Deliveries that began processing the document's generation (since it was last ready)."""
    try:
        return int((doc or {}).get("attempts") or 0)
    except (TypeError, ValueError):
        return 0


def over_cap(doc: Doc | None, max_attempts: int) -> bool:
    """Whether the document's generation has used up its deliveries (the next one records it failed)."""
    return attempts(doc) >= max_attempts


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def lease_expired(doc: Doc | None, now: datetime) -> bool:
    """Whether a `processing` document's last delivery has had all the time one delivery may take.

    A document without a lease (written before leases existed) counts as expired.
    """
    until = _as_datetime((doc or {}).get("lease_expires_at"))
    return until is None or until <= now


def lease_held(doc: Doc | None, generation: int, now: datetime) -> bool:
    """Whether a delivery holds a live lease on `generation` (it is processing it, or died less than a lease ago)."""
    return (
        doc is not None
        and stored_generation(doc) == generation
        and doc.get("status") == PhotoStatus.PROCESSING
        and not lease_expired(doc, now)
    )


def dead_letters(doc: Doc | None) -> int:
    """How many times Pub/Sub dead-lettered the document's generation (each one re-queued it, up to the limit)."""
    try:
        return int((doc or {}).get("dead_letters") or 0)
    except (TypeError, ValueError):
        return 0


def failure_fields(code: str, reason: str) -> dict[str, Any]:
    """The fields of a failed document: the error, and no renditions (nor a paint-first preview)."""
    return {
        "status": PhotoStatus.FAILED.value,
        "error": {"code": code, "reason": reason},
        "renditions": [],
        "srcset": {},
        "src": None,
        "preview": None,
    }


def is_settled(doc: Doc | None) -> bool:
    """Whether the document's generation has its outcome: ready, or failed for a reason a redelivery cannot change.

    A dead letter is not a verdict on the photo (the function may simply have been down), so a `dead_lettered`
    photo is processed again by the next delivery of its generation (backfill, retry), its count continuing.
    """
    status = PhotoStatus.of(doc)
    if status is PhotoStatus.READY:
        return True
    return status is PhotoStatus.FAILED and ((doc or {}).get("error") or {}).get("code") != DEAD_LETTERED


def is_done(doc: Doc | None, generation: int, spec_version: str) -> bool:
    """The one "settled" rule: `generation` has its outcome (`is_settled`) with `spec_version`, so nothing is left
    to do: a delivery of it is acknowledged as a duplicate, backfill leaves it alone and `--wait` stops waiting."""
    return (
        doc is not None
        and is_settled(doc)
        and stored_generation(doc) == generation
        and doc.get("spec_version") == spec_version
    )


def begin_document(
    doc: Doc | None,
    generation: int,
    fields: Mapping[str, Any],
    spec_version: str,
    now: datetime,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    holder: str = "",
) -> tuple[BeginOutcome, dict[str, Any] | None]:
    """Decide whether `generation` may start processing, and the document to store.

    PROCEED: store the returned document (`processing`, one more attempt, a fresh lease held by `holder`, the
    delivery's own token, which `renew_lease_document` checks) and render.
    EXHAUSTED: `max_attempts` deliveries already began without an outcome; store the returned `failed` document.
    BUSY: another delivery holds the lease (a concurrent duplicate, or a crash whose lease has not run out).
    STALE / DONE: store nothing.
    """
    stored = stored_generation(doc)
    if stored is not None and stored > generation:
        return BeginOutcome.STALE, None
    same = doc is not None and stored == generation
    status = (doc or {}).get("status")
    if is_done(doc, generation, spec_version):
        return BeginOutcome.DONE, None
    if lease_held(doc, generation, now):
        return BeginOutcome.BUSY, None
    # The count runs per generation until it is ready: a spec change re-renders a ready photo from 1 again,
    # while failed/retrying/processing keep counting (a retry of a broken photo is one more attempt).
    counted = attempts(doc) if same and status != PhotoStatus.READY else 0
    new = dict(doc or {})
    new.update(fields)
    if same and counted >= max_attempts:
        reason = (
            f"{counted} deliveries began processing this photo without an outcome (the limit is {max_attempts}): "
            "its render probably crashes or exhausts the instance"
        )
        last = (doc or {}).get("last_error")
        if isinstance(last, Mapping) and last.get("reason"):
            reason += f"; last error: {last.get('code')}: {last.get('reason')}"
        new.update(failure_fields(TOO_MANY_ATTEMPTS, reason))
        new.update(lease_expires_at=None, updated_at=now)
        return BeginOutcome.EXHAUSTED, new
    new.update(
        status=PhotoStatus.PROCESSING.value,
        spec_version=spec_version,
        attempts=counted + 1,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        lease_holder=holder,
        created_at=(doc or {}).get("created_at", now),
        updated_at=now,
    )
    if not same:  # a new generation starts clean (explicit nulls: a set() must not keep stale fields)
        new.update(error=None, last_error=None, dead_letters=0)
    return BeginOutcome.PROCEED, new


def holds_lease(doc: Doc | None, generation: int, holder: str) -> bool:
    """Whether `holder` is the delivery processing `generation` now (its lease may have run out unnoticed)."""
    return (
        doc is not None
        and bool(holder)
        and stored_generation(doc) == generation
        and doc.get("status") == PhotoStatus.PROCESSING
        and doc.get("lease_holder") == holder
    )


def renew_lease_document(
    doc: Doc | None, generation: int, holder: str, now: datetime, lease_seconds: float
) -> dict[str, Any] | None:
    """The document with `holder`'s lease extended to now + `lease_seconds`, or None to write nothing.

    Only the delivery that took the lease renews it, and only while the document is still `processing` that
    generation: a lease another delivery has taken over (after this one's ran out), or a photo that reached its
    outcome, is never extended.
    """
    if doc is None or not holds_lease(doc, generation, holder):
        return None
    return {**doc, "lease_expires_at": now + timedelta(seconds=lease_seconds)}


def preview_document(doc: Doc | None, generation: int, holder: str, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """The document with a paint-first preview added, or None: only the delivery that holds the lease of a photo
    still `processing` that generation adds one (a preview arriving after the outcome is dropped)."""
    if doc is None or not holds_lease(doc, generation, holder):
        return None
    return {**doc, **fields}


def optimization_document(
    doc: Doc | None,
    generation: int,
    expected_renditions: Sequence[Mapping[str, Any]],
    fields: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any] | None:
    """The document with the optimize pass's fields, or None: only while the photo is still `ready` at
    `generation` with exactly the renditions the pass started from (not re-rendered, replaced or deleted since)."""
    if doc is None or stored_generation(doc) != generation or doc.get("status") != PhotoStatus.READY:
        return None
    if list(doc.get("renditions") or []) != list(expected_renditions):
        return None
    return {**doc, **fields, "updated_at": now}


RELEASED: dict[str, Any] = {"lease_expires_at": None, "lease_holder": None}
"""Merged into every write that ends a delivery (ready, failed, transient error): the lease is free again."""


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


def may_deregister(doc: Doc | None, generation: int, live_generation: int | None) -> bool:
    """A DELETE of `generation` removes the document only if its generation is no longer live in the bucket.

    `live_generation` is what Cloud Storage says now (None: no object). A DELETE naming the live generation
    (forged, or an old message replayed after a re-upload) changes nothing.
    """
    if not may_remove(doc, generation):
        return False
    stored = stored_generation(doc)
    return live_generation is None or stored is None or stored != live_generation


def dead_letter_document(
    doc: Doc | None,
    generation: int,
    fields: Mapping[str, Any],
    reason: str,
    now: datetime,
    *,
    live_generation: int | None,
) -> dict[str, Any] | None:
    """The document recording that Pub/Sub gave up on the FINALIZE of `generation`, or None to change nothing.

    Recorded only for the live generation, and never over a `ready` or `failed` document of that generation,
    nor over a newer one. A photo with no document yet (the function never got to it) gets one.
    """
    if live_generation != generation:
        return None
    stored = stored_generation(doc)
    if stored is not None and stored > generation:
        return None
    same = doc is not None and stored == generation
    if same and (doc or {}).get("status") in SETTLED:
        return None
    new = dict(doc or {}) if same else {}
    new.update(fields)
    last = new.get("last_error")
    if isinstance(last, Mapping) and last.get("reason"):
        reason += f"; last error: {last.get('code')}: {last.get('reason')}"
    new.update(failure_fields(DEAD_LETTERED, reason))
    new.update(
        lease_expires_at=None,
        attempts=attempts(new),
        created_at=(doc or {}).get("created_at", now),
        updated_at=now,
    )
    new.setdefault("last_error", None)
    return new


class DeadLetterDecision(enum.Enum):
    """What the function does with a dead-lettered FINALIZE."""

    REQUEUE = "requeue"  # no outcome yet and deliveries left: publish it once more, on the bulk lane
    RECORD = "record"  # record the photo failed (`dead_lettered`)
    STALE = "stale"  # settled, superseded or not live: change nothing


def dead_letter_decision(
    doc: Doc | None,
    generation: int,
    *,
    live_generation: int | None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_requeues: int = DEFAULT_MAX_REQUEUES,
) -> DeadLetterDecision:
    """The rule for a dead letter of the FINALIZE of `generation`.

    A dead letter says only that Pub/Sub's deliveries ran out, not why. If the photo has an outcome (ready, or
    failed for a reason of its own) or is no longer live, nothing changes. If its deliveries that began
    processing (`attempts`) reached `max_attempts`, its render kept dying or failing: recorded `dead_lettered`.
    Otherwise every delivery was busy (waiting for a lease), crashed with its instance, or met an outage: the
    photo itself was never judged, so it is re-queued, up to `max_requeues` dead letters per generation; the
    next dead letter is recorded.
    """
    if live_generation != generation:
        return DeadLetterDecision.STALE
    stored = stored_generation(doc)
    if stored is not None and stored > generation:
        return DeadLetterDecision.STALE
    same = doc is not None and stored == generation
    if same and (doc or {}).get("status") in SETTLED:
        return DeadLetterDecision.STALE
    if same and (over_cap(doc, max_attempts) or dead_letters(doc) >= max_requeues):
        return DeadLetterDecision.RECORD
    return DeadLetterDecision.REQUEUE if max_requeues > 0 else DeadLetterDecision.RECORD


def requeued_document(
    doc: Doc | None, generation: int, fields: Mapping[str, Any], reason: str, now: datetime
) -> dict[str, Any] | None:
    """The document noting that a dead letter of `generation` was re-queued (one more `dead_letters`), or None.

    A photo with no document yet gets one (`retrying`); a `processing` one keeps its status and lease (a holder
    that is still alive finishes; a dead one's lease runs out). `last_error` keeps the last error the deliveries
    met, for the record if the re-queued delivery is dead-lettered too.
    """
    stored = stored_generation(doc)
    if stored is not None and stored != generation:
        return None
    if doc is not None and doc.get("status") in SETTLED:
        return None
    new = dict(doc) if doc is not None else {"status": PhotoStatus.RETRYING.value, "attempts": 0, "created_at": now}
    new.update(fields)
    new.setdefault("last_error", None)
    new.update(dead_letters=dead_letters(doc) + 1, requeued={"reason": reason, "at": now}, updated_at=now)
    return new


def retry_document(
    doc: Doc | None,
    generation: int,
    now: datetime,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    force: bool = False,
) -> dict[str, Any] | None:
    """A failed document of `generation` marked `retrying` (so a redelivery is processed again), or None.

    `begin_document` treats `failed` as done; `retrying` is not, so the next FINALIZE of the same generation
    proceeds. The error stays on the document until the retry succeeds or fails again. A photo past its
    delivery cap is only re-queued with `force`, which also gives it a fresh count.
    """
    if doc is None or stored_generation(doc) != generation or PhotoStatus.of(doc) is not PhotoStatus.FAILED:
        return None
    if over_cap(doc, max_attempts) and not force:
        return None
    new = {**doc, "status": PhotoStatus.RETRYING.value, "retry_requested_at": now, "updated_at": now}
    if force:
        new.update(attempts=0, dead_letters=0)
    return new


def reset_document(doc: Doc | None, generation: int, now: datetime) -> dict[str, Any] | None:
    """A document of `generation` given a fresh delivery count (a forced backfill), or None if it changed.

    A `failed` one becomes `retrying` (so the next delivery renders it); a `processing` one keeps its status.
    """
    if doc is None or stored_generation(doc) != generation or PhotoStatus.of(doc) is PhotoStatus.READY:
        return None
    status = PhotoStatus.RETRYING.value if PhotoStatus.of(doc) is PhotoStatus.FAILED else doc.get("status")
    return {
        **doc,
        "status": status,
        "attempts": 0,
        "dead_letters": 0,
        "lease_expires_at": None,
        "lease_holder": None,
        "updated_at": now,
    }
