"""Publishing finalize notifications: paced by a rate, a bounded number in flight, each outcome reported once.

`Publisher` is the streaming form `gallery backfill` uses (nothing kept per message once it settles);
`publish_all` / `publish_with_progress` publish a list and collect the outcome (`gallery import`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gallery.events import finalize_notification
from gallery.model import TASK_ATTRIBUTE
from gallery_cli.backfill_scan import Candidate
from gallery_cli.base import progress
from gallery_cli.lanes import Lane

logger = logging.getLogger(__name__)

SETTLE_SECONDS = 120.0
"""How long the publishes still in flight may take to settle once no more are started."""

Settled = Callable[[BaseException | None], None]


class RateLimiter:
    """Paces calls to at most `rate` per second (no bursts); `rate` <= 0 means unlimited."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._next = clock()

    def delay(self) -> float:
        """Seconds to wait before the next call is allowed, reserving its slot."""
        now = self._clock()
        wait = max(0.0, self._next - now)
        self._next = max(self._next, now) + self._interval
        return wait

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Wait for the next slot; False if `stop` was set meanwhile."""
        pause = self.delay()
        if stop is None:
            if pause > 0:
                time.sleep(pause)
            return True
        return not stop.wait(pause) if pause > 0 else not stop.is_set()


class Publisher:
    """Publishes one notification per candidate to `topic`, at most `rate` per second and `concurrency` in flight.

    `reserve` waits for the rate and a free slot (False once `stop` is set); `send` then publishes and calls
    `settled(None)` or `settled(exception)` exactly once, from the client's thread. `drain` waits until every
    publish has settled.
    """

    def __init__(
        self,
        client: Any,
        topic: str,
        *,
        lane: Lane,
        rate: float,
        concurrency: int,
        stop: threading.Event | None = None,
    ) -> None:
        self._client = client
        self._topic = topic
        self._lane = lane
        self._limiter = RateLimiter(rate)
        self._stop = stop or threading.Event()
        self._cond = threading.Condition()
        self._concurrency = concurrency
        self._in_flight = 0
        self._reserved = False

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def reserve(self) -> bool:
        if not self._limiter.wait(self._stop):
            return False
        with self._cond:
            while self._in_flight >= self._concurrency:
                if self._stop.is_set():
                    return False
                self._cond.wait(timeout=0.2)
            if self._stop.is_set():
                return False
            self._in_flight += 1
            self._reserved = True
        return True

    def _release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def send(self, candidate: Candidate, settled: Settled) -> None:
        """Publish `candidate`'s notification in the slot `reserve` took."""
        if not self._reserved:
            raise RuntimeError("send without a reserved slot")
        self._reserved = False
        task = {TASK_ATTRIBUTE: candidate.task} if candidate.task else {}
        try:
            data, attributes = finalize_notification(candidate.resource, self._lane, **task)
            future = self._client.publish(self._topic, data, **attributes)
        except Exception as exc:
            self._release()
            settled(exc)
            return

        def done(fut: Any) -> None:
            try:
                fut.result()
            except Exception as exc:
                outcome: BaseException | None = exc
            else:
                outcome = None
            try:
                settled(outcome)
            finally:
                self._release()

        future.add_done_callback(done)

    def drain(self, timeout: float = SETTLE_SECONDS) -> bool:
        """Wait until no publish is in flight; False if some are still after `timeout` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout=timeout)


@dataclass
class PublishResult:
    queued: list[Candidate] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def publish_all(
    publisher: Any,
    topic: str,
    candidates: list[Candidate],
    *,
    lane: Lane,
    rate: float,
    concurrency: int,
    on_done: Callable[[], None] = lambda: None,
) -> PublishResult:
    """Publish one finalize notification per candidate, paced by `rate` with at most `concurrency` in flight."""
    sender = Publisher(publisher, topic, lane=lane, rate=rate, concurrency=concurrency)
    lock = threading.Lock()
    result = PublishResult()
    for candidate in candidates:
        sender.reserve()

        def settled(exc: BaseException | None, candidate: Candidate = candidate) -> None:
            with lock:
                if exc is None:
                    result.queued.append(candidate)
                else:
                    result.errors[candidate.name] = describe(exc)
            on_done()

        sender.send(candidate, settled)
    if not sender.drain():
        with lock:
            done = {c.name for c in result.queued} | set(result.errors)
            for candidate in candidates:
                if candidate.name not in done:
                    result.errors[candidate.name] = f"not confirmed within {SETTLE_SECONDS:.0f}s"
    return result


def publisher_client(concurrency: int) -> Any:
    """A Pub/Sub publisher whose batches go out as soon as `concurrency` messages wait: with at most that many in
    flight no more can come, so waiting for the batch timer would only slow publishing down."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    return pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(max_messages=min(concurrency, 100)))


def publish_with_progress(
    target: str, lane: Lane, todo: list[Candidate], rate: float, concurrency: int, before: PublishResult
) -> PublishResult:
    """Publish `todo` to `target` (marked as queued on `lane`) with a progress bar; errors already in `before`
    are kept."""
    client = publisher_client(concurrency)
    try:
        with progress() as bar:
            task = bar.add_task("queueing", total=len(todo))
            result = publish_all(
                client, target, todo, lane=lane, rate=rate, concurrency=concurrency, on_done=lambda: bar.advance(task)
            )
            result.errors = {**before.errors, **result.errors}
            return result
    finally:
        client.stop()


__all__ = ["PublishResult", "Publisher", "RateLimiter", "publish_all", "publish_with_progress", "publisher_client"]
