"""In-memory implementations of the ports, with the same generation rules as the real adapters."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gallery.catalog import (
    Failure,
    count_media,
    count_optimizations,
    count_statuses,
    failure_codes,
    failures,
    has_status,
    newest_first,
    settled_since,
)
from gallery.errors import LimitExceededError, SourceGoneError, TransientError
from gallery.live_photo import linked_documents, unlinked_document
from gallery.model import LANE_METADATA_KEY, BeginOutcome, LiveObject, PhotoStatus
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
    update_if_current,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeSources:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.object_metadata: dict[tuple[str, str], dict[str, str]] = {}
        self.metadata_reads = 0
        self.fail_next: list[Exception] = []
        self.fail_stat: list[Exception] = []
        self.downloads = 0
        self.stats = 0

    def put(self, bucket: str, name: str, generation: int, data: bytes) -> None:
        self.objects[(bucket, name)] = (generation, data)

    def delete(self, bucket: str, name: str) -> None:
        self.objects.pop((bucket, name), None)

    def live_object(self, bucket: str, name: str) -> LiveObject | None:
        self.stats += 1
        if self.fail_stat:
            raise self.fail_stat.pop(0)
        current = self.objects.get((bucket, name))
        if current is None:
            return None
        lane = self.object_metadata.get((bucket, name), {}).get(LANE_METADATA_KEY)
        return LiveObject(current[0], len(current[1]), "application/octet-stream", lane)

    def download(self, bucket: str, name: str, generation: int, max_bytes: int) -> bytes:
        self.downloads += 1
        if self.fail_next:
            raise self.fail_next.pop(0)
        current = self.objects.get((bucket, name))
        if current is None or current[0] != generation:
            raise SourceGoneError(f"{bucket}/{name}#{generation} is gone")
        if len(current[1]) > max_bytes:
            raise LimitExceededError("too large", code="too_large")
        return current[1]

    def list_names(self, bucket: str, prefix: str, limit: int = 20) -> list[str]:
        return sorted(n for (b, n) in self.objects if b == bucket and n.startswith(prefix))[:limit]

    def metadata(self, bucket: str, name: str, generation: int) -> dict[str, str]:
        self.metadata_reads += 1
        current = self.objects.get((bucket, name))
        if current is None or current[0] != generation:
            raise SourceGoneError(f"{bucket}/{name}#{generation} is gone")
        return dict(self.object_metadata.get((bucket, name), {}))


class FakeRenditions:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.superseded: dict[str, datetime] = {}
        self.fail_puts = 0
        self.puts: list[str] = []

    def put(self, name: str, data: bytes, content_type: str) -> None:
        if self.fail_puts:
            self.fail_puts -= 1
            raise TransientError("storage unavailable", code="dependency_unavailable")
        self.objects[name] = (data, content_type)
        self.puts.append(name)

    def delete_prefix(self, prefix: str) -> int:
        names = [n for n in self.objects if n.startswith(prefix)]
        for n in names:
            del self.objects[n]
        return len(names)

    def list_generations(self, photo_id: str) -> set[int]:
        return {int(n.split("/")[1]) for n in self.objects if n.startswith(f"{photo_id}/")}

    def mark_superseded(self, names: Sequence[str]) -> None:
        for name in names:
            if name in self.objects:
                self.superseded.setdefault(name, NOW)


class FakeRegistry:
    """Applies the same `gallery.registry_rules` as the Firestore adapter, on a dict."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.now = NOW
        """The registry's clock; tests move it on to let leases run out."""
        self.renewals = 0

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
        outcome, new = begin_document(
            self.docs.get(photo_id),
            generation,
            copy.deepcopy(dict(fields)),
            spec_version,
            self.now,
            max_attempts=max_attempts,
            lease_seconds=lease_seconds,
            holder=holder,
        )
        if new is not None:
            self.docs[photo_id] = new
        return outcome

    def renew_lease(self, photo_id: str, generation: int, holder: str, lease_seconds: float) -> bool:
        self.renewals += 1
        new = renew_lease_document(self.docs.get(photo_id), generation, holder, self.now, lease_seconds)
        if new is not None:
            self.docs[photo_id] = new
        return new is not None

    def note_preview(self, photo_id: str, generation: int, holder: str, fields: Mapping[str, Any]) -> bool:
        new = preview_document(self.docs.get(photo_id), generation, holder, copy.deepcopy(dict(fields)))
        if new is not None:
            self.docs[photo_id] = new
        return new is not None

    def record_optimization(
        self,
        photo_id: str,
        generation: int,
        expected_renditions: Sequence[Mapping[str, Any]],
        fields: Mapping[str, Any],
    ) -> bool:
        new = optimization_document(
            self.docs.get(photo_id), generation, expected_renditions, copy.deepcopy(dict(fields)), self.now
        )
        if new is not None:
            self.docs[photo_id] = new
        return new is not None

    def record_requeue(self, photo_id: str, generation: int, fields: Mapping[str, Any], reason: str) -> bool:
        new = requeued_document(self.docs.get(photo_id), generation, copy.deepcopy(dict(fields)), reason, self.now)
        if new is not None:
            self.docs[photo_id] = new
        return new is not None

    def _update(self, photo_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        new = update_if_current(self.docs.get(photo_id), generation, copy.deepcopy(dict(fields)), self.now)
        if new is not None:
            self.docs[photo_id] = new
        return new is not None

    def complete(self, photo_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        return self._update(
            photo_id, generation, {**fields, **RELEASED, "status": PhotoStatus.READY.value, "error": None}
        )

    def fail(self, photo_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        return self._update(photo_id, generation, {**fields, **RELEASED, "status": PhotoStatus.FAILED.value})

    def note_retry(self, photo_id: str, generation: int, code: str, reason: str) -> None:
        self._update(photo_id, generation, {**RELEASED, "last_error": {"code": code, "reason": reason}})

    def remove(self, photo_id: str, generation: int, *, live_generation: int | None) -> bool:
        if not may_deregister(self.docs.get(photo_id), generation, live_generation):
            return False
        del self.docs[photo_id]
        return True

    def record_dead_letter(
        self, photo_id: str, generation: int, fields: Mapping[str, Any], reason: str, *, live_generation: int | None
    ) -> bool:
        new = dead_letter_document(
            self.docs.get(photo_id),
            generation,
            copy.deepcopy(dict(fields)),
            reason,
            self.now,
            live_generation=live_generation,
        )
        if new is not None:
            self.docs[photo_id] = new
        return new is not None

    def link_live_photo(self, still_id: str, motion_id: str) -> bool:
        linked = linked_documents(self.docs.get(still_id), self.docs.get(motion_id), still_id, motion_id)
        if linked is None:
            return False
        self.docs[still_id], self.docs[motion_id] = copy.deepcopy(linked[0]), copy.deepcopy(linked[1])
        return True

    def unlink_live_photo(self, removed_id: str, partner_id: str) -> bool:
        new = unlinked_document(self.docs.get(partner_id), removed_id)
        if new is not None:
            self.docs[partner_id] = copy.deepcopy(new)
        return new is not None

    def get(self, photo_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.docs.get(photo_id))


class FakeQueue:
    """A lane's topic: the notifications the function re-queued on it."""

    def __init__(self) -> None:
        self.published: list[tuple[bytes, dict[str, str]]] = []
        self.fail_with: Exception | None = None

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append((data, dict(attributes)))


class FakeEvents:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.fail_next = 0

    def publish(self, event_type: str, attributes: Mapping[str, str], payload: Mapping[str, Any]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("pubsub unavailable", code="dependency_unavailable")
        self.published.append((event_type, dict(attributes), dict(payload)))


class FakeCatalog:
    """Implements `gallery.ports.PhotoCatalog` on a dict, with the same `gallery.catalog` rules as Firestore's."""

    def __init__(self, docs: dict[str, dict[str, Any]] | None = None) -> None:
        self.docs = docs if docs is not None else {}
        self._watchers: list[Callable[[dict[str, dict[str, Any]]], None]] = []

    def get(self, photo_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.docs.get(photo_id))

    def get_many(self, photo_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {pid: copy.deepcopy(self.docs[pid]) for pid in photo_ids if pid in self.docs}

    def recent(self, limit: int, status: PhotoStatus | None = None) -> list[dict[str, Any]]:
        chosen = [{"photo_id": pid, **doc} for pid, doc in self.docs.items() if has_status(doc, status)]
        return [dict(doc) for doc in newest_first(chosen)[:limit]]

    def failures(self, code: str | None = None, limit: int | None = None) -> list[Failure]:
        return failures(self.docs.values(), code, limit)

    def counts(self) -> dict[PhotoStatus, int]:
        return count_statuses(self.docs.values())

    def optimization_counts(self) -> dict[str, int]:
        return count_optimizations(self.docs.values())

    def media_counts(self) -> dict[str, int]:
        return count_media(self.docs.values())

    def settled_since(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        docs = [{"photo_id": pid, **doc} for pid, doc in self.docs.items()]
        return [dict(doc) for doc in settled_since(docs, since, limit)]

    def failure_codes(self) -> dict[str, int]:
        return failure_codes(self.docs.values())

    def watch(self, on_change: Callable[[dict[str, dict[str, Any]]], None]) -> FakeWatch:
        self._watchers.append(on_change)
        on_change(copy.deepcopy(self.docs))
        return FakeWatch(lambda: self._watchers.remove(on_change))

    def changed(self) -> None:
        """Tell the watchers the documents changed (Firestore's listener does this by itself)."""
        for on_change in list(self._watchers):
            on_change(copy.deepcopy(self.docs))


class FakeWatch:
    def __init__(self, stop: Callable[[], None]) -> None:
        self.stop = stop
