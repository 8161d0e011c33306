"""One streaming backfill run: classify page after page, publish each page's pending objects, move on.

Nothing proportional to the bucket is kept: the counters, the objects after the watermark (what is in flight,
bounded by the publisher's concurrency and a page or two), the first `ITEMS_CAP` queued items for the report, and,
only with ``--wait``, every queued photo (so `--wait` is for small runs).

The run stops taking new objects when it is told to (`Stop`: a signal, ``--limit``, an error); then the publishes
in flight settle, and the checkpoint gets the last contiguous watermark.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from types import FrameType
from typing import Literal

from gallery_cli.backfill_checkpoint import CheckpointWriter
from gallery_cli.backfill_cursor import Cursor, Tally
from gallery_cli.backfill_publish import Publisher, describe
from gallery_cli.backfill_scan import Candidate, Scan
from gallery_cli.status import FORCED_STATES, Pending

logger = logging.getLogger(__name__)

ITEMS_CAP = 1000
"""Queued (or, in a dry run, to-be-queued) items listed in the report; the rest are only counted."""

StopReason = Literal["limit", "signal", "error"]


class Stop:
    """Why a run stops taking new objects; the first reason given wins."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason: StopReason | None = None
        self.signal: int | None = None
        self.detail: str | None = None
        self._lock = threading.RLock()  # a signal handler may call `request` while the main thread is inside it

    def request(self, reason: StopReason, *, signum: int | None = None, detail: str | None = None) -> None:
        with self._lock:
            if self.reason is None:
                self.reason, self.signal, self.detail = reason, signum, detail
                logger.info("backfill stopping: %s%s", reason, f" ({detail})" if detail else "")
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.signal).name if self.signal else None


@contextmanager
def stop_on_signals(stop: Stop, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM ask `stop` to stop the run; a second one ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if received:  # the second one: no more waiting
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)
        stop.request("signal", signum=signum, detail=signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@dataclass
class Outcome:
    """What a run did, with the counters over every run of this backfill (`totals`) and this run's share."""

    totals: Tally
    before: Tally
    resumed_after: str | None
    after: str | None
    items: list[Candidate] = field(default_factory=list)
    items_more: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    stopped: StopReason | None = None
    signal: str | None = None
    detail: str | None = None
    complete: bool = False

    @property
    def this_run(self) -> Tally:
        return self.totals - self.before


class StreamingRun:
    """Feeds listed pages through a `Cursor` and a `Publisher`; see the module docstring."""

    def __init__(
        self,
        scan: Scan,
        cursor: Cursor,
        publisher: Publisher,
        stop: Stop,
        *,
        limit: int | None = None,
        reset: Callable[[Candidate], bool] | None = None,
        keep_pending: bool = False,
        items_cap: int = ITEMS_CAP,
        on_page: Callable[[int], None] = lambda _n: None,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._scan = scan
        self._cursor = cursor
        self._before = cursor.committed.copy()
        self._resumed_after = cursor.after
        self._publisher = publisher
        self._stop = stop
        self._limit = limit
        self._reset = reset
        self._keep_pending = keep_pending
        self._items_cap = items_cap
        self._on_page = on_page
        self._on_queued = on_queued
        self._lock = threading.Lock()
        self._items: list[Candidate] = []
        self._items_more = 0
        self._errors: dict[str, str] = {}
        self._pending: list[Pending] = []
        self._exhausted = False
        self._started = 0

    def snapshot(self) -> tuple[str | None, Tally]:
        """The watermark and its counters, for the checkpoint."""
        with self._lock:
            return self._cursor.after, self._cursor.committed.copy()

    def run(self, pages: Iterable[list[Candidate]], checkpoint: CheckpointWriter | None = None) -> Outcome:
        try:
            self._feed(pages, checkpoint)
        except Exception as exc:  # listing or reading the documents failed
            logger.info("backfill scan failed: %s", exc, exc_info=True)
            self._stop.request("error", detail=f"could not list or classify: {describe(exc)}")
        finally:
            close = getattr(pages, "close", None)
            if callable(close):
                close()
        if not self._publisher.drain():
            self._stop.request("error", detail="some publishes were not confirmed in time")
        return self.outcome()

    def _feed(self, pages: Iterable[list[Candidate]], checkpoint: CheckpointWriter | None) -> None:
        for page in pages:
            taken = self._take(page, checkpoint)
            self._on_page(taken)
            if taken < len(page):
                return
            if checkpoint is not None:
                checkpoint.request()
        self._exhausted = not self._stop.requested  # the listing ended, rather than a stop ending its wait

    def _take(self, page: list[Candidate], checkpoint: CheckpointWriter | None) -> int:
        """Add the page's objects to the cursor and publish the pending ones, until told to stop; returns how many
        objects of the page were taken."""
        for taken, candidate in enumerate(page):
            if checkpoint is not None and checkpoint.error is not None:
                self._stop.request("error", detail=f"could not write the checkpoint: {checkpoint.error}")
            if self._stop.requested:
                return taken
            if not self._scan.wants(candidate):
                with self._lock:
                    self._cursor.add(candidate.name, candidate.state, pending=False)
                continue
            if self._limit is not None and self._started >= self._limit:
                self._stop.request("limit")
                return taken
            if not self._prepare(candidate) or not self._publisher.reserve():
                return taken
            with self._lock:
                ticket = self._cursor.add(candidate.name, candidate.state, pending=True)
            self._started += 1
            self._publisher.send(candidate, partial(self._settled, ticket, candidate))
        return len(page)

    def _prepare(self, candidate: Candidate) -> bool:
        """--force: restart the delivery count of a photo past its cap before its notification goes out."""
        if self._reset is None or candidate.state not in FORCED_STATES:
            return True
        try:
            if self._reset(candidate):
                return True
            reason = "the document changed meanwhile; run again"
        except Exception as exc:
            reason = f"could not restart its delivery count: {describe(exc)}"
        with self._lock:
            self._cursor.fail(self._cursor.add(candidate.name, candidate.state, pending=True))
            self._errors[candidate.name] = reason
        self._stop.request("error", detail=reason)
        return False

    def _settled(self, ticket: int, candidate: Candidate, exc: BaseException | None) -> None:
        with self._lock:
            if exc is None:
                self._cursor.confirm(ticket)
                if len(self._items) < self._items_cap:
                    self._items.append(candidate)
                else:
                    self._items_more += 1
                if self._keep_pending:
                    self._pending.append(Pending(candidate.photo_id, candidate.generation, candidate.name))
            else:
                self._cursor.fail(ticket)
                self._errors[candidate.name] = describe(exc)
        if exc is not None:
            self._stop.request("error", detail=f"could not publish: {describe(exc)}")
        else:
            self._on_queued()

    def outcome(self) -> Outcome:
        with self._lock:
            complete = self._exhausted and self._cursor.open == 0  # every listed object finished
            return Outcome(
                totals=self._cursor.totals(),
                before=self._before,
                resumed_after=self._resumed_after,
                after=self._cursor.after,
                items=sorted(self._items, key=lambda c: c.name),
                items_more=self._items_more,
                errors=dict(self._errors),
                pending=list(self._pending),
                stopped=None if complete else self._stop.reason,
                signal=None if complete else self._stop.signal_name,
                detail=None if complete else self._stop.detail,
                complete=complete,
            )


@dataclass
class DryRun:
    """What a dry run found: every object classified, the first `limit` pending ones as would-be queued."""

    totals: Tally = field(default_factory=Tally)
    would_queue: int = 0
    left_for_next_run: int = 0
    items: list[Candidate] = field(default_factory=list)
    items_more: int = 0


def dry_run(
    pages: Iterable[list[Candidate]],
    scan: Scan,
    *,
    limit: int | None = None,
    items_cap: int = ITEMS_CAP,
    on_page: Callable[[int], None] = lambda _n: None,
) -> DryRun:
    result = DryRun()
    for page in pages:
        for candidate in page:
            result.totals.found += 1
            result.totals.states[candidate.state] += 1
            if not scan.wants(candidate):
                continue
            if limit is not None and result.would_queue >= limit:
                result.left_for_next_run += 1
                continue
            result.would_queue += 1
            if len(result.items) < items_cap:
                result.items.append(candidate)
            else:
                result.items_more += 1
        on_page(len(page))
    return result


__all__ = ["ITEMS_CAP", "DryRun", "Outcome", "Stop", "StreamingRun", "dry_run", "stop_on_signals"]
