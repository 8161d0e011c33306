"""Listing the uploads bucket page by page and classifying each page against the photo documents.

`scan_pages` yields one list of `Candidate` per listed page, in listing order (lexicographic by name): every
object of the page with its state (gallery_cli.status.classify), so the caller can count them and advance its
watermark over them; `Scan.wants` says which ones get a notification. Only one page is held at a time;
`prefetched` lists and classifies the next page on a thread of its own while the caller publishes this one.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from gallery.ids import photo_id
from gallery.model import OPTIMIZE_TASK
from gallery.optimize_plan import OptimizeDecision, optimize_decision
from gallery.ports import PhotoCatalog
from gallery_cli.backfill_cursor import after_watermark
from gallery_cli.status import FORCED_STATES, OPTIMIZE_STATES, PENDING_STATES, State, classify

logger = logging.getLogger(__name__)

SCAN_PAGE = 500
"""Objects per listing page (and per batch of document reads)."""

T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    name: str
    generation: int
    photo_id: str
    state: State
    resource: dict[str, Any] = field(repr=False, compare=False)
    """The object resource a notification carries (empty for an object nothing is published for)."""

    @property
    def task(self) -> str | None:
        """The follow-up task its message asks for (the optimize task of an unoptimized photo), or None."""
        return OPTIMIZE_TASK if self.state in OPTIMIZE_STATES else None


def _resource(blob: Any) -> dict[str, Any]:
    props = getattr(blob, "_properties", None)
    if isinstance(props, dict) and props.get("generation"):
        return dict(props)
    return {
        "kind": "storage#object",
        "bucket": blob.bucket.name,
        "name": blob.name,
        "generation": str(blob.generation),
        "contentType": blob.content_type,
        "size": str(blob.size),
        "metadata": dict(getattr(blob, "metadata", None) or {}),  # presets may be chosen by custom metadata
    }


@dataclass(frozen=True)
class Scan:
    """What to list and how to classify it."""

    bucket: str
    spec_version: str
    stale_after_seconds: float
    max_attempts: int
    prefix: str = ""
    force: bool = False
    optimize_version: str | None = None
    start_offset: str | None = None
    """First name listed (inclusive), as Cloud Storage's ``startOffset``."""
    end_offset: str | None = None
    """Names listed stop before this one (exclusive), as Cloud Storage's ``endOffset``."""
    page_size: int = SCAN_PAGE

    @property
    def wanted(self) -> frozenset[State]:
        wanted = PENDING_STATES | FORCED_STATES if self.force else PENDING_STATES
        return wanted | OPTIMIZE_STATES if self.optimize_version is not None else wanted

    def wants(self, candidate: Candidate) -> bool:
        return candidate.state in self.wanted

    def _unoptimized(self, doc: dict[str, Any] | None, generation: int) -> bool:
        version = self.optimize_version
        return version is not None and optimize_decision(doc, generation, version) is OptimizeDecision.PROCEED

    def classify_page(self, blobs: list[Any], catalog: PhotoCatalog, now: datetime) -> list[Candidate]:
        ids = [photo_id(self.bucket, b.name) for b in blobs]
        docs = catalog.get_many(ids)
        wanted = self.wanted
        page: list[Candidate] = []
        for blob, pid in zip(blobs, ids, strict=True):
            generation = int(blob.generation)
            doc = docs.get(pid)
            state = classify(
                doc,
                generation,
                self.spec_version,
                now=now,
                stale_after_seconds=self.stale_after_seconds,
                max_attempts=self.max_attempts,
            )
            optimize = self.optimize_version
            if (
                state == "done"
                and optimize
                and optimize_decision(doc, generation, optimize) is OptimizeDecision.PROCEED
            ):
                state = "unoptimized"
            page.append(Candidate(blob.name, generation, pid, state, _resource(blob) if state in wanted else {}))
        return page


def scan_pages(
    storage: Any, catalog: PhotoCatalog, scan: Scan, *, after: str | None = None
) -> Iterator[list[Candidate]]:
    """Every listed page of the bucket under `scan` (names after `after` only), classified, in listing order."""
    start = max(filter(None, (scan.start_offset, after)), default=None)
    blobs = storage.list_blobs(
        scan.bucket,
        prefix=scan.prefix or None,
        start_offset=start,
        end_offset=scan.end_offset or None,
        page_size=scan.page_size,
    )
    for page in blobs.pages:
        listed = [b for b in page if b.generation is not None and after_watermark(b.name, after)]
        if listed:
            yield scan.classify_page(listed, catalog, datetime.now(UTC))


class Prefetched(Iterator[T]):
    """Iterates `source` on a thread of its own, at most `ahead` items ahead of the consumer; exceptions of the
    source are raised to the consumer. `close` stops it after the item it is producing; so does `stop`, which also
    ends a consumer's wait for the next item (a listing that hangs does not hold a stopping run)."""

    _END = object()

    def __init__(self, source: Iterable[T], ahead: int = 1, stop: threading.Event | None = None) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._closed = threading.Event()
        self._stop = stop
        self._source = source
        self._thread = threading.Thread(target=self._produce, name="backfill-scan", daemon=True)
        self._thread.start()

    def _stopped(self) -> bool:
        return self._closed.is_set() or (self._stop is not None and self._stop.is_set())

    def _put(self, item: Any) -> bool:
        while not self._stopped():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as exc:
            self._put(exc)
            return
        self._put(self._END)

    def __next__(self) -> T:
        while True:
            if self._stopped():
                self._closed.set()
                raise StopIteration
            try:
                item = self._queue.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        if item is self._END:
            self._closed.set()
            raise StopIteration
        if isinstance(item, BaseException):
            self._closed.set()
            raise item
        value: T = item
        return value

    def close(self) -> None:
        self._closed.set()


def prefetched(source: Iterable[T], ahead: int = 1, stop: threading.Event | None = None) -> Prefetched[T]:
    return Prefetched(source, ahead, stop)


__all__ = ["SCAN_PAGE", "Candidate", "Prefetched", "Scan", "prefetched", "scan_pages"]
