"""The service's event semantics, with in-memory ports and the real engine on a small photo."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gallery.engine import render
from gallery.errors import TransientError
from gallery.ids import photo_id
from gallery.model import EventKind, Limits, ObjectEvent, RenderResult, RenditionSpec
from gallery.service import Outcome, PhotoService, ServiceConfig
from tests.paths import ORIENTATION, SAMPLES
from tests.unit.fakes import FakeQueue, FakeRegistry, FakeRenditions, FakeSources

BUCKET, NAME = "uploads", "holiday/beach.jpg"
PID = photo_id(BUCKET, NAME)
PHOTO = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()  # 640x480
OTHER = (ORIENTATION / "portrait_1.jpg").read_bytes()  # 450x600
CONFIG = ServiceConfig(
    uploads_bucket=BUCKET,
    spec=RenditionSpec(widths=(320, 512, 768), formats=("webp",)),
    limits=Limits(),
    url_prefix="https://cdn.example/r",
)


class World:
    def __init__(self, renderer: object = render, config: ServiceConfig = CONFIG) -> None:
        self.sources = FakeSources()
        self.renditions = FakeRenditions()
        self.registry = FakeRegistry()
        self.queue = FakeQueue()
        self.slept = 0.0
        self.service = self.build(config, renderer)

    def build(self, config: ServiceConfig, renderer: object = render) -> PhotoService:
        """A service on this world's ports whose waits move the registry's clock instead of sleeping."""
        return PhotoService(
            self.sources,
            self.renditions,
            self.registry,
            config,
            renderer,  # type: ignore[arg-type]
            requeue=self.queue,
            sleep=self.sleep,
        )

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.registry.now += timedelta(seconds=seconds)

    def upload(self, generation: int, data: bytes = PHOTO) -> ObjectEvent:
        self.sources.put(BUCKET, NAME, generation, data)
        return ObjectEvent(EventKind.FINALIZE, "OBJECT_FINALIZE", BUCKET, NAME, generation, "image/jpeg", len(data))

    def delete_event(self, generation: int, overwritten_by: int | None = None) -> ObjectEvent:
        return ObjectEvent(
            EventKind.DELETE, "OBJECT_DELETE", BUCKET, NAME, generation, overwritten_by_generation=overwritten_by
        )

    def doc(self) -> dict[str, object] | None:
        return self.registry.get(PID)


def test_finalize_registers_a_ready_document_with_renditions() -> None:
    world = World()
    assert world.service.handle(world.upload(7)) is Outcome.REGISTERED
    doc = world.doc()
    assert doc is not None
    assert doc["status"] == "ready" and doc["source"]["generation"] == 7  # type: ignore[index]
    assert (doc["width"], doc["height"], doc["format"]) == (640, 480, "jpeg")
    assert [r["width"] for r in doc["renditions"]] == [320, 512, 640]  # type: ignore[attr-defined]
    assert sorted(world.renditions.objects) == [f"{PID}/7/320.webp", f"{PID}/7/512.webp", f"{PID}/7/640.webp"]
    assert all(ct == "image/webp" for _, ct in world.renditions.objects.values())
    assert doc["srcset"] == {  # type: ignore[comparison-overlap]
        "webp": ", ".join(f"https://cdn.example/r/{PID}/7/{w}.webp {w}w" for w in (320, 512, 640))
    }
    assert doc["exif"] == {"taken_at": "2008-10-22T16:28:39", "camera_make": "NIKON", "camera_model": "COOLPIX P6000"}
    assert doc["placeholder"]["type"] == "thumbhash"  # type: ignore[index]
    assert doc["spec_version"] == CONFIG.spec.version and doc["attempts"] == 1


def test_gps_is_kept_only_when_configured() -> None:
    world = World()
    world.service = PhotoService(
        world.sources, world.renditions, world.registry, ServiceConfig(**{**CONFIG.__dict__, "keep_gps": True})
    )
    world.service.handle(world.upload(1))
    assert world.doc()["exif"]["gps"] == {"lat": 43.467448, "lng": 11.885127}  # type: ignore[index]


def test_same_message_twice_is_a_no_op() -> None:
    world = World()
    event = world.upload(7)
    world.service.handle(event)
    first = world.doc()
    assert world.service.handle(event) is Outcome.DUPLICATE
    assert world.doc() == first and world.sources.downloads == 1


def test_older_finalize_after_newer_leaves_the_newer() -> None:
    world = World()
    old = world.upload(1)
    new = world.upload(2, OTHER)
    assert world.service.handle(new) is Outcome.REGISTERED
    assert world.service.handle(old) is Outcome.STALE
    doc = world.doc()
    assert doc["source"]["generation"] == 2 and doc["width"] == 450  # type: ignore[index]
    assert world.renditions.list_generations(PID) == {2}


def test_overwrite_removes_superseded_renditions_and_its_delete_does_not_deregister() -> None:
    world = World()
    world.service.handle(world.upload(1))
    world.service.handle(world.upload(2, OTHER))
    assert world.renditions.list_generations(PID) == {2}
    assert world.service.handle(world.delete_event(1, overwritten_by=2)) is Outcome.IGNORED
    assert world.doc()["source"]["generation"] == 2  # type: ignore[index]


def test_overwrite_delete_arriving_first_changes_nothing() -> None:
    world = World()
    world.service.handle(world.upload(1))
    assert world.service.handle(world.delete_event(1, overwritten_by=2)) is Outcome.IGNORED
    assert world.doc()["status"] == "ready"  # type: ignore[index]


def test_delete_of_current_generation_deregisters() -> None:
    world = World()
    world.service.handle(world.upload(3))
    world.sources.delete(BUCKET, NAME)
    assert world.service.handle(world.delete_event(3)) is Outcome.DEREGISTERED
    assert world.doc() is None and world.renditions.objects == {}
    assert world.service.handle(world.delete_event(3)) is Outcome.STALE  # duplicate delete is harmless


def test_delete_of_an_older_generation_keeps_the_newer_document() -> None:
    world = World()
    world.service.handle(world.upload(5))
    assert world.service.handle(world.delete_event(4)) is Outcome.STALE
    assert world.doc()["status"] == "ready"  # type: ignore[index]


def test_broken_photo_is_recorded_as_failed_and_acked() -> None:
    world = World()
    assert world.service.handle(world.upload(1, PHOTO[: len(PHOTO) // 3])) is Outcome.FAILED
    doc = world.doc()
    assert doc["status"] == "failed" and doc["error"]["code"] == "corrupt_image"  # type: ignore[index]
    assert doc["error"]["reason"]  # type: ignore[index]
    assert world.renditions.objects == {}


def test_text_named_jpg_fails_with_unsupported_format() -> None:
    world = World()
    assert world.service.handle(world.upload(1, b"hello, I am not a photo")) is Outcome.FAILED
    assert world.doc()["error"]["code"] == "unsupported_format"  # type: ignore[index]


def test_transient_failure_raises_records_the_attempt_and_a_retry_succeeds() -> None:
    world = World()
    event = world.upload(1)
    world.renditions.fail_puts = 1
    with pytest.raises(TransientError):
        world.service.handle(event)
    doc = world.doc()
    assert doc["status"] == "processing" and doc["last_error"]["code"] == "dependency_unavailable"  # type: ignore[index]
    assert world.service.handle(event) is Outcome.REGISTERED
    doc = world.doc()
    assert doc["status"] == "ready" and doc["attempts"] == 2  # type: ignore[index]


def test_finalize_of_a_generation_already_deleted_registers_nothing() -> None:
    world = World()
    event = world.upload(1)
    world.sources.delete(BUCKET, NAME)
    world.service.handle(world.delete_event(1))  # the delete is processed first
    assert world.service.handle(event) is Outcome.STALE
    assert world.doc() is None and world.renditions.objects == {}


def test_delete_while_rendering_withdraws_the_renditions() -> None:
    holder: dict[str, World] = {}

    def render_then_delete(data: bytes, spec: RenditionSpec, limits: Limits) -> RenderResult:
        result = render(data, spec, limits)
        world = holder["w"]
        world.sources.delete(BUCKET, NAME)
        world.service.handle(world.delete_event(1))
        return result

    world = World(render_then_delete)
    holder["w"] = world
    assert world.service.handle(world.upload(1)) is Outcome.STALE
    assert world.doc() is None and world.renditions.objects == {}


def test_events_from_another_bucket_are_ignored() -> None:
    world = World()
    event = ObjectEvent(EventKind.FINALIZE, "OBJECT_FINALIZE", "renditions", f"{PID}/1/320.webp", 1)
    assert world.service.handle(event) is Outcome.IGNORED
    assert world.registry.docs == {}


def test_the_live_lane_leaves_an_upload_queued_on_the_bulk_lane_to_the_bulk_lane() -> None:
    world = World()
    event = world.upload(7)
    world.sources.object_metadata[(BUCKET, NAME)] = {"gallery-lane": "bulk"}  # what `gallery import` writes
    # The bucket's own notification, on the live lane: acknowledged, nothing written, nothing downloaded.
    assert world.service.handle(event) is Outcome.IGNORED
    assert world.doc() is None and world.sources.downloads == 0
    # The import's notification on the bulk lane renders it.
    bulk = PhotoService(
        world.sources, world.renditions, world.registry, ServiceConfig(**{**CONFIG.__dict__, "lane": "bulk"})
    )
    assert bulk.handle(ObjectEvent(**{**event.__dict__, "queued_on": "bulk"})) is Outcome.REGISTERED
    assert world.doc()["status"] == "ready"  # type: ignore[index]


def test_a_tool_may_still_queue_a_bulk_upload_on_the_live_lane() -> None:
    world = World()
    event = world.upload(7)
    world.sources.object_metadata[(BUCKET, NAME)] = {"gallery-lane": "bulk"}
    # `gallery retry ID` of one imported photo (live by default) is rendered on the live lane.
    assert world.service.handle(ObjectEvent(**{**event.__dict__, "queued_on": "live"})) is Outcome.REGISTERED


def test_each_settled_photo_logs_one_outcome_line_for_the_log_based_metrics(caplog: pytest.LogCaptureFixture) -> None:
    """Terraform's log-based metrics count photos and their render times from these JSON fields."""
    world = World()
    caplog.set_level("INFO", logger="gallery.service")
    world.service.handle(world.upload(1))
    world.sources.put(BUCKET, "broken.jpg", 2, b"not an image")
    world.service.handle(ObjectEvent(EventKind.FINALIZE, "OBJECT_FINALIZE", BUCKET, "broken.jpg", 2))
    outcomes = [r.json_fields for r in caplog.records if "outcome" in getattr(r, "json_fields", {})]
    assert [(f["outcome"], f.get("error_code")) for f in outcomes] == [
        ("ready", None),
        ("failed", "unsupported_format"),
    ]
    assert outcomes[0]["render_ms"] > 0


def test_the_ready_document_times_each_stage_of_the_delivery() -> None:
    world = World()
    world.service.handle(world.upload(1))
    timings = world.registry.docs[PID]["timings"]
    stages = ("begin_ms", "download_ms", "admitted_render_ms", "store_ms")
    assert set(timings) == {*stages, "decode_ms", "render_ms", "total_ms"}
    assert 0 < timings["decode_ms"] < timings["render_ms"] <= timings["admitted_render_ms"]
    assert sum(timings[s] for s in stages) <= timings["total_ms"] + 0.5  # rounding
