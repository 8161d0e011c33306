"""A streaming backfill run on a fake Pub/Sub client: what it publishes, where its watermark ends, how it stops."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from gallery_cli.backfill_cursor import Cursor, Tally
from gallery_cli.backfill_publish import Publisher, publish_all
from gallery_cli.backfill_run import Stop, StreamingRun, dry_run, stop_on_signals
from gallery_cli.backfill_scan import Candidate, Scan, prefetched
from gallery_cli.status import State

SCAN = Scan(bucket="uploads", spec_version="v1", stale_after_seconds=600, max_attempts=5)


def _candidate(i: int, state: State) -> Candidate:
    name = f"p/{i:04d}.jpg"
    resource = {"bucket": "uploads", "name": name, "generation": str(1000 + i), "size": "3"}
    return Candidate(name, 1000 + i, f"id{i}", state, resource)


def _pages(states: list[State], size: int) -> list[list[Candidate]]:
    objects = [_candidate(i, s) for i, s in enumerate(states)]
    return [objects[i : i + size] for i in range(0, len(objects), size)]


class FakeClient:
    """Resolves each publish on a thread of its own (out of order), or fails the names in `failing`."""

    def __init__(self, failing: frozenset[str] = frozenset(), raising: frozenset[str] = frozenset()) -> None:
        self.published: Counter[str] = Counter()
        self.failing = failing
        self.raising = raising
        self.lock = threading.Lock()

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future[str]:
        name = json.loads(data)["name"]
        assert attributes["objectId"] == name and topic == "projects/p/topics/bulk"
        if name in self.raising:
            raise RuntimeError("refused")
        future: Future[str] = Future()
        with self.lock:
            self.published[name] += 1

        def resolve() -> None:
            if name in self.failing:
                future.set_exception(ConnectionError("pubsub unreachable"))
            else:
                future.set_result("1")

        threading.Timer(0.001 * (hash(name) % 5), resolve).start()
        return future


def _run(
    pages: list[list[Candidate]],
    client: FakeClient,
    *,
    cursor: Cursor | None = None,
    limit: int | None = None,
    stop: Stop | None = None,
    concurrency: int = 4,
    **kwargs: Any,
) -> Any:
    stop = stop or Stop()
    publisher = Publisher(
        client, "projects/p/topics/bulk", lane="bulk", rate=0, concurrency=concurrency, stop=stop.event
    )
    run = StreamingRun(SCAN, cursor or Cursor(), publisher, stop, limit=limit, **kwargs)
    return run.run(pages)


STATES: list[State] = ["done", "unregistered", "unregistered", "done", "stuck", "in_progress", "unregistered"] * 5


def test_a_whole_run_publishes_every_pending_object_once_and_finishes_the_listing() -> None:
    client = FakeClient()
    outcome = _run(_pages(STATES, 4), client)
    pending = {c.name for page in _pages(STATES, 4) for c in page if SCAN.wants(c)}
    assert client.published == Counter(pending)
    assert outcome.complete and outcome.stopped is None and outcome.errors == {}
    assert outcome.after == f"p/{len(STATES) - 1:04d}.jpg"
    assert outcome.totals == Tally(35, 20, Counter(done=10, unregistered=15, stuck=5, in_progress=5))
    assert [c.name for c in outcome.items] == sorted(pending)
    assert outcome.pending == []  # only kept for --wait


def test_items_are_capped_and_the_rest_counted() -> None:
    outcome = _run(_pages(STATES, 4), FakeClient(), items_cap=3, keep_pending=True)
    assert (len(outcome.items), outcome.items_more, len(outcome.pending)) == (3, 17, 20)


def test_limit_stops_before_the_next_pending_object_and_the_next_run_continues_there() -> None:
    client = FakeClient()
    pages = _pages(STATES, 4)
    first = _run(pages, client, limit=5)
    assert (first.stopped, first.complete, first.totals.queued) == ("limit", False, 5)
    # Five published: 1, 2, 4, 6, 8; the objects after the fifth that need nothing are finished too.
    assert first.after == "p/0008.jpg"
    rest = [[c for c in page if c.name > first.after] for page in pages]
    second = _run(rest, client, cursor=Cursor(first.after, first.totals))
    assert second.complete and second.resumed_after == "p/0008.jpg"
    assert second.this_run.queued == 15 and second.totals.queued == 20 and second.totals.found == 35
    assert set(client.published.values()) == {1} and len(client.published) == 20


def test_a_publish_error_stops_new_work_and_holds_the_watermark_before_it() -> None:
    client = FakeClient(failing=frozenset({"p/0009.jpg"}))
    outcome = _run(_pages(STATES, 4), client, concurrency=2)
    assert outcome.stopped == "error" and not outcome.complete
    assert "pubsub unreachable" in outcome.errors["p/0009.jpg"]
    assert outcome.after == "p/0008.jpg"
    # The next run starts at the failed object: what went out after it while it was failing goes out again (the
    # function acknowledges those as duplicates); nothing is missed.
    pages = [[c for c in page if c.name > outcome.after] for page in _pages(STATES, 4)]
    client.failing = frozenset()
    again = _run(pages, client, cursor=Cursor(outcome.after))
    assert again.complete
    pending = {c.name for page in _pages(STATES, 4) for c in page if SCAN.wants(c)}
    assert set(client.published) == pending
    assert all(times == 1 for name, times in client.published.items() if name < "p/0009.jpg")

    raised = FakeClient(raising=frozenset({"p/0001.jpg"}))
    outcome = _run(_pages(STATES, 4), raised)
    assert outcome.stopped == "error" and outcome.after == "p/0000.jpg" and "refused" in outcome.errors["p/0001.jpg"]


def test_a_stop_request_lets_publishes_in_flight_settle_and_ends_at_a_page_boundary() -> None:
    stop = Stop()
    pages = _pages(STATES, 7)

    def on_page(_n: int) -> None:
        stop.request("signal", signum=signal.SIGTERM)

    client = FakeClient()
    outcome = _run(pages, client, stop=stop, on_page=on_page)
    assert (outcome.stopped, outcome.signal) == ("signal", "SIGTERM")
    assert outcome.after == pages[0][-1].name
    assert set(client.published) == {c.name for c in pages[0] if SCAN.wants(c)}


def test_a_forced_photo_has_its_count_restarted_before_it_is_published() -> None:
    forced = Scan(bucket="uploads", spec_version="v1", stale_after_seconds=600, max_attempts=5, force=True)
    states: list[State] = ["over_cap", "unregistered", "over_cap"]
    resets: list[str] = []

    def reset(c: Candidate) -> bool:
        resets.append(c.name)
        return c.name != "p/0002.jpg"  # its document changed meanwhile

    client = FakeClient()
    stop = Stop()
    publisher = Publisher(client, "projects/p/topics/bulk", lane="bulk", rate=0, concurrency=4, stop=stop.event)
    outcome = StreamingRun(forced, Cursor(), publisher, stop, reset=reset).run(_pages(states, 10))
    assert resets == ["p/0000.jpg", "p/0002.jpg"]
    assert set(client.published) == {"p/0000.jpg", "p/0001.jpg"}
    assert outcome.stopped == "error" and outcome.after == "p/0001.jpg"
    assert outcome.errors == {"p/0002.jpg": "the document changed meanwhile; run again"}


def test_a_listing_error_stops_the_run_with_what_was_done_kept() -> None:
    def pages() -> Iterator[list[Candidate]]:
        yield _pages(STATES, 4)[0]
        raise ConnectionError("listing failed")

    client = FakeClient()
    outcome = _run(prefetched(pages()), client)
    assert outcome.stopped == "error" and "listing failed" in (outcome.detail or "")
    assert outcome.after == "p/0003.jpg" and len(client.published) == 2


def test_signals_ask_the_run_to_stop_while_inside() -> None:
    stop = Stop()
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.event.wait(5)
    assert (stop.reason, stop.signal_name) == ("signal", "SIGTERM")
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_dry_run_counts_everything_and_what_the_limit_leaves() -> None:
    result = dry_run(_pages(STATES, 4), SCAN, limit=5, items_cap=2)
    assert result.totals.found == 35 and result.would_queue == 5 and result.left_for_next_run == 15
    assert [c.name for c in result.items] == ["p/0001.jpg", "p/0002.jpg"] and result.items_more == 3


def test_publish_all_collects_each_outcome() -> None:
    client = FakeClient(failing=frozenset({"p/0002.jpg"}))
    todo = [_candidate(i, "unregistered") for i in range(5)]
    result = publish_all(client, "projects/p/topics/bulk", todo, lane="bulk", rate=0, concurrency=2)
    assert sorted(c.name for c in result.queued) == ["p/0000.jpg", "p/0001.jpg", "p/0003.jpg", "p/0004.jpg"]
    assert list(result.errors) == ["p/0002.jpg"]


def test_the_prefetched_pages_stop_when_closed() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    pages = prefetched(source())
    assert next(pages) == 0
    pages.close()
    with pytest.raises(StopIteration):
        next(pages)
    assert len(produced) <= 4


def test_a_stop_ends_the_wait_for_a_page_that_does_not_come() -> None:
    release = threading.Event()

    def pages() -> Iterator[list[Candidate]]:
        yield _pages(STATES, 4)[0]
        release.wait(30)  # a listing call that hangs
        yield _pages(STATES, 4)[1]

    stop = Stop()
    threading.Timer(0.3, lambda: stop.request("signal", signum=signal.SIGTERM)).start()
    try:
        outcome = _run(prefetched(pages(), stop=stop.event), FakeClient(), stop=stop)
    finally:
        release.set()
    assert (outcome.stopped, outcome.complete, outcome.after) == ("signal", False, "p/0003.jpg")
