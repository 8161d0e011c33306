"""The heartbeat of the leases this process holds: one thread renews every running delivery's lease.

A delivery that begins processing a photo takes a short lease on it (`PROCESSING_LEASE_SECONDS`). While the
delivery works (waiting for memory, downloading, rendering, storing) the keeper renews the lease every third of
its length, one small Firestore write per lease per renewal, whatever the number of widths. When the instance
dies the renewals stop, so the lease runs out within one lease period and the notification's redelivery takes the
photo over. A renewal the registry refuses (another delivery took the lease over after it ran out, or the photo
reached its outcome) ends that lease's heartbeat; the delivery's own work is unaffected, since every write it
makes is generation-checked and its renditions are named by generation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from gallery.errors import TransientError

logger = logging.getLogger(__name__)

Renew = Callable[[str, int, str], bool]
"""(photo id, generation, holder) -> whether the registry extended the holder's lease."""

RETRY_SECONDS = 1.0
"""How soon a renewal that failed for a transient reason (Firestore unavailable) is tried again."""


@dataclass
class HeldLease:
    """One delivery's lease, as the keeper tracks it."""

    photo_id: str
    generation: int
    holder: str
    due: float
    """Monotonic time of the next renewal."""
    renewals: int = 0
    lost: bool = False
    """The registry refused a renewal: another delivery holds the photo now, or it reached its outcome."""
    released: threading.Event = field(default_factory=threading.Event)


class LeaseKeeper:
    """Renews the leases of the deliveries running in this process, on one daemon thread started on first use."""

    def __init__(self, renew: Renew, interval_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if interval_seconds <= 0:
            raise ValueError("the renewal interval must be positive")
        self._renew = renew
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._held: dict[str, HeldLease] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> int:
        """Leases being renewed now."""
        with self._changed:
            return len(self._held)

    @contextmanager
    def keep(self, photo_id: str, generation: int, holder: str) -> Iterator[HeldLease]:
        """Renew `holder`'s lease on `generation` for as long as the block runs."""
        lease = HeldLease(photo_id, generation, holder, due=self._clock() + self.interval_seconds)
        with self._changed:
            self._held[holder] = lease
            self._ensure_thread()
            self._changed.notify_all()
        try:
            yield lease
        finally:
            with self._changed:
                self._held.pop(holder, None)
                lease.released.set()
                self._changed.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            for lease in self._wait_for_due():
                self.renew_now(lease)

    def _wait_for_due(self) -> list[HeldLease]:
        """Block until at least one held lease is due; returns the due ones."""
        with self._changed:
            while True:
                now = self._clock()
                due = [lease for lease in self._held.values() if lease.due <= now and not lease.lost]
                if due:
                    return due
                pending = [lease.due for lease in self._held.values() if not lease.lost]
                self._changed.wait(timeout=(min(pending) - now) if pending else None)

    def renew_now(self, lease: HeldLease) -> None:
        """Renew one lease and schedule its next renewal (the loop calls this; tests may too)."""
        if lease.released.is_set():
            return
        try:
            renewed = self._renew(lease.photo_id, lease.generation, lease.holder)
        except TransientError as err:
            logger.warning(
                "lease renewal failed, retrying in %.0f s: %s",
                RETRY_SECONDS,
                err,
                extra={"json_fields": {"photo_id": lease.photo_id, "generation": lease.generation}},
            )
            lease.due = self._clock() + RETRY_SECONDS
            return
        except Exception:  # never let one renewal stop the heartbeat of the others
            logger.exception("lease renewal failed", extra={"json_fields": {"photo_id": lease.photo_id}})
            lease.due = self._clock() + RETRY_SECONDS
            return
        if renewed:
            lease.renewals += 1
            lease.due = self._clock() + self.interval_seconds
            return
        lease.lost = True
        if not lease.released.is_set():
            logger.info(
                "lease no longer ours (taken over or settled); its renewals stop",
                extra={"json_fields": {"photo_id": lease.photo_id, "generation": lease.generation}},
            )
