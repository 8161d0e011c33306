"""Leases that know whether their holder is alive: renewal rules, the keeper's heartbeat, and waiting deliveries."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timedelta

import pytest

from gallery.engine import render
from gallery.errors import TransientError
from gallery.lease import LeaseKeeper
from gallery.model import BeginOutcome, Limits, RenderResult, RenditionSpec
from gallery.registry_rules import (
    DeadLetterDecision,
    begin_document,
    dead_letter_decision,
    renew_lease_document,
    requeued_document,
)
from gallery.service import Outcome
from tests.unit.fakes import NOW, FakeRegistry
from tests.unit.test_service import CONFIG, PID, World

SOURCE = {"source": {"generation": 5}}


def _begun(holder: str, now=NOW, doc=None, lease: float = 30) -> dict[str, object]:  # type: ignore[no-untyped-def]
    outcome, new = begin_document(doc, 5, SOURCE, "v", now, lease_seconds=lease, holder=holder)
    assert outcome is BeginOutcome.PROCEED and new is not None
    return new


def test_only_the_holder_renews_and_never_after_a_takeover_or_an_outcome() -> None:
    doc = _begun("a")
    renewed = renew_lease_document(doc, 5, "a", NOW + timedelta(seconds=10), 30)
    assert renewed is not None and renewed["lease_expires_at"] == NOW + timedelta(seconds=40)
    assert renew_lease_document(doc, 5, "b", NOW, 30) is None  # not its lease
    assert renew_lease_document(doc, 6, "a", NOW, 30) is None  # another generation
    assert renew_lease_document(doc, 5, "", NOW, 30) is None
    # "a" died; its lease ran out and "b" took the photo over: "a" (alive after all) cannot take it back
    taken = _begun("b", now=NOW + timedelta(seconds=31), doc=doc)
    assert taken["attempts"] == 2 and taken["lease_holder"] == "b"
    assert renew_lease_document(taken, 5, "a", NOW + timedelta(seconds=32), 30) is None
    assert renew_lease_document({**taken, "status": "ready"}, 5, "b", NOW, 30) is None


def test_a_held_lease_is_busy_until_it_runs_out() -> None:
    doc = _begun("a")
    assert begin_document(doc, 5, SOURCE, "v", NOW + timedelta(seconds=29), holder="b")[0] is BeginOutcome.BUSY
    assert begin_document(doc, 5, SOURCE, "v", NOW + timedelta(seconds=30), holder="b")[0] is BeginOutcome.PROCEED


@pytest.mark.parametrize(
    ("doc", "live", "decision"),
    [
        (None, 5, DeadLetterDecision.REQUEUE),  # never reached the function
        ({**SOURCE, "status": "processing", "attempts": 2}, 5, DeadLetterDecision.REQUEUE),  # crashed / busy
        ({**SOURCE, "status": "retrying", "attempts": 1}, 5, DeadLetterDecision.REQUEUE),
        ({**SOURCE, "status": "processing", "attempts": 2, "dead_letters": 1}, 5, DeadLetterDecision.RECORD),
        ({**SOURCE, "status": "processing", "attempts": 5}, 5, DeadLetterDecision.RECORD),  # its renders kept dying
        ({**SOURCE, "status": "ready"}, 5, DeadLetterDecision.STALE),
        ({**SOURCE, "status": "failed", "error": {"code": "corrupt_image"}}, 5, DeadLetterDecision.STALE),
        ({"source": {"generation": 6}, "status": "processing"}, 5, DeadLetterDecision.STALE),  # newer one
        (None, 6, DeadLetterDecision.STALE),  # replaced in the bucket
        (None, None, DeadLetterDecision.STALE),  # deleted
    ],
)
def test_dead_letter_rule(doc: dict[str, object] | None, live: int | None, decision: DeadLetterDecision) -> None:
    assert dead_letter_decision(doc, 5, live_generation=live, max_attempts=5, max_requeues=1) is decision


def test_a_requeue_is_counted_per_generation_and_a_new_generation_starts_clean() -> None:
    first = requeued_document(None, 5, SOURCE, "dead-lettered", NOW)
    assert first is not None and (first["status"], first["dead_letters"], first["attempts"]) == ("retrying", 1, 0)
    again = begin_document(first, 5, SOURCE, "v", NOW)[1]
    assert again is not None and again["dead_letters"] == 1  # the same generation keeps its count
    newer = begin_document(first, 6, {"source": {"generation": 6}}, "v", NOW)[1]
    assert newer is not None and newer["dead_letters"] == 0
    assert requeued_document({**SOURCE, "status": "ready"}, 5, SOURCE, "x", NOW) is None


def test_the_keeper_renews_every_interval_while_held_and_stops_after() -> None:
    calls: list[tuple[str, int, str]] = []

    def renew(pid: str, generation: int, holder: str) -> bool:
        calls.append((pid, generation, holder))
        return True

    keeper = LeaseKeeper(renew, interval_seconds=0.05)
    with keeper.keep("p", 5, "h") as lease:
        deadline = time.monotonic() + 10
        while lease.renewals < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert keeper.held == 1
    assert lease.renewals >= 3 and set(calls) == {("p", 5, "h")}
    count = len(calls)
    time.sleep(0.2)
    assert len(calls) == count and keeper.held == 0  # released: no more writes


def test_a_refused_renewal_ends_that_heartbeat_and_a_failed_one_is_retried() -> None:
    answers = [TransientError("firestore down", code="dependency_unavailable"), True, False]
    done = threading.Event()

    def renew(pid: str, generation: int, holder: str) -> bool:
        answer = answers.pop(0) if answers else False
        if not answers:
            done.set()
        if isinstance(answer, Exception):
            raise answer
        return answer

    keeper = LeaseKeeper(renew, interval_seconds=0.01)
    keeper_module = __import__("gallery.lease", fromlist=["RETRY_SECONDS"])
    original, keeper_module.RETRY_SECONDS = keeper_module.RETRY_SECONDS, 0.01
    try:
        with keeper.keep("p", 5, "h") as lease:
            assert done.wait(10)
            deadline = time.monotonic() + 10
            while not lease.lost and time.monotonic() < deadline:
                time.sleep(0.01)
            assert lease.lost and lease.renewals == 1
    finally:
        keeper_module.RETRY_SECONDS = original


class RealTimeRegistry(FakeRegistry):
    """The fake registry on a clock that moves with real time, so a lease that is not renewed runs out."""

    def __init__(self) -> None:
        super().__init__()
        self._started = time.monotonic()

    @property  # type: ignore[override]
    def now(self) -> datetime:
        return NOW + timedelta(seconds=time.monotonic() - self._started)

    @now.setter
    def now(self, value: datetime) -> None:
        pass


def test_a_long_render_keeps_renewing_its_lease_so_a_duplicate_waits_then_finds_it_done() -> None:
    config = dataclasses.replace(CONFIG, lease_seconds=0.4, busy_poll_seconds=0.05)
    started = threading.Event()

    def slow(data: bytes, spec: RenditionSpec, limits: Limits) -> RenderResult:
        started.set()
        time.sleep(0.5)  # longer than the lease: only the heartbeat keeps it
        return render(data, spec, limits)

    world = World(slow, config)
    world.registry = RealTimeRegistry()
    world.service = world.build(config, slow)
    event = world.upload(1)
    outcome: list[Outcome] = []
    first = threading.Thread(target=lambda: outcome.append(world.service.handle(event)))
    first.start()
    assert started.wait(10)
    duplicate = world.build(config)  # another instance, whose waits are real
    duplicate._sleep = time.sleep  # type: ignore[attr-defined]
    # It waits for the outcome instead of answering busy; without the heartbeat the lease would have run out
    # during the render and it would have rendered the photo a second time.
    assert duplicate.handle(event) is Outcome.DUPLICATE
    first.join(10)
    assert outcome == [Outcome.REGISTERED]
    assert world.registry.renewals >= 2
    doc = world.doc()
    assert doc is not None and doc["attempts"] == 1 and doc["lease_holder"] is None


def test_a_delivery_gives_up_waiting_after_one_and_a_half_leases_of_a_live_holder() -> None:
    world = World()
    event = world.upload(1)
    _, doc = begin_document(None, 1, {"source": {"generation": 1}}, CONFIG.spec.version, NOW, holder="other")
    assert doc is not None
    world.registry.docs[PID] = doc

    def heartbeat(seconds: float) -> None:  # the other holder keeps renewing while this one waits
        world.sleep(seconds)
        assert world.registry.renew_lease(PID, 1, "other", CONFIG.lease_seconds)

    world.service._sleep = heartbeat  # type: ignore[attr-defined]
    with pytest.raises(TransientError) as busy:
        world.service.handle(event)
    assert busy.value.code == "in_progress"
    assert world.slept == pytest.approx(CONFIG.busy_wait_seconds)
    assert world.doc()["attempts"] == 1  # type: ignore[index]  # waiting is never counted
