"""The optimize pass on the service's ports (in-memory fakes, the real engine on a real 640x480 photo)."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest

from gallery.engine import render
from gallery.errors import CorruptImageError
from gallery.events import parse_delivery
from gallery.model import EventKind, Limits, ObjectEvent, RenderResult, RenditionSpec
from gallery.optimize_plan import OptimizePlan, kept_fallbacks, optimize_decision, optimize_spec
from gallery.service import Outcome
from tests.unit.test_service import BUCKET, CONFIG, NAME, PID, World

LIVE = RenditionSpec(widths=(320, 512, 768), formats=("jpeg",))
PLAN = OptimizePlan(optimize_spec(LIVE, quality_target=70, avif_effort=0), fallback_max_width=512)
OPTIMIZING = dataclasses.replace(CONFIG, spec=LIVE, optimize=PLAN)


def _ready(world: World, generation: int = 1) -> ObjectEvent:
    event = world.upload(generation)
    assert world.service.handle(event) is Outcome.REGISTERED
    return event


def _task(world: World) -> ObjectEvent:
    """The optimize task the service queued last, as the bulk lane's push delivers it."""
    data, attributes = world.queue.published[-1]
    message = {"data": base64.b64encode(data).decode(), "attributes": attributes, "messageId": "9"}
    event, _ = parse_delivery({}, json.dumps({"message": message, "subscription": "s"}).encode())
    return event


def test_a_ready_photo_queues_its_optimize_task_on_the_bulk_lane() -> None:
    world = World(config=OPTIMIZING)
    _ready(world)
    assert world.registry.docs[PID]["optimization"] == {"status": "pending"}
    assert world.registry.docs[PID]["optimization_status"] == "pending"
    assert len(world.queue.published) == 1
    task = _task(world)
    assert (task.task, task.queued_on, task.kind) == ("optimize", "bulk", EventKind.FINALIZE)
    assert (task.bucket, task.name, task.generation) == (BUCKET, NAME, 1)


def test_the_task_swaps_in_the_avif_set_and_keeps_the_live_format_up_to_the_fallback_width() -> None:
    world = World(config=OPTIMIZING)
    _ready(world)
    live = world.registry.docs[PID]["renditions"]
    assert world.service.handle(_task(world)) is Outcome.OPTIMIZED
    doc = world.registry.docs[PID]
    assert doc["status"] == "ready"
    formats = sorted((e["format"], e["width"]) for e in doc["renditions"])
    assert formats == [("avif", 320), ("avif", 512), ("avif", 640), ("jpeg", 320), ("jpeg", 512)]
    for entry in doc["renditions"]:
        data, content_type = world.renditions.objects[entry["path"]]
        assert len(data) == entry["bytes"] and content_type == entry["content_type"]
    avif = [e for e in doc["renditions"] if e["format"] == "avif"]
    assert all(e["path"].startswith(f"{PID}/1/") and e["path"].endswith(".avif") for e in avif)
    assert set(doc["srcset"]) == {"avif", "jpeg"} and doc["src"].endswith("/512.jpg")
    # The 640 px JPEG is superseded: marked for deletion after the grace period, still fetchable meanwhile.
    superseded = [e["path"] for e in live if e["width"] == 640]
    assert doc["optimization"]["superseded"] == superseded
    assert set(world.renditions.superseded) == set(superseded)
    assert all(path in world.renditions.objects for path in superseded)
    state = doc["optimization"]
    assert state["status"] == doc["optimization_status"] == "done" and state["version"] == PLAN.version
    assert state["served_bytes_after"] == sum(e["bytes"] for e in avif)
    assert state["stored_bytes_after"] == sum(e["bytes"] for e in doc["renditions"])
    assert state["served_bytes_before"] == sum(e["bytes"] for e in live)


def test_a_second_task_for_the_same_photo_changes_nothing() -> None:
    world = World(config=OPTIMIZING)
    _ready(world)
    task = _task(world)
    world.service.handle(task)
    before, puts = world.registry.get(PID), len(world.renditions.puts)
    assert world.service.handle(task) is Outcome.DUPLICATE
    assert world.registry.get(PID) == before and len(world.renditions.puts) == puts


def test_a_task_for_a_replaced_generation_is_stale() -> None:
    world = World(config=OPTIMIZING)
    _ready(world, 1)
    old_task = _task(world)
    _ready(world, 2)
    puts = len(world.renditions.puts)
    assert world.service.handle(old_task) is Outcome.STALE
    assert world.registry.docs[PID]["optimization"] == {"status": "pending"}
    assert len(world.renditions.puts) == puts


def test_a_photo_re_rendered_while_optimizing_keeps_its_new_set_and_loses_the_optimized_files() -> None:
    world = World(config=OPTIMIZING)
    _ready(world)

    def rerender_meanwhile(data: bytes, spec: RenditionSpec, limits: Limits, *rest: Any, **kw: Any) -> RenderResult:
        result = render(data, spec, limits)
        world.registry.docs[PID]["renditions"] = world.registry.docs[PID]["renditions"][:1]  # a forced re-render
        return result

    world.service = world.build(OPTIMIZING, rerender_meanwhile)
    assert world.service.handle(_task(world)) is Outcome.STALE
    assert not any(".o" in name for name in world.renditions.objects)
    assert world.registry.docs[PID]["optimization"] == {"status": "pending"}


def test_a_photo_the_pass_cannot_render_stays_ready_with_the_reason() -> None:
    world = World(config=OPTIMIZING)
    _ready(world)
    live = world.registry.get(PID)

    def broken(*args: Any, **kwargs: Any) -> RenderResult:
        raise CorruptImageError("the image could not be rendered: test")

    world.service = world.build(OPTIMIZING, broken)
    assert world.service.handle(_task(world)) is Outcome.IGNORED
    doc = world.registry.docs[PID]
    assert doc["status"] == "ready" and doc["renditions"] == live["renditions"]
    assert doc["optimization"]["status"] == doc["optimization_status"] == "failed"
    assert doc["optimization"]["error"]["code"] == "corrupt_image"


def test_without_the_pass_nothing_is_queued_and_the_document_says_so() -> None:
    world = World(config=dataclasses.replace(OPTIMIZING, optimize=None))
    _ready(world)
    assert world.queue.published == []
    assert (world.registry.docs[PID]["optimization"], world.registry.docs[PID]["optimization_status"]) == (None, None)


def test_a_dead_lettered_task_leaves_the_photo_as_it_is() -> None:
    world = World(config=OPTIMIZING)
    _ready(world)
    before = world.registry.get(PID)
    assert world.service.record_dead_letter(_task(world), 5) is Outcome.IGNORED
    assert world.registry.get(PID) == before


def test_a_duplicate_delivery_of_the_upload_queues_the_task_again_while_it_is_pending() -> None:
    world = World(config=OPTIMIZING)
    event = _ready(world)
    assert world.service.handle(event) is Outcome.DUPLICATE
    assert len(world.queue.published) == 2
    world.service.handle(_task(world))
    world.service.handle(event)
    assert len(world.queue.published) == 2  # optimized: nothing more to queue


def test_a_failed_publish_of_the_task_is_retried_by_the_uploads_redelivery() -> None:
    from gallery.errors import TransientError

    world = World(config=OPTIMIZING)
    event = world.upload(1)
    world.queue.fail_with = TransientError("pubsub unavailable", code="dependency_unavailable")
    with pytest.raises(TransientError):
        world.service.handle(event)
    assert world.registry.docs[PID]["status"] == "ready"
    world.queue.fail_with = None
    assert world.service.handle(event) is Outcome.DUPLICATE
    assert _task(world).task == "optimize"


def test_the_fallbacks_kept_are_the_live_formats_up_to_the_width_and_never_none() -> None:
    entries = [{"format": f, "width": w, "path": f"{f}{w}"} for f in ("jpeg", "avif") for w in (320, 640, 1280)]
    assert [e["path"] for e in kept_fallbacks(entries, 640)] == ["jpeg320", "jpeg640"]
    assert [e["path"] for e in kept_fallbacks(entries, 100)] == ["jpeg320"]


def test_the_decision_follows_status_generation_and_version() -> None:
    ready = {"status": "ready", "source": {"generation": 3}, "optimization": {"status": "pending"}}
    assert optimize_decision(ready, 3, PLAN.version).value == "proceed"
    assert optimize_decision(ready, 2, PLAN.version).value == "stale"
    assert optimize_decision({**ready, "status": "processing"}, 3, PLAN.version).value == "stale"
    done = {**ready, "optimization": {"status": "done", "version": PLAN.version}}
    assert optimize_decision(done, 3, PLAN.version).value == "done"
    assert optimize_decision(done, 3, "another").value == "proceed"


def test_optimizing_again_supersedes_the_previous_pass_but_never_the_files_it_writes_again() -> None:
    world = World(config=OPTIMIZING)
    _ready(world)
    task = _task(world)
    world.service.handle(task)
    first = world.registry.get(PID)
    assert first is not None
    # The same version again (its document lost the record, e.g. restored from a backup): the same names are
    # written again, and none of them may be marked for deletion.
    world.registry.docs[PID].update(optimization=None, optimization_status=None)
    world.renditions.superseded.clear()
    assert world.service.handle(task) is Outcome.OPTIMIZED
    again = world.registry.docs[PID]
    assert again["renditions"] == first["renditions"] and again["optimization"]["superseded"] == []
    assert world.renditions.superseded == {}
    # Another version: the previous pass's AVIF renditions are the superseded ones.
    other = OptimizePlan(optimize_spec(LIVE, quality_target=60, avif_effort=0), fallback_max_width=512)
    world.service = world.build(dataclasses.replace(OPTIMIZING, optimize=other))
    assert world.service.handle(task) is Outcome.OPTIMIZED
    previous = sorted(e["path"] for e in first["renditions"] if e["format"] == "avif")
    assert sorted(world.registry.docs[PID]["optimization"]["superseded"]) == previous
    assert sorted(world.renditions.superseded) == previous
