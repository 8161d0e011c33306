"""The edges the service talks through. Adapters wrap one SDK each; unit tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from gallery.model import BeginOutcome, LiveObject, PhotoStatus, QueueFigures

if TYPE_CHECKING:  # the read side's types; the function itself never reads through a catalog
    from gallery.catalog import Failure


class SourceStore(Protocol):
    """Read access to the uploads bucket."""

    def live_object(self, bucket: str, name: str) -> LiveObject | None:
        """The live generation of the object (one metadata read, never cached), or None if there is none.

        Every state change is checked against this, never against what a message claims.
        Raises TransientError when storage is unavailable.
        """
        ...

    def download(self, bucket: str, name: str, generation: int, max_bytes: int) -> bytes:
        """The object's bytes at exactly `generation`.

        Raises SourceGoneError if that generation no longer exists, LimitExceededError if it is larger
        than `max_bytes`, TransientError when storage is unavailable.
        """
        ...

    def metadata(self, bucket: str, name: str, generation: int) -> dict[str, str]:
        """The object's custom metadata at `generation` (empty if it has none); same errors as `download`."""
        ...

    def list_names(self, bucket: str, prefix: str, limit: int = 20) -> list[str]:
        """Names of the live objects under `prefix` (at most `limit`); raises TransientError when storage is
        unavailable."""
        ...


class RenditionStore(Protocol):
    """Write access to the renditions bucket."""

    def put(self, name: str, data: bytes, content_type: str) -> None:
        """Write one immutable rendition with long-lived cache headers."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; returns how many were deleted."""
        ...

    def list_generations(self, photo_id: str) -> set[int]:
        """Generations that have renditions stored for this photo."""
        ...

    def mark_superseded(self, names: Sequence[str]) -> None:
        """Mark renditions no document refers to any more, so they are deleted after the grace period (the bucket's
        lifecycle rule, or `gallery prune`); names already gone or already marked are left alone."""
        ...


class EventSink(Protocol):
    """Where `photo.registered` / `photo.deregistered` go for downstream consumers."""

    def publish(self, event_type: str, attributes: Mapping[str, str], payload: Mapping[str, Any]) -> None:
        """Publish one event; raises TransientError if it could not be delivered."""
        ...


class Registry(Protocol):
    """The photo documents. Every write is guarded by generation in a transaction."""

    def begin(
        self,
        photo_id: str,
        generation: int,
        fields: Mapping[str, Any],
        spec_version: str,
        *,
        max_attempts: int = ...,
        lease_seconds: float = ...,
        holder: str = ...,
    ) -> BeginOutcome:
        """Count one more delivery of `generation` and mark it processing under a lease held by `holder`, unless a
        newer one is registered, it is already done, another delivery holds the lease (BUSY), or it used up
        `max_attempts` (then it is recorded failed: EXHAUSTED). See `gallery.registry_rules.begin_document`."""
        ...

    def renew_lease(self, photo_id: str, generation: int, holder: str, lease_seconds: float) -> bool:
        """Extend `holder`'s lease on `generation` to now + `lease_seconds`; False (nothing written) if the photo
        is no longer processing that generation under that holder. See `registry_rules.renew_lease_document`."""
        ...

    def note_preview(self, photo_id: str, generation: int, holder: str, fields: Mapping[str, Any]) -> bool:
        """Add the paint-first fields to a photo `holder` is still processing; False (nothing written) otherwise.
        See `gallery.registry_rules.preview_document`."""
        ...

    def complete(self, photo_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        """Store the ready document; False (nothing written) if the document is no longer at `generation`."""
        ...

    def fail(self, photo_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        """Store a failed status; False (nothing written) if the document is no longer at `generation`."""
        ...

    def note_retry(self, photo_id: str, generation: int, code: str, reason: str) -> None:
        """Record the last transient error and the attempt count while Pub/Sub retries."""
        ...

    def remove(self, photo_id: str, generation: int, *, live_generation: int | None) -> bool:
        """Delete the document if it is at `generation` or older and its generation is not `live_generation`
        (what Cloud Storage says is live now); True if something was deleted."""
        ...

    def record_dead_letter(
        self, photo_id: str, generation: int, fields: Mapping[str, Any], reason: str, *, live_generation: int | None
    ) -> bool:
        """Record that Pub/Sub gave up on the FINALIZE of `generation` (failed, `dead_lettered`); True if written.
        See `gallery.registry_rules.dead_letter_document`."""
        ...

    def record_optimization(
        self,
        photo_id: str,
        generation: int,
        expected_renditions: Sequence[Mapping[str, Any]],
        fields: Mapping[str, Any],
    ) -> bool:
        """Write the optimize pass's fields only if the photo is still `ready` at `generation` with exactly
        `expected_renditions`; False if it changed meanwhile (see `registry_rules.optimization_document`)."""
        ...

    def record_requeue(self, photo_id: str, generation: int, fields: Mapping[str, Any], reason: str) -> bool:
        """Note that a dead letter of `generation` was re-queued (`dead_letters` + 1); True if written.
        See `gallery.registry_rules.requeued_document`."""
        ...

    def link_live_photo(self, still_id: str, motion_id: str) -> bool:
        """Link a ready still and a ready short video as one Live Photo, in one transaction over both documents;
        False (nothing written) if they may not be linked or already are. See `gallery.live_photo`."""
        ...

    def unlink_live_photo(self, removed_id: str, partner_id: str) -> bool:
        """Undo the link `partner_id` has to the removed part `removed_id`; False if it had none."""
        ...

    def get(self, photo_id: str) -> dict[str, Any] | None:
        """The document as a dict, or None."""
        ...


class NotificationQueue(Protocol):
    """A lane's topic: where the function re-queues a notification (the bulk lane, after a dead letter)."""

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> None:
        """Publish one notification; raises TransientError if it could not be published."""
        ...


class Watch(Protocol):
    """A running change feed; `stop` detaches it."""

    def stop(self) -> None: ...


class PhotoCatalog(Protocol):
    """Read access to the photo documents for the tools and the page (the rules are in gallery.catalog)."""

    def get(self, photo_id: str) -> dict[str, Any] | None:
        """One document, or None."""
        ...

    def get_many(self, photo_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The existing documents among `photo_ids`, by id (read in batches)."""
        ...

    def recent(self, limit: int, status: PhotoStatus | None = None) -> list[dict[str, Any]]:
        """Up to `limit` documents (with one `status`, if given), newest first by `created_at`."""
        ...

    def failures(self, code: str | None = None, limit: int | None = None) -> list[Failure]:
        """Failed photos (with one error code, if given), most recently failed first."""
        ...

    def counts(self) -> dict[PhotoStatus, int]:
        """How many photos have each status."""
        ...

    def optimization_counts(self) -> dict[str, int]:
        """How many photos the optimize pass has pending, done and failed (`catalog.count_optimizations`)."""
        ...

    def media_counts(self) -> dict[str, int]:
        """How many items are videos and how many are Live Photos (`catalog.count_media`)."""
        ...

    def settled_since(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` documents that became ready or failed at or after `since` (by `updated_at`), newest first."""
        ...

    def failure_codes(self) -> dict[str, int]:
        """How many failed photos have each error code."""
        ...

    def watch(self, on_change: Callable[[dict[str, dict[str, Any]]], None]) -> Watch:
        """Call `on_change` with every document, by id, now and whenever any of them changes."""
        ...


class QueueMetrics(Protocol):
    """Backlog figures of Pub/Sub subscriptions: Cloud Monitoring on Google Cloud, the emulator locally."""

    source: str
    """Where the figures come from (``cloud_monitoring``, ``emulator``), as `gallery status` reports it."""

    def figures(self, subscriptions: Sequence[str]) -> dict[str, QueueFigures]:
        """Figures of each subscription (``projects/P/subscriptions/S``), keyed as given; empty figures for one the
        source knows nothing about. Raises TransientError when the source cannot be read."""
        ...
