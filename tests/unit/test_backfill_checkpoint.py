"""Who may hold a backfill's checkpoint, where a run starts, and how its progress is written."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gallery_cli.backfill_checkpoint import (
    BUSY_SECONDS,
    CheckpointBusyError,
    CheckpointWriter,
    Holder,
    HolderLostError,
    claim,
    gone,
    save,
    this_process,
)
from gallery_cli.backfill_cursor import CheckpointKey, Tally

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
KEY = CheckpointKey("uploads", "", "projects/p/topics/bulk", "v1-a", None, False)
ME = Holder("me", "host-a", 100, "boot-1", 5)
OTHER = Holder("other", "host-b", 200, "boot-2", 7)
COUNTERS = Tally(40, 10, Counter(done=30, unregistered=10))


def _doc(status: str, holder: Holder = OTHER, age: float = 0.0, after: str | None = "p/0039.jpg") -> dict[str, Any]:
    return {
        "key": KEY.as_dict(),
        "after": after,
        "counters": COUNTERS.as_dict(),
        "status": status,
        "holder": holder.as_dict(),
        "started_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(seconds=age),
        "runs": 2,
    }


def _claim(doc: dict[str, Any] | None, *, restart: bool = False, dead: bool = False) -> Any:
    return claim(doc, KEY, ME, NOW, restart=restart, is_gone=lambda _h: dead)


def test_the_first_run_starts_from_the_beginning() -> None:
    claimed = _claim(None)
    assert (claimed.after, claimed.counters, claimed.resumed) == (None, Tally(), False)
    assert claimed.document["status"] == "running" and claimed.document["holder"] == ME.as_dict()
    assert claimed.document["key"] == KEY.as_dict() and claimed.document["runs"] == 1


def test_an_unfinished_run_is_resumed_with_its_counters() -> None:
    for status, age in (("stopped", 5.0), ("running", BUSY_SECONDS + 1)):  # stopped, or its holder died long ago
        claimed = _claim(_doc(status, age=age))
        assert (claimed.after, claimed.counters, claimed.resumed) == ("p/0039.jpg", COUNTERS, True)
        assert claimed.document["runs"] == 3
        assert claimed.document["started_at"] == NOW - timedelta(hours=1)


def test_a_finished_run_or_restart_starts_over() -> None:
    assert _claim(_doc("done")).after is None
    restarted = _claim(_doc("stopped"), restart=True)
    assert (restarted.after, restarted.counters, restarted.resumed) == (None, Tally(), False)


def test_a_live_holder_keeps_the_checkpoint_even_against_restart() -> None:
    for restart in (False, True):
        with pytest.raises(CheckpointBusyError, match="running") as caught:
            _claim(_doc("running", age=30.0), restart=restart)
        assert caught.value.holder == OTHER and caught.value.age_seconds == 30.0


def test_a_holder_provably_gone_is_taken_over_at_once() -> None:
    claimed = _claim(_doc("running", age=1.0), dead=True)
    assert claimed.took_over == OTHER and claimed.resumed and claimed.after == "p/0039.jpg"


def test_progress_is_saved_only_by_the_holder() -> None:
    doc = _doc("running", holder=ME)
    saved = save(doc, ME, "p/0050.jpg", Tally(51, 12), "stopped", NOW)
    assert saved is not None
    assert (saved["after"], saved["status"], saved["counters"]["found"], saved["updated_at"]) == (
        "p/0050.jpg",
        "stopped",
        51,
        NOW,
    )
    assert saved["finished_at"] is None
    assert save(doc, ME, "p/0099.jpg", Tally(100), "done", NOW)["finished_at"] == NOW  # type: ignore[index]
    assert save(_doc("running", holder=OTHER), ME, "p/0050.jpg", Tally(), "running", NOW) is None
    assert save(None, ME, "p/0050.jpg", Tally(), "running", NOW) is None


def test_a_holder_is_gone_only_when_this_machine_shows_its_process_is() -> None:
    me = this_process()
    if me.boot_id is None or me.started is None:
        pytest.skip("needs /proc")
    assert not gone(me, me)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    ended = Holder("x", me.host, child.pid, me.boot_id, 1)
    assert gone(ended, me)
    assert gone(Holder("x", me.host, me.pid, me.boot_id, me.started + 1), me)  # the pid now belongs to another
    assert not gone(Holder("x", "elsewhere", child.pid, me.boot_id, 1), me)  # another machine: cannot tell
    assert not gone(Holder("x", me.host, child.pid, "another-boot", 1), me)
    assert not gone(Holder("x", me.host, child.pid, None, 1), me)


class MemoryStore:
    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self.docs: dict[str, dict[str, Any]] = {} if doc is None else {"id": doc}
        self.writes: list[dict[str, Any]] = []
        self.fail = False

    def get(self, checkpoint_id: str) -> dict[str, Any] | None:
        return self.docs.get(checkpoint_id)

    def update(
        self, checkpoint_id: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        if self.fail:
            raise ConnectionError("firestore is down")
        new = change(self.docs.get(checkpoint_id))
        if new is not None:
            self.docs[checkpoint_id] = new
            self.writes.append(new)
        return new


class Progress:
    def __init__(self) -> None:
        self.after: str | None = None
        self.tally = Tally()
        self.lock = threading.Lock()

    def move(self, after: str) -> None:
        with self.lock:
            self.after = after
            self.tally.found += 1

    def snapshot(self) -> tuple[str | None, Tally]:
        with self.lock:
            return self.after, self.tally.copy()


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_writer_writes_what_moved_at_most_every_interval_and_the_final_state() -> None:
    store = MemoryStore(_doc("running", holder=ME, after=None))
    progress = Progress()
    writer = CheckpointWriter(store, "id", ME, progress.snapshot, every=0.2, heartbeat=60)
    writer.start(None)
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        progress.move(f"p/{time.monotonic():.6f}")
        writer.request()
        time.sleep(0.005)
    assert writer.close("stopped")
    assert 2 <= len(store.writes) <= 7  # about one per 0.2 s over a second, plus the last
    last = store.docs["id"]
    assert (last["after"], last["status"], last["counters"]["found"]) == (
        progress.after,
        "stopped",
        progress.tally.found,
    )


def test_the_writer_keeps_a_quiet_run_alive_with_heartbeats() -> None:
    store = MemoryStore(_doc("running", holder=ME, after=None))
    writer = CheckpointWriter(store, "id", ME, Progress().snapshot, every=0.05, heartbeat=0.1)
    writer.start(None)
    assert _wait(lambda: len(store.writes) >= 3)
    assert writer.close("stopped")


def test_a_checkpoint_taken_over_or_unwritable_is_reported() -> None:
    store = MemoryStore(_doc("running", holder=OTHER))
    progress = Progress()
    writer = CheckpointWriter(store, "id", ME, progress.snapshot, every=0.05)
    writer.start(None)
    progress.move("a")
    assert _wait(lambda: writer.error is not None)
    assert isinstance(writer.error, HolderLostError)
    assert not writer.close("stopped")
    assert store.docs["id"]["holder"] == OTHER.as_dict()

    down = MemoryStore(_doc("running", holder=ME))
    down.fail = True
    writer = CheckpointWriter(down, "id", ME, progress.snapshot, every=0.05)
    writer.start(None)
    assert _wait(lambda: writer.error is not None)
    assert not writer.close("done")
