"""Forged, replayed and poison deliveries: the bucket decides, the message only asks.

In-memory ports (tests/unit/fakes.py apply the same registry rules as the Firestore adapter) and the real
engine on a small photo.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import timedelta

import pytest

from gallery.engine import render
from gallery.errors import TransientError
from gallery.events import parse_message
from gallery.model import REQUEUED_ATTRIBUTE, EventKind, Limits, RenderResult, RenditionSpec
from gallery.service import Outcome, PhotoService
from tests.unit.fakes import NOW
from tests.unit.test_service import BUCKET, CONFIG, NAME, OTHER, PHOTO, PID, World


class Crash(BaseException):
    """Stands for the instance dying mid-render (OOM kill, decoder crash): nothing after it runs."""


def ready_world(generation: int = 7) -> tuple[World, dict[str, object], set[str]]:
    world = World()
    assert world.service.handle(world.upload(generation)) is Outcome.REGISTERED
    doc = world.doc()
    assert doc is not None
    return world, doc, set(world.renditions.objects)


def assert_unharmed(world: World, doc: dict[str, object], renditions: set[str]) -> None:
    assert world.doc() == doc
    assert set(world.renditions.objects) == renditions


def test_forged_finalize_of_a_higher_generation_changes_nothing() -> None:
    world, doc, renditions = ready_world(7)
    forged = dataclasses.replace(world.upload(7), generation=8)  # generation 8 was never written
    downloads = world.sources.downloads
    assert world.service.handle(forged) is Outcome.STALE
    assert_unharmed(world, doc, renditions)
    assert world.sources.downloads == downloads


def test_finalize_of_a_generation_that_no_longer_exists_changes_nothing() -> None:
    world, doc, renditions = ready_world(7)
    # overwritten twice (8, then 9) before the FINALIZE of 8 arrives: 8 is no longer live
    replay = dataclasses.replace(world.upload(9, OTHER), generation=8)
    assert world.service.handle(replay) is Outcome.STALE
    assert_unharmed(world, doc, renditions)


def test_forged_delete_of_the_live_generation_changes_nothing() -> None:
    world, doc, renditions = ready_world(7)
    assert world.service.handle(world.delete_event(7)) is Outcome.STALE
    assert world.service.handle(world.delete_event(8)) is Outcome.STALE  # a higher, never-written generation
    assert_unharmed(world, doc, renditions)


def test_replayed_delete_after_a_re_upload_changes_nothing() -> None:
    world = World()
    world.service.handle(world.upload(3))
    world.sources.delete(BUCKET, NAME)
    assert world.service.handle(world.delete_event(3)) is Outcome.DEREGISTERED
    assert world.service.handle(world.upload(5, OTHER)) is Outcome.REGISTERED
    doc, renditions = world.doc(), set(world.renditions.objects)
    assert doc is not None
    assert world.service.handle(world.delete_event(3)) is Outcome.STALE  # the old DELETE, delivered again
    assert world.service.handle(world.upload(5, OTHER)) is Outcome.DUPLICATE
    assert_unharmed(world, doc, renditions)


def test_delete_deregisters_once_a_newer_generation_replaced_the_one_on_record() -> None:
    world = World()
    world.service.handle(world.upload(3))
    world.sources.put(BUCKET, NAME, 4, OTHER)  # deleted and uploaded again before the DELETE arrives
    assert world.service.handle(world.delete_event(3)) is Outcome.DEREGISTERED
    assert world.doc() is None and world.renditions.objects == {}
    assert world.service.handle(world.upload(4, OTHER)) is Outcome.REGISTERED


def test_size_and_content_type_come_from_the_bucket_not_the_message() -> None:
    world = World()
    event = dataclasses.replace(world.upload(2), content_type="text/html", size=1)
    world.service.handle(event)
    source = world.doc()["source"]  # type: ignore[index]
    assert source["bytes"] == len(PHOTO) and source["content_type"] == "application/octet-stream"


def test_an_unreachable_bucket_is_a_transient_failure_before_anything_changes() -> None:
    world, doc, renditions = ready_world(7)
    world.sources.fail_stat.append(TransientError("storage unavailable", code="dependency_unavailable"))
    with pytest.raises(TransientError):
        world.service.handle(world.delete_event(7))
    assert_unharmed(world, doc, renditions)


def test_each_delivery_is_counted_and_leased_before_the_render() -> None:
    seen: list[object] = []
    holder: dict[str, World] = {}

    def watching(data: bytes, spec: RenditionSpec, limits: Limits) -> RenderResult:
        seen.append(holder["w"].doc())
        return render(data, spec, limits)

    world = World(watching)
    holder["w"] = world
    world.service.handle(world.upload(1))
    during = seen[0]
    assert isinstance(during, dict)
    assert during["status"] == "processing" and during["attempts"] == 1
    assert during["lease_expires_at"] == NOW + timedelta(seconds=CONFIG.lease_seconds)


def test_a_photo_that_kills_its_render_is_failed_after_max_attempts_and_others_are_unharmed() -> None:
    renders: list[bytes] = []

    def crashing(data: bytes, spec: RenditionSpec, limits: Limits) -> RenderResult:
        renders.append(data)
        if data == PHOTO:
            raise Crash
        return render(data, spec, limits)

    world = World(crashing)
    config = dataclasses.replace(CONFIG, max_attempts=3)
    world.service = world.build(config, crashing)
    event = world.upload(1)
    with pytest.raises(Crash):
        world.service.handle(event)
    for attempt in range(2, 4):
        # the dead delivery's lease is still held: the redelivery waits for it to run out (one lease, not renewed
        # any more), then takes the photo over as one more attempt
        slept = world.slept
        with pytest.raises(Crash):
            world.service.handle(event)
        assert world.doc()["attempts"] == attempt  # type: ignore[index]
        assert config.lease_seconds <= world.slept - slept <= config.lease_seconds + config.busy_poll_seconds
    world.registry.now += timedelta(seconds=config.lease_seconds)
    assert world.service.handle(event) is Outcome.FAILED  # the 4th delivery renders nothing
    assert len(renders) == 3
    doc = world.doc()
    assert doc is not None and doc["status"] == "failed" and doc["error"]["code"] == "too_many_attempts"
    assert "3 deliveries" in doc["error"]["reason"]
    assert world.service.handle(event) is Outcome.DUPLICATE  # settled: acked from now on

    other = dataclasses.replace(event, name="other.jpg")
    world.sources.put(BUCKET, "other.jpg", 1, OTHER)
    assert world.service.handle(other) is Outcome.REGISTERED


def test_transient_errors_count_as_attempts_and_the_last_one_is_kept_in_the_reason() -> None:
    world = World()
    world.service = world.build(dataclasses.replace(CONFIG, max_attempts=2))
    event = world.upload(1)
    for _ in range(2):
        world.renditions.fail_puts = 1
        with pytest.raises(TransientError):
            world.service.handle(event)
    assert world.service.handle(event) is Outcome.FAILED
    error = world.doc()["error"]  # type: ignore[index]
    assert error["code"] == "too_many_attempts" and "dependency_unavailable" in error["reason"]


def test_a_dead_letter_marks_a_photo_failed_with_its_last_error_once_its_requeue_is_used() -> None:
    world = World()
    event = world.upload(1)
    world.renditions.fail_puts = 1
    with pytest.raises(TransientError):
        world.service.handle(event)
    assert world.service.record_dead_letter(event, delivery_count=10) is Outcome.REQUEUED
    assert world.service.record_dead_letter(event, delivery_count=10) is Outcome.FAILED
    doc = world.doc()
    assert doc is not None and doc["status"] == "failed" and doc["error"]["code"] == "dead_lettered"
    assert "10 deliveries" in doc["error"]["reason"] and "storage unavailable" in doc["error"]["reason"]
    assert world.renditions.objects == {}
    # not a verdict on the photo: the next delivery of the generation (backfill, retry) renders it
    assert world.service.handle(event) is Outcome.REGISTERED
    assert world.doc()["attempts"] == 2  # type: ignore[index]


def test_a_dead_letter_of_a_photo_never_processed_is_requeued_on_the_bulk_lane() -> None:
    world = World()
    event = dataclasses.replace(world.upload(1), metadata={"album": "summer"})
    assert world.service.record_dead_letter(event, delivery_count=10) is Outcome.REQUEUED
    [(data, attributes)] = world.queue.published
    requeued = parse_message({"data": base64.b64encode(data).decode(), "attributes": attributes})
    assert (requeued.kind, requeued.bucket, requeued.name, requeued.generation) == (
        EventKind.FINALIZE,
        BUCKET,
        NAME,
        1,
    )
    assert requeued.queued_on == "bulk" and attributes[REQUEUED_ATTRIBUTE] == "dead_letter"
    assert requeued.metadata == {"album": "summer"} and requeued.size == len(PHOTO)
    doc = world.doc()
    assert doc is not None and doc["status"] == "retrying" and doc["dead_letters"] == 1 and doc["attempts"] == 0
    assert doc["photo_id"] == PID and doc["source"]["generation"] == 1
    assert world.service.handle(requeued) is Outcome.REGISTERED  # the bulk lane's delivery
    assert world.doc()["attempts"] == 1  # type: ignore[index]


def test_a_dead_letter_of_a_crashed_photo_is_requeued_and_its_lease_left_to_run_out() -> None:
    def crashing(data: bytes, spec: RenditionSpec, limits: Limits) -> RenderResult:
        raise Crash

    world = World(crashing)
    event = world.upload(1)
    with pytest.raises(Crash):
        world.service.handle(event)
    assert world.service.record_dead_letter(event) is Outcome.REQUEUED
    doc = world.doc()
    assert doc is not None and doc["status"] == "processing" and doc["lease_expires_at"] is not None
    world.service = world.build(CONFIG)  # a new instance, rendering well
    assert world.service.handle(event) is Outcome.REGISTERED  # waits out the dead holder's lease
    assert world.doc()["attempts"] == 2  # type: ignore[index]


def test_a_dead_letter_is_recorded_when_nothing_can_requeue_it_or_its_attempts_are_used_up() -> None:
    world = World()
    world.service = PhotoService(world.sources, world.renditions, world.registry, CONFIG)  # no bulk topic
    event = world.upload(1)
    assert world.service.record_dead_letter(event) is Outcome.FAILED
    doc = world.doc()
    assert doc is not None and doc["error"]["code"] == "dead_lettered" and doc["source"]["generation"] == 1
    assert doc["photo_id"] == PID

    world = World()
    world.service = world.build(dataclasses.replace(CONFIG, max_attempts=2))
    event = world.upload(1)
    for _ in range(2):
        world.renditions.fail_puts = 1
        with pytest.raises(TransientError):
            world.service.handle(event)
    assert world.service.record_dead_letter(event) is Outcome.FAILED  # its renders kept failing: no requeue
    assert world.queue.published == []

    world = World()
    world.service = world.build(dataclasses.replace(CONFIG, max_requeues=0))
    assert world.service.record_dead_letter(world.upload(1)) is Outcome.FAILED


def test_a_requeue_that_cannot_be_published_records_nothing_and_is_retried() -> None:
    world = World()
    event = world.upload(1)
    world.queue.fail_with = TransientError("pubsub down", code="requeue_unavailable")
    with pytest.raises(TransientError):
        world.service.record_dead_letter(event)
    assert world.doc() is None
    world.queue.fail_with = None
    assert world.service.record_dead_letter(event) is Outcome.REQUEUED


def test_a_dead_letter_never_overrides_a_ready_photo_nor_a_generation_that_is_not_live() -> None:
    world, doc, renditions = ready_world(7)
    assert world.service.record_dead_letter(world.upload(7)) is Outcome.STALE
    forged = dataclasses.replace(world.upload(7), generation=8)
    assert world.service.record_dead_letter(forged) is Outcome.STALE
    assert_unharmed(world, doc, renditions)


def test_a_dead_lettered_delete_is_processed_again_with_the_same_checks() -> None:
    world, doc, renditions = ready_world(7)
    assert world.service.record_dead_letter(world.delete_event(7)) is Outcome.STALE  # object still there
    assert_unharmed(world, doc, renditions)
    world.sources.delete(BUCKET, NAME)
    assert world.service.record_dead_letter(world.delete_event(7)) is Outcome.DEREGISTERED
    assert world.doc() is None
