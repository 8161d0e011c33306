"""Live Photos: a still and a short video of the same name become one gallery item, whatever order they arrive in,
and deleting either part leaves the other on its own (in-memory ports, the real engine, clips made here)."""

from __future__ import annotations

import pytest

from gallery.engine import render
from gallery.ids import photo_id
from gallery.live_photo import linked_documents, partners, role, shown_in_gallery, sibling_prefix, unlinked_document
from gallery.model import EventKind, Limits, ObjectEvent, RenditionSpec
from gallery.service import Outcome, PhotoService, ServiceConfig
from tests.paths import SAMPLES
from tests.unit.fakes import FakeQueue, FakeRegistry, FakeRenditions, FakeSources
from tests.video_files import Clip, make_video

BUCKET = "uploads"
STILL, MOTION = "roll/IMG_0007.HEIC", "roll/IMG_0007.MOV"
STILL_ID, MOTION_ID = photo_id(BUCKET, STILL), photo_id(BUCKET, MOTION)
CONFIG = ServiceConfig(
    uploads_bucket=BUCKET,
    spec=RenditionSpec(widths=(160, 320), formats=("jpeg",)),
    limits=Limits(),
    url_prefix="https://cdn.example/r",
)
HEIC = (SAMPLES / "iphone_13_pro_max.heic").read_bytes()
MOV = make_video(
    Clip(codec="hevc", container="mov", seconds=2.5, metadata={"com.apple.quicktime.content.identifier": "A1B2"})
)


class Roll:
    def __init__(self) -> None:
        self.sources, self.renditions, self.registry = FakeSources(), FakeRenditions(), FakeRegistry()
        self.service = PhotoService(self.sources, self.renditions, self.registry, CONFIG, render, requeue=FakeQueue())
        self.generation = 10

    def upload(self, name: str, data: bytes) -> Outcome:
        self.generation += 1
        self.sources.put(BUCKET, name, self.generation, data)
        event = ObjectEvent(EventKind.FINALIZE, "OBJECT_FINALIZE", BUCKET, name, self.generation, None, len(data))
        return self.service.handle(event)

    def delete(self, name: str) -> Outcome:
        generation = self.sources.objects[(BUCKET, name)][0]
        self.sources.delete(BUCKET, name)
        return self.service.handle(ObjectEvent(EventKind.DELETE, "OBJECT_DELETE", BUCKET, name, generation))

    def doc(self, pid: str) -> dict:  # type: ignore[type-arg]
        doc = self.registry.get(pid)
        assert doc is not None
        return doc


def _assert_one_item(roll: Roll) -> None:
    still, motion = roll.doc(STILL_ID), roll.doc(MOTION_ID)
    assert still["media_type"] == "photo" and still["format"] == "heif"
    assert still["motion"] == motion["motion"] and still["motion"]["url"].endswith("/motion.mp4")
    assert still["live_photo"]["video_id"] == MOTION_ID
    assert still["live_photo"]["video_name"] == MOTION
    assert still["live_photo"]["content_identifier"] == "A1B2"
    assert motion["part_of"] == STILL_ID and motion["live_photo"] == {"still_id": STILL_ID, "still_name": STILL}
    assert shown_in_gallery(still) and not shown_in_gallery(motion)


@pytest.mark.parametrize("order", [(STILL, MOTION), (MOTION, STILL)])
def test_a_still_and_its_video_become_one_item_in_either_order(order: tuple[str, str]) -> None:
    roll = Roll()
    data = {STILL: HEIC, MOTION: MOV}
    for name in order:
        assert roll.upload(name, data[name]) is Outcome.REGISTERED
    _assert_one_item(roll)


def test_a_redelivery_links_them_if_the_first_delivery_could_not() -> None:
    roll = Roll()
    roll.upload(STILL, HEIC)
    roll.upload(MOTION, MOV)
    roll.registry.unlink_live_photo(MOTION_ID, STILL_ID)
    roll.registry.unlink_live_photo(STILL_ID, MOTION_ID)
    assert shown_in_gallery(roll.doc(MOTION_ID))
    generation = roll.sources.objects[(BUCKET, MOTION)][0]
    again = ObjectEvent(EventKind.FINALIZE, "OBJECT_FINALIZE", BUCKET, MOTION, generation)
    assert roll.service.handle(again) is Outcome.DUPLICATE
    _assert_one_item(roll)


def test_deleting_the_video_leaves_the_still_a_photo() -> None:
    roll = Roll()
    roll.upload(STILL, HEIC)
    roll.upload(MOTION, MOV)
    assert roll.delete(MOTION) is Outcome.DEREGISTERED
    still = roll.doc(STILL_ID)
    assert still["motion"] is None and still["live_photo"] is None
    assert roll.registry.get(MOTION_ID) is None


def test_deleting_the_still_leaves_the_video_an_item_of_its_own() -> None:
    roll = Roll()
    roll.upload(MOTION, MOV)
    roll.upload(STILL, HEIC)
    assert roll.delete(STILL) is Outcome.DEREGISTERED
    motion = roll.doc(MOTION_ID)
    assert motion["part_of"] is None and motion["live_photo"] is None and shown_in_gallery(motion)
    assert motion["motion"]["url"].endswith("/motion.mp4")


def test_replacing_the_video_links_the_new_generation() -> None:
    roll = Roll()
    roll.upload(STILL, HEIC)
    roll.upload(MOTION, MOV)
    roll.upload(MOTION, make_video(Clip(codec="h264", container="mov", seconds=2)))
    generation = roll.doc(MOTION_ID)["source"]["generation"]
    still = roll.doc(STILL_ID)
    assert still["live_photo"]["video_generation"] == generation
    assert f"/{generation}/motion.mp4" in still["motion"]["url"]
    assert roll.doc(MOTION_ID)["part_of"] == STILL_ID


def test_a_long_video_of_the_same_name_stays_a_video() -> None:
    roll = Roll()
    roll.upload(STILL, HEIC)
    roll.upload(MOTION, make_video(Clip(seconds=11, fps=10)))
    assert roll.doc(STILL_ID)["live_photo"] is None and roll.doc(MOTION_ID)["part_of"] is None


def test_names_in_other_folders_or_with_other_stems_are_not_partners() -> None:
    listed = ["roll/IMG_0007.HEIC", "roll/IMG_0007.MOV", "roll/IMG_0007.mp4", "roll/IMG_0007.edited.MOV"]
    assert partners("roll/IMG_0007.HEIC", listed) == ["roll/IMG_0007.MOV", "roll/IMG_0007.mp4"]
    assert partners("roll/IMG_0007.MOV", [*listed, "roll/IMG_0007.JPG"]) == ["roll/IMG_0007.HEIC", "roll/IMG_0007.JPG"]
    assert partners("other/IMG_0007.MOV", listed) == []
    assert sibling_prefix("roll/IMG_0007.HEIC") == "roll/IMG_0007."
    assert sibling_prefix("roll.d/README") is None
    assert (role("a.heic"), role("a.JPG"), role("a.mov"), role("a.png")) == ("still", "still", "motion", None)


def test_only_two_ready_items_of_the_right_kinds_link() -> None:
    still = {"status": "ready", "media_type": "photo", "source": {"name": STILL}}
    motion = {"status": "ready", "media_type": "video", "video": {"duration_s": 2.9}, "motion": {"url": "m"}}
    assert linked_documents(still, motion, "s", "m") is not None
    assert linked_documents({**still, "status": "processing"}, motion, "s", "m") is None
    assert linked_documents(still, {**motion, "media_type": "photo"}, "s", "m") is None
    assert linked_documents(still, None, "s", "m") is None
    linked = linked_documents(still, motion, "s", "m")
    assert linked is not None
    assert linked_documents(*linked, "s", "m") is None  # already linked: nothing to write
    assert unlinked_document(linked[0], "other") is None
