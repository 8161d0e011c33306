"""The backfill watermark: contiguous over the listing order, held by what is in flight or failed, counted once."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gallery_cli.backfill_cursor import CheckpointKey, Cursor, Tally, after_watermark


def _names(n: int) -> list[str]:
    return [f"p/{i:05d}.jpg" for i in range(n)]


def test_objects_with_nothing_to_publish_move_the_watermark_at_once() -> None:
    cursor = Cursor()
    for name in _names(3):
        cursor.add(name, "done", pending=False)
    assert cursor.after == "p/00002.jpg"
    assert cursor.committed == Tally(found=3, queued=0, states=Counter(done=3))
    assert cursor.open == 0


def test_the_watermark_waits_for_the_oldest_publish_in_flight() -> None:
    cursor = Cursor()
    a = cursor.add("a", "unregistered", pending=True)
    cursor.add("b", "done", pending=False)
    c = cursor.add("c", "stuck", pending=True)
    cursor.add("d", "done", pending=False)
    assert (cursor.after, cursor.open, cursor.waiting) == (None, 4, 2)

    cursor.confirm(c)  # confirmed out of order: still behind "a"
    assert cursor.after is None
    cursor.confirm(a)
    assert (cursor.after, cursor.open) == ("d", 0)
    assert cursor.committed == Tally(4, 2, Counter(unregistered=1, done=2, stuck=1))


def test_a_failed_publish_holds_the_watermark_before_it_for_good() -> None:
    cursor = Cursor()
    cursor.add("a", "done", pending=False)
    b = cursor.add("b", "unregistered", pending=True)
    c = cursor.add("c", "unregistered", pending=True)
    cursor.fail(b)
    cursor.confirm(c)
    cursor.add("d", "done", pending=False)
    assert (cursor.after, cursor.blocked, cursor.open) == ("a", True, 3)
    assert cursor.committed == Tally(1, 0, Counter(done=1))
    # What the run did in total still counts what lies beyond the watermark.
    assert cursor.totals() == Tally(4, 1, Counter(done=2, unregistered=2))


def test_a_resumed_cursor_adds_to_the_counters_it_resumed_with() -> None:
    before = Tally(10, 4, Counter(done=6, unregistered=4))
    cursor = Cursor("p/00009.jpg", before)
    ticket = cursor.add("p/00010.jpg", "unregistered", pending=True)
    cursor.confirm(ticket)
    assert cursor.committed == Tally(11, 5, Counter(done=6, unregistered=5))
    assert before == Tally(10, 4, Counter(done=6, unregistered=4))  # copied, not shared
    assert cursor.totals() - before == Tally(1, 1, Counter(unregistered=1))


def test_objects_must_come_in_listing_order_after_the_watermark() -> None:
    cursor = Cursor("m")
    with pytest.raises(ValueError, match="listing order"):
        cursor.add("m", "done", pending=False)  # the object the resumed listing starts with
    cursor.add("n", "done", pending=False)
    with pytest.raises(ValueError, match="listing order"):
        cursor.add("a", "done", pending=False)


def test_a_ticket_settles_once() -> None:
    cursor = Cursor()
    ticket = cursor.add("a", "unregistered", pending=True)
    cursor.add("b", "unregistered", pending=True)
    cursor.confirm(ticket)
    with pytest.raises(ValueError):
        cursor.confirm(ticket)
    with pytest.raises(ValueError):
        cursor.fail(99)


def test_the_resumed_listing_skips_the_watermark_itself() -> None:
    assert after_watermark("a", None)
    assert not after_watermark("p/1.jpg", "p/1.jpg")  # Cloud Storage's start_offset is inclusive
    assert not after_watermark("p/0.jpg", "p/1.jpg")
    assert after_watermark("p/1.jpg.bak", "p/1.jpg")


def test_tally_round_trips_through_a_document() -> None:
    tally = Tally(5, 2, Counter(done=3, unregistered=2))
    assert Tally.from_dict(tally.as_dict()) == tally
    assert Tally.from_dict(None) == Tally()
    assert tally.as_dict() == {"found": 5, "queued": 2, "states": {"done": 3, "unregistered": 2}}


def test_the_checkpoint_key_changes_with_anything_that_changes_the_backfill() -> None:
    key = CheckpointKey("uploads", "2019/", "projects/p/topics/bulk", "v1-a", None, False)
    assert key.id == CheckpointKey("uploads", "2019/", "projects/p/topics/bulk", "v1-a", None, False).id
    assert len(key.id) == 40 and key.id.isalnum()
    others = [
        CheckpointKey("other", "2019/", "projects/p/topics/bulk", "v1-a", None, False),
        CheckpointKey("uploads", "2020/", "projects/p/topics/bulk", "v1-a", None, False),
        CheckpointKey("uploads", "2019/", "projects/p/topics/live", "v1-a", None, False),
        CheckpointKey("uploads", "2019/", "projects/p/topics/bulk", "v1-b", None, False),
        CheckpointKey("uploads", "2019/", "projects/p/topics/bulk", "v1-a", "o1", False),
        CheckpointKey("uploads", "2019/", "projects/p/topics/bulk", "v1-a", None, True),
        CheckpointKey("uploads", "2019/", "projects/p/topics/bulk", "v1-a", None, False, "2019/m"),
        CheckpointKey("uploads", "2019/", "projects/p/topics/bulk", "v1-a", None, False, None, "2019/m"),
    ]
    assert len({key.id, *(k.id for k in others)}) == len(others) + 1


def _run(
    names: list[str],
    pending: set[str],
    cursor: Cursor,
    rng: random.Random,
    *,
    stop_at: int | None,
    published: Counter[str],
    keep_after: int | None = None,
) -> tuple[str | None, Tally]:
    """One simulated run over the objects after `cursor.after`: each pending object's publish goes out, the
    publishes settle in random order, the run stops taking objects at `stop_at` (a signal, --limit) and lets
    what is in flight settle. With `keep_after`, the process is killed instead: the checkpoint is the watermark
    as it was after `keep_after` objects had been added (the last flush before the kill)."""
    in_flight: list[int] = []
    flushed = (cursor.after, cursor.committed.copy())
    todo = [n for n in names if after_watermark(n, cursor.after)]
    for i, name in enumerate(todo):
        if stop_at is not None and i >= stop_at:
            break
        if name in pending:
            published[name] += 1
            in_flight.append(cursor.add(name, "unregistered", pending=True))
        else:
            cursor.add(name, "done", pending=False)
        while in_flight and rng.random() < 0.5:
            cursor.confirm(in_flight.pop(rng.randrange(len(in_flight))))
        if keep_after is not None and i == keep_after:
            flushed = (cursor.after, cursor.committed.copy())
    rng.shuffle(in_flight)
    for ticket in in_flight:
        cursor.confirm(ticket)
    return flushed if keep_after is not None else (cursor.after, cursor.committed.copy())


@pytest.mark.parametrize("seed", range(20))
def test_stopping_and_resuming_publishes_each_pending_object_exactly_once(seed: int) -> None:
    rng = random.Random(seed)
    names = _names(rng.randrange(50, 300))
    pending = {n for n in names if rng.random() < 0.6}
    published: Counter[str] = Counter()
    cursor = Cursor()
    runs = 0
    while True:
        runs += 1
        stop_at = rng.randrange(0, 80) if runs < 5 else None
        after, committed = _run(names, pending, cursor, rng, stop_at=stop_at, published=published)
        cursor = Cursor(after, committed)
        if after == names[-1]:
            break
    assert published == Counter(pending)  # exactly once each, nothing else
    assert cursor.committed == Tally(
        len(names), len(pending), Counter(unregistered=len(pending), done=len(names) - len(pending))
    )


@pytest.mark.parametrize("seed", range(10))
def test_after_a_kill_only_what_was_confirmed_since_the_last_flush_goes_out_again(seed: int) -> None:
    rng = random.Random(seed)
    names = _names(200)
    pending = {n for n in names if rng.random() < 0.6}
    published: Counter[str] = Counter()
    flush_at = rng.randrange(10, 100)
    after, committed = _run(names, pending, Cursor(), rng, stop_at=150, published=published, keep_after=flush_at)
    resumed = Cursor(after, committed)
    _run(names, pending, resumed, rng, stop_at=None, published=published)
    assert set(published) == pending  # nothing missing
    duplicated = {n for n, times in published.items() if times > 1}
    assert all(after is None or n > after for n in duplicated)  # only objects past the last flushed watermark
    assert all(times <= 2 for times in published.values())
    # The counters never count an object twice.
    assert resumed.committed.found == len(names) and resumed.committed.queued == len(pending)
