"""The read side of the photo documents: what listing, failures, counts and the live feed mean.

Pure rules over stored documents, shared by `gallery.adapters.firestore_catalog` and the in-memory catalog
the tests use, so both answer the same questions the same way. The `gallery` CLI and the gallery page read
through the `PhotoCatalog` port (gallery.ports), never Firestore directly.

A document is a photo or a video (`media_type`, docs/videos.md); the video of a Live Photo has `part_of` (its
still's id) and the still stands for both (gallery.live_photo).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gallery.model import PhotoStatus
from gallery.registry_rules import attempts

Doc = Mapping[str, Any]
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Failure:
    """A failed photo as `gallery failures` lists it."""

    photo_id: str
    bucket: str
    name: str
    generation: int
    code: str
    reason: str
    when: str
    attempts: int = 0


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return _EPOCH


def failure_of(doc: Doc) -> Failure:
    source = doc.get("source") or {}
    error = doc.get("error") or {}
    when = doc.get("updated_at")
    return Failure(
        photo_id=str(doc.get("photo_id", "")),
        bucket=str(source.get("bucket", "")),
        name=str(source.get("name", "")),
        generation=int(source.get("generation") or 0),
        code=str(error.get("code", "")),
        reason=str(error.get("reason", "")),
        when=when.isoformat() if isinstance(when, datetime) else str(when or ""),
        attempts=attempts(doc),
    )


def has_status(doc: Doc, status: PhotoStatus | None) -> bool:
    return status is None or PhotoStatus.of(doc) is status


def newest_first(docs: Iterable[Doc], key: str = "created_at") -> list[Doc]:
    """Documents ordered by `key` (a timestamp), newest first; documents without one last."""
    return sorted(docs, key=lambda doc: _moment(doc.get(key)), reverse=True)


def failures(docs: Iterable[Doc], code: str | None = None, limit: int | None = None) -> list[Failure]:
    """The failed documents among `docs` (optionally of one error code), most recently failed first."""
    found = [failure_of(doc) for doc in newest_first(docs, "updated_at") if PhotoStatus.of(doc) is PhotoStatus.FAILED]
    if code:
        found = [f for f in found if f.code == code]
    return found[:limit] if limit else found


def count_statuses(docs: Iterable[Doc]) -> dict[PhotoStatus, int]:
    """How many documents have each status (every status present, zero included)."""
    counts = dict.fromkeys(PhotoStatus, 0)
    for doc in docs:
        counts[PhotoStatus.of(doc) or PhotoStatus.PROCESSING] += 1
    return counts


OPTIMIZATION_STATES = ("pending", "done", "failed")
"""The values of a document's `optimization_status` (gallery.optimize_plan); None when the pass is off."""


def count_optimizations(docs: Iterable[Doc]) -> dict[str, int]:
    """How many documents the optimize pass has pending, done and failed (every state present, zero included)."""
    counts = dict.fromkeys(OPTIMIZATION_STATES, 0)
    for doc in docs:
        state = doc.get("optimization_status")
        if state in counts:
            counts[state] += 1
    return counts


MEDIA_COUNT_KEYS = ("videos", "live_photos")
"""What `count_media` counts: video documents (a Live Photo's video included), and Live Photos."""


def is_video(doc: Doc) -> bool:
    return doc.get("media_type") == "video"


def is_live_motion(doc: Doc) -> bool:
    """The video of a Live Photo: `part_of` names its still. Matches Firestore's `part_of > ""` (strings only)."""
    part_of = doc.get("part_of")
    return isinstance(part_of, str) and part_of > ""


def is_live_still(doc: Doc) -> bool:
    """The still of a Live Photo: a photo whose `live_photo` names its video."""
    return not is_video(doc) and bool((doc.get("live_photo") or {}).get("video_id"))


def count_media(docs: Iterable[Doc]) -> dict[str, int]:
    """How many documents are videos, and how many Live Photos there are (one per linked video)."""
    counts = dict.fromkeys(MEDIA_COUNT_KEYS, 0)
    for doc in docs:
        counts["videos"] += is_video(doc)
        counts["live_photos"] += is_live_motion(doc)
    return counts


def duration_text(seconds: Any) -> str:
    """A duration as a player shows it, to the nearest second: ``0:07``, ``12:34``, ``1:02:03``; "" if unknown."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        return ""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def media_kind(doc: Doc) -> str:
    """What an item is, as `gallery ls` shows it: ``photo``, ``video 0:07``, ``live photo`` or ``live motion``
    (the video of a Live Photo). "" while a render has yet to tell (a document not ready without `media_type`);
    a ready document from before videos were taken is a photo."""
    if is_live_motion(doc):
        return "live motion"
    if is_video(doc):
        return " ".join(filter(None, ("video", duration_text((doc.get("video") or {}).get("duration_s")))))
    if is_live_still(doc):
        return "live photo"
    if doc.get("media_type") == "photo" or PhotoStatus.of(doc) is PhotoStatus.READY:
        return "photo"
    return ""


def settled_since(docs: Iterable[Doc], since: datetime, limit: int) -> list[Doc]:
    """The ready or failed documents among `docs` last updated at or after `since`, newest first, at most `limit`."""
    found = [
        doc
        for doc in newest_first(docs, "updated_at")
        if _moment(doc.get("updated_at")) >= since and (PhotoStatus.of(doc) or PhotoStatus.PROCESSING).settled
    ]
    return found[:limit]


def failure_codes(docs: Iterable[Doc]) -> dict[str, int]:
    """How many failed documents among `docs` have each error code (``""`` for one without)."""
    codes: dict[str, int] = {}
    for doc in docs:
        if PhotoStatus.of(doc) is PhotoStatus.FAILED:
            code = str((doc.get("error") or {}).get("code") or "")
            codes[code] = codes.get(code, 0) + 1
    return codes


def changes(before: Mapping[str, Doc], after: Mapping[str, Doc]) -> list[tuple[str, str, Doc | None]]:
    """What turns the set of documents `before` into `after`: ("upsert", id, doc) / ("remove", id, None)."""
    found: list[tuple[str, str, Doc | None]] = [("remove", pid, None) for pid in before.keys() - after.keys()]
    found += [("upsert", pid, doc) for pid, doc in after.items() if before.get(pid) != doc]
    return found
