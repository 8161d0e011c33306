"""The checkpoint of a backfill: who runs it, how far it got, and when another run may take it over or resume it.

One document per backfill (`CheckpointKey.id`, backfill_cursor) in its own collection (`backfills`):

- ``key``: what the backfill is (bucket, prefix, topic, spec and optimize versions, ``--force``, offsets);
- ``after``: the watermark (backfill_cursor): every object listed up to it is finished; None: nothing yet;
- ``counters``: found / queued / states of the objects up to ``after``, over every run of this backfill;
- ``status``: ``running`` (a holder is at work), ``stopped`` (incomplete, free to resume) or ``done``;
- ``holder``: the run holding it (a random id, host, pid, boot id and process start time); ``started_at``,
  ``updated_at`` (written at least every `HEARTBEAT_SECONDS` while it runs), ``finished_at``, ``runs``.

A run refuses to start while another holder has updated the checkpoint within `BUSY_SECONDS`, whatever the
options: two runs of one backfill would publish the same objects twice. The one exception is a holder provably
gone: a process of this same machine (same host name and boot id) that no longer exists, as after a SIGKILL.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from gallery_cli.backfill_cursor import CheckpointKey, Tally

logger = logging.getLogger(__name__)

BUSY_SECONDS = 120.0
"""A running checkpoint updated this recently belongs to a live run."""
HEARTBEAT_SECONDS = 15.0
"""A run writes its checkpoint at least this often, progress or not."""
FLUSH_SECONDS = 1.0
"""...and at most about this often (Firestore sustains about one write per second on one document)."""

Status = Literal["running", "stopped", "done"]


class CheckpointStore(Protocol):
    """Checkpoint documents by id: a read, and a read-modify-write in one transaction."""

    def get(self, checkpoint_id: str) -> dict[str, Any] | None: ...

    def update(
        self, checkpoint_id: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Write `change(current)` unless it is None; returns what was written (or None)."""
        ...


@dataclass(frozen=True)
class Holder:
    """One run of the command, as recorded in the checkpoint it holds."""

    id: str
    host: str
    pid: int
    boot_id: str | None = None
    started: int | None = None
    """The process's start time in clock ticks since boot (/proc/PID/stat), to tell a reused pid."""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": self.pid, "boot_id": self.boot_id, "started": self.started}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Holder | None:
        if not data or not data.get("id"):
            return None
        started = data.get("started")
        return cls(
            str(data["id"]),
            str(data.get("host") or ""),
            int(data.get("pid") or 0),
            data.get("boot_id") or None,
            int(started) if started is not None else None,
        )

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host or '?'}"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def _process_start(pid: int) -> int | None:
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after "pid (comm)"
    except (IndexError, ValueError):
        return None


def this_process() -> Holder:
    pid = os.getpid()
    boot_id = _read("/proc/sys/kernel/random/boot_id")
    return Holder(uuid.uuid4().hex, socket.gethostname(), pid, boot_id, _process_start(pid))


def gone(holder: Holder, me: Holder) -> bool:
    """Whether `holder` is provably no longer running: a process of this machine (same host name and boot id)
    whose pid is gone or now belongs to a process started at another time. Anything else may still run."""
    if not holder.boot_id or holder.boot_id != me.boot_id or holder.host != me.host or holder.pid <= 0:
        return False
    started = _process_start(holder.pid)
    if started is None:
        return not Path(f"/proc/{holder.pid}").exists()
    return holder.started is not None and started != holder.started


class CheckpointBusyError(Exception):
    """Another run holds the checkpoint and updated it recently."""

    def __init__(self, holder: Holder | None, age_seconds: float) -> None:
        self.holder = holder
        self.age_seconds = age_seconds
        who = holder.describe() if holder else "another run"
        super().__init__(
            f"the same backfill is running ({who}, checkpoint updated {age_seconds:.0f}s ago); a run is taken for "
            f"gone {BUSY_SECONDS:.0f}s after its last update (--restart does not change that: both runs would "
            "publish the same objects)"
        )


class HolderLostError(Exception):
    """The checkpoint now belongs to another run (this one stalled past BUSY_SECONDS and was taken over)."""


@dataclass(frozen=True)
class Claimed:
    """Where a run starts: after `after` with `counters` so far (`resumed`), or from the beginning."""

    document: dict[str, Any]
    after: str | None
    counters: Tally
    resumed: bool
    took_over: Holder | None = None
    """A previous holder found gone (this machine, process no longer there)."""


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _age(doc: Mapping[str, Any], now: datetime) -> float:
    updated = _as_datetime(doc.get("updated_at"))
    return (now - updated).total_seconds() if updated else float("inf")


def claim(
    doc: Mapping[str, Any] | None,
    key: CheckpointKey,
    me: Holder,
    now: datetime,
    *,
    restart: bool,
    is_gone: Callable[[Holder], bool],
) -> Claimed:
    """The checkpoint document a run writes when it starts, and where it starts; raises CheckpointBusyError."""
    took_over = None
    if doc is not None and doc.get("status") == "running":
        holder = Holder.from_dict(doc.get("holder"))
        age = _age(doc, now)
        if (holder is None or holder.id != me.id) and age < BUSY_SECONDS:
            if holder is None or not is_gone(holder):
                raise CheckpointBusyError(holder, age)
            took_over = holder
    fresh = doc is None or restart or doc.get("status") == "done"
    after = None if fresh or doc is None else doc.get("after")
    counters = Tally() if fresh or doc is None else Tally.from_dict(doc.get("counters"))
    document = {
        "key": key.as_dict(),
        "after": after,
        "counters": counters.as_dict(),
        "status": "running",
        "holder": me.as_dict(),
        "started_at": now if fresh or doc is None else doc.get("started_at", now),
        "updated_at": now,
        "finished_at": None,
        "runs": 1 if fresh or doc is None else int(doc.get("runs") or 0) + 1,
    }
    return Claimed(document, after, counters, resumed=not fresh and after is not None, took_over=took_over)


def save(
    doc: Mapping[str, Any] | None, me: Holder, after: str | None, counters: Tally, status: Status, now: datetime
) -> dict[str, Any] | None:
    """The checkpoint with this run's progress, or None when another run holds it now."""
    if doc is None or (Holder.from_dict(doc.get("holder")) or Holder("", "", 0)).id != me.id:
        return None
    return {
        **doc,
        "after": after,
        "counters": counters.as_dict(),
        "status": status,
        "updated_at": now,
        "finished_at": now if status == "done" else None,
    }


Snapshot = Callable[[], tuple[str | None, Tally]]


class CheckpointWriter:
    """Writes a run's watermark and counters to its checkpoint from a thread of its own: whenever they moved (at
    most every `every` seconds), when `request`ed (a page end), at least every `heartbeat` seconds, and a last
    time on `close`. A failed write (or the checkpoint taken over) is kept in `error` and ends the writes; the
    run stops taking new work when it sees it."""

    def __init__(
        self,
        store: CheckpointStore,
        checkpoint_id: str,
        me: Holder,
        snapshot: Snapshot,
        *,
        every: float = FLUSH_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._id = checkpoint_id
        self._me = me
        self._snapshot = snapshot
        self._every = every
        self._heartbeat = heartbeat
        self._clock = clock
        self._cond = threading.Condition()
        self._requested = False
        self._closed = False
        self._written: str | None = None
        self._last = clock()
        self.writes = 0
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._loop, name="backfill-checkpoint", daemon=True)

    def start(self, written_after: str | None) -> None:
        self._written = written_after
        self._thread.start()

    def request(self) -> None:
        with self._cond:
            self._requested = True
            self._cond.notify()

    def _loop(self) -> None:
        while self.error is None:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._requested, timeout=self._every)
                remaining = self._every - (self._clock() - self._last)
                if not self._closed and remaining > 0:  # at most one write per `every`
                    self._cond.wait_for(lambda: self._closed, timeout=remaining)
                if self._closed:
                    return
                requested, self._requested = self._requested, False
            after, counters = self._snapshot()
            if requested or after != self._written or self._clock() - self._last >= self._heartbeat:
                self._write(after, counters, "running")

    def _write(self, after: str | None, counters: Tally, status: Status) -> bool:
        now = datetime.now(UTC)
        try:
            written = self._store.update(self._id, lambda doc: save(doc, self._me, after, counters, status, now))
            if written is None:
                raise HolderLostError("another run took this backfill's checkpoint over")
        except Exception as exc:
            logger.info("could not write the backfill checkpoint: %s", exc)
            self.error = exc
            return False
        self._written, self._last = after, self._clock()
        self.writes += 1
        return True

    def close(self, status: Status) -> bool:
        """Stop the thread and write the final state with `status`; False (and `error`) if that write failed."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        if self.error is not None:
            return False
        after, counters = self._snapshot()
        return self._write(after, counters, status)


__all__ = [
    "BUSY_SECONDS",
    "CheckpointBusyError",
    "CheckpointStore",
    "CheckpointWriter",
    "Claimed",
    "Holder",
    "HolderLostError",
    "Status",
    "claim",
    "gone",
    "save",
    "this_process",
]
