"""A video upload through the service (in-memory ports, the real engine on clips made here): a ready gallery item
with its poster renditions, its facts and its moving preview; a broken one failed with its reason."""

from __future__ import annotations

from dataclasses import replace

from gallery.engine import render
from gallery.ids import photo_id
from gallery.model import EventKind, Limits, ObjectEvent, RenditionSpec, VideoLimits, VideoSpec
from gallery.optimize_plan import OptimizePlan, optimize_spec
from gallery.service import Outcome, PhotoService, ServiceConfig
from tests.unit.fakes import FakeQueue, FakeRegistry, FakeRenditions, FakeSources
from tests.video_files import Clip, make_video, truncated

BUCKET, NAME = "uploads", "roll/IMG_0042.MOV"
PID = photo_id(BUCKET, NAME)
SPEC = RenditionSpec(widths=(160, 320), formats=("jpeg",))
CONFIG = ServiceConfig(uploads_bucket=BUCKET, spec=SPEC, limits=Limits(), url_prefix="https://cdn.example/r")


def _service(config: ServiceConfig = CONFIG) -> tuple[PhotoService, FakeSources, FakeRenditions, FakeRegistry]:
    sources, renditions, registry = FakeSources(), FakeRenditions(), FakeRegistry()
    return (
        PhotoService(sources, renditions, registry, config, render, requeue=FakeQueue()),
        sources,
        renditions,
        registry,
    )


def _upload(sources: FakeSources, data: bytes, generation: int = 3) -> ObjectEvent:
    sources.put(BUCKET, NAME, generation, data)
    return ObjectEvent(EventKind.FINALIZE, "OBJECT_FINALIZE", BUCKET, NAME, generation, "video/quicktime", len(data))


def test_a_video_upload_is_a_ready_gallery_item_with_poster_facts_and_preview() -> None:
    service, sources, renditions, registry = _service()
    data = make_video(Clip(codec="hevc", container="mov", width=240, height=320, rotation=-90, audio=True))
    assert service.handle(_upload(sources, data)) is Outcome.REGISTERED
    doc = registry.get(PID)
    assert doc is not None and doc["status"] == "ready"
    assert (doc["media_type"], doc["format"], doc["width"], doc["height"]) == ("video", "mov", 240, 320)
    assert doc["video"]["codec"] == "hevc" and doc["video"]["has_audio"] is True
    assert doc["video"]["rotation"] == 90 and doc["video"]["duration_s"] > 1.9
    motion = doc["motion"]
    assert motion["url"] == f"https://cdn.example/r/{PID}/3/motion.mp4"
    assert (motion["width"], motion["height"], motion["content_type"]) == (240, 320, "video/mp4")
    assert renditions.objects[f"{PID}/3/motion.mp4"][1] == "video/mp4"
    assert len(renditions.objects[f"{PID}/3/motion.mp4"][0]) == motion["bytes"]
    assert [r["width"] for r in doc["renditions"]] == [160, 240]
    assert doc["placeholder"]["value"] and doc["src"].endswith("/240.jpg")


def test_a_photo_document_says_it_is_a_photo_and_has_no_motion() -> None:
    from tests.paths import SAMPLES

    service, sources, _, registry = _service()
    data = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()
    assert service.handle(_upload(sources, data)) is Outcome.REGISTERED
    doc = registry.get(PID)
    assert doc is not None
    assert (doc["media_type"], doc["video"], doc["motion"]) == ("photo", None, None)


def test_a_video_over_the_photo_byte_limit_is_still_taken_up_to_the_video_limit() -> None:
    data = make_video(Clip(seconds=1))
    limits = replace(Limits(), max_bytes=1000, video=VideoLimits(max_bytes=len(data)))
    service, sources, _, registry = _service(replace(CONFIG, limits=limits))
    assert service.handle(_upload(sources, data)) is Outcome.REGISTERED
    too_big = replace(limits, video=VideoLimits(max_bytes=len(data) - 1))
    service, sources, _, registry = _service(replace(CONFIG, limits=too_big))
    assert service.handle(_upload(sources, data)) is Outcome.FAILED
    doc = registry.get(PID)
    assert doc is not None and doc["error"]["code"] == "too_large"


def test_a_broken_video_is_failed_with_its_reason_and_nothing_stored() -> None:
    service, sources, renditions, registry = _service()
    data = truncated(make_video(Clip(container="mov", seconds=2)), 0.4)
    assert service.handle(_upload(sources, data)) is Outcome.FAILED
    doc = registry.get(PID)
    assert doc is not None and doc["status"] == "failed"
    assert doc["error"]["code"] == "corrupt_video" and doc["error"]["reason"]
    assert doc["motion"] is None and not renditions.objects


def test_videos_turned_off_fail_as_unsupported_format() -> None:
    config = replace(CONFIG, spec=replace(SPEC, video=VideoSpec(enabled=False)))
    service, sources, _, registry = _service(config)
    assert service.handle(_upload(sources, make_video(Clip(seconds=1)))) is Outcome.FAILED
    doc = registry.get(PID)
    assert doc is not None and doc["error"]["code"] == "unsupported_format"


def test_the_optimize_pass_renders_a_videos_poster_without_its_preview() -> None:
    plan = OptimizePlan(optimize_spec(SPEC, quality_target=70, avif_effort=0), fallback_max_width=160)
    service, sources, renditions, registry = _service(replace(CONFIG, optimize=plan))
    event = _upload(sources, make_video(Clip(seconds=1.5)))
    assert service.handle(event) is Outcome.REGISTERED
    motion = renditions.objects[f"{PID}/3/motion.mp4"]
    task = replace(event, task="optimize")
    assert service.handle(task) is Outcome.OPTIMIZED
    doc = registry.get(PID)
    assert doc is not None and doc["optimization"]["status"] == "done"
    assert {r["format"] for r in doc["renditions"]} == {"avif", "jpeg"}
    assert doc["motion"]["url"].endswith("/motion.mp4")  # the live render's preview stays
    assert renditions.objects[f"{PID}/3/motion.mp4"] == motion
