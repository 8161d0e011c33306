"""Where a streaming backfill stands: a contiguous watermark over the listed objects, and its counters.

Cloud Storage lists a bucket in lexicographic order of object names. A backfill classifies each listed object and
publishes a notification for each pending one, several at once, so publishes are confirmed out of order. The
watermark `after` is the last name such that every object listed up to and including it was classified and, if it
was pending, its publish was confirmed. Everything at or before `after` is finished; everything after it is
listed again by the next run (`Cloud Storage start_offset = after`, the object equal to `after` skipped).

A publish that failed holds the watermark where it is (the failed object and everything after it stay for the
next run). The counters that go with the watermark (`committed`) count exactly the objects at or before it, so a
resumed run adds to them without counting anything twice.

Pure logic, no I/O and no locking: the caller serializes access.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """Objects found (classified), by state, and notifications queued (publishes confirmed)."""

    found: int = 0
    queued: int = 0
    states: Counter[str] = field(default_factory=Counter)

    def copy(self) -> Tally:
        return Tally(self.found, self.queued, Counter(self.states))

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.found + other.found, self.queued + other.queued, self.states + other.states)

    def __sub__(self, other: Tally) -> Tally:
        states = Counter({k: v - other.states[k] for k, v in self.states.items() if v - other.states[k] > 0})
        return Tally(self.found - other.found, self.queued - other.queued, states)

    def as_dict(self) -> dict[str, Any]:
        return {"found": self.found, "queued": self.queued, "states": {k: v for k, v in self.states.items() if v}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Tally:
        data = data or {}
        states = Counter({str(k): int(v) for k, v in (data.get("states") or {}).items() if int(v) > 0})
        return cls(int(data.get("found") or 0), int(data.get("queued") or 0), states)


class Mark(enum.Enum):
    SKIPPED = "skipped"
    """Classified, nothing to publish."""
    WAITING = "waiting"
    """Its publish is in flight."""
    QUEUED = "queued"
    """Its publish was confirmed."""
    FAILED = "failed"
    """Its publish (or what had to precede it) failed: the watermark stops before it."""


@dataclass
class _Entry:
    name: str
    state: str
    mark: Mark


class Cursor:
    """The watermark over objects added in listing order, advanced as their publishes are confirmed.

    `add` each listed object in order (`pending=True` when a notification will be published for it) and get its
    ticket; `confirm` or `fail` each pending ticket once its publish settles. Only the objects after the
    watermark are held, so memory is bounded by what is in flight, not by the bucket.
    """

    def __init__(self, after: str | None = None, committed: Tally | None = None) -> None:
        self.after = after
        self.committed = committed.copy() if committed else Tally()
        self._open: deque[_Entry] = deque()
        self._first = 0  # ticket of self._open[0]

    def add(self, name: str, state: str, *, pending: bool) -> int:
        last = self._open[-1].name if self._open else self.after
        if last is not None and name <= last:
            raise ValueError(f"{name!r} is not after {last!r}: objects are added in listing order")
        self._open.append(_Entry(name, state, Mark.WAITING if pending else Mark.SKIPPED))
        ticket = self._first + len(self._open) - 1
        self._advance()
        return ticket

    def confirm(self, ticket: int) -> None:
        self._settle(ticket, Mark.QUEUED)

    def fail(self, ticket: int) -> None:
        self._settle(ticket, Mark.FAILED)

    def _settle(self, ticket: int, mark: Mark) -> None:
        index = ticket - self._first
        if index < 0 or index >= len(self._open) or self._open[index].mark is not Mark.WAITING:
            raise ValueError(f"ticket {ticket} is not waiting for its publish")
        self._open[index].mark = mark
        self._advance()

    def _advance(self) -> None:
        while self._open and self._open[0].mark in (Mark.SKIPPED, Mark.QUEUED):
            entry = self._open.popleft()
            self._first += 1
            self.after = entry.name
            self.committed.found += 1
            self.committed.states[entry.state] += 1
            if entry.mark is Mark.QUEUED:
                self.committed.queued += 1

    @property
    def open(self) -> int:
        """Objects after the watermark: publishes in flight, a failed one and what was added after it."""
        return len(self._open)

    @property
    def waiting(self) -> int:
        return sum(1 for e in self._open if e.mark is Mark.WAITING)

    @property
    def blocked(self) -> bool:
        """Whether a failed publish holds the watermark."""
        return any(e.mark is Mark.FAILED for e in self._open)

    def totals(self) -> Tally:
        """Everything classified so far: the committed counters plus the objects after the watermark."""
        total = self.committed.copy()
        for entry in self._open:
            total.found += 1
            total.states[entry.state] += 1
            if entry.mark is Mark.QUEUED:
                total.queued += 1
        return total


def after_watermark(name: str, after: str | None) -> bool:
    """Whether a listed object is still to do: Cloud Storage's ``start_offset`` is inclusive, so a listing that
    resumes at `after` starts with `after` itself, which is finished."""
    return after is None or name > after


@dataclass(frozen=True)
class CheckpointKey:
    """What makes two runs the same backfill: the same objects, classified the same way, sent to the same topic."""

    bucket: str
    prefix: str
    topic: str
    spec_version: str
    optimize_version: str | None
    force: bool
    start_offset: str | None = None
    end_offset: str | None = None

    @property
    def id(self) -> str:
        """The checkpoint's document id: a hash of the key (names may hold any character; ids may not)."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:40]

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "topic": self.topic,
            "spec_version": self.spec_version,
            "optimize_version": self.optimize_version,
            "force": self.force,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
        }


__all__ = ["CheckpointKey", "Cursor", "Mark", "Tally", "after_watermark"]
