"""photo.registered / photo.deregistered events: published at least once, never for stale generations."""

from __future__ import annotations

import pytest

from gallery.errors import TransientError
from gallery.service import Outcome, PhotoService
from tests.unit.fakes import FakeEvents
from tests.unit.test_service import CONFIG, PID, World


@pytest.fixture
def world() -> World:
    w = World()
    w.events = FakeEvents()  # type: ignore[attr-defined]
    w.service = PhotoService(w.sources, w.renditions, w.registry, CONFIG, events=w.events)  # type: ignore[attr-defined]
    return w


def test_registered_then_deregistered(world: World) -> None:
    events: FakeEvents = world.events  # type: ignore[attr-defined]
    world.service.handle(world.upload(4))
    world.sources.delete("uploads", "holiday/beach.jpg")
    world.service.handle(world.delete_event(4))
    assert [e[0] for e in events.published] == ["photo.registered", "photo.deregistered"]
    registered = events.published[0]
    assert registered[1] == {"photoId": PID, "bucket": "uploads", "object": "holiday/beach.jpg", "generation": "4"}
    assert registered[2]["status"] == "ready" and registered[2]["srcset"]["webp"]


def test_a_failed_publish_is_retried_by_the_redelivery(world: World) -> None:
    events: FakeEvents = world.events  # type: ignore[attr-defined]
    event = world.upload(1)
    events.fail_next = 1
    with pytest.raises(TransientError):
        world.service.handle(event)
    assert world.service.handle(event) is Outcome.DUPLICATE
    assert [e[0] for e in events.published] == ["photo.registered"]


def test_no_events_for_stale_or_failed_photos(world: World) -> None:
    events: FakeEvents = world.events  # type: ignore[attr-defined]
    world.service.handle(world.upload(2))
    world.service.handle(world.upload(1))  # older generation arriving late
    world.service.handle(world.delete_event(1))  # delete of an older generation
    world.service.handle(world.upload(3, b"not an image"))
    assert [(e[0], e[1]["generation"]) for e in events.published] == [("photo.registered", "2")]
