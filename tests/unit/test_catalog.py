"""The read side's rules, through the in-memory catalog (the Firestore one runs the same checks in integration)."""

from __future__ import annotations

from typing import Any

import pytest

from gallery.catalog import changes, count_media, count_statuses, duration_text, media_kind
from gallery.model import PhotoStatus
from gallery.registry_rules import is_done
from tests.catalog_contract import check_catalog, doc
from tests.unit.fakes import FakeCatalog


def test_the_in_memory_catalog_answers_like_every_catalog() -> None:
    catalog = FakeCatalog()

    def store(pid: str, body: dict[str, Any]) -> None:
        catalog.docs[pid] = body
        catalog.changed()

    check_catalog(catalog, store)


def test_an_unknown_status_counts_as_processing() -> None:
    counts = count_statuses([{"status": "ready"}, {"status": "weird"}, {}])
    assert counts[PhotoStatus.READY] == 1 and counts[PhotoStatus.PROCESSING] == 2


def test_changes_are_upserts_and_removes() -> None:
    before = {"a": {"status": "processing"}, "b": {"status": "ready"}}
    after = {"a": {"status": "ready"}, "c": {"status": "processing"}}
    assert sorted((kind, pid) for kind, pid, _ in changes(before, after)) == [
        ("remove", "b"),
        ("upsert", "a"),
        ("upsert", "c"),
    ]


def test_settled_is_ready_or_failed_of_that_generation_and_spec() -> None:
    ready = {**doc("a", "ready", 1), "spec_version": "v1"}  # generation 2
    assert is_done(ready, 2, "v1")
    assert not is_done(ready, 2, "v2") and not is_done(ready, 3, "v1")
    assert is_done({**ready, "status": "failed"}, 2, "v1")
    assert not is_done({**ready, "status": "retrying"}, 2, "v1")
    assert not is_done({**ready, "status": "processing"}, 2, "v1")
    assert not is_done(None, 2, "v1")
    assert [s.value for s in PhotoStatus if s.settled] == ["ready", "failed"]


READY = {"status": "ready"}
VIDEO = {**READY, "media_type": "video", "video": {"duration_s": 7.2}}
STILL = {**READY, "media_type": "photo", "live_photo": {"video_id": "m", "video_name": "roll/IMG_1.MOV"}}
MOTION = {**VIDEO, "video": {"duration_s": 2.5}, "part_of": "s", "live_photo": {"still_id": "s"}}


@pytest.mark.parametrize(
    ("doc", "kind"),
    [
        ({**READY, "media_type": "photo"}, "photo"),
        (READY, "photo"),  # ready before videos were taken: a photo
        (VIDEO, "video 0:07"),
        ({**VIDEO, "video": {"duration_s": 59.5}}, "video 1:00"),
        ({**VIDEO, "video": {"duration_s": 3723.0}}, "video 1:02:03"),
        ({**VIDEO, "video": None}, "video"),  # a poster preview painted before the video's facts
        (STILL, "live photo"),
        (MOTION, "live motion"),
        ({**MOTION, "part_of": None, "live_photo": None}, "video 0:03"),  # unlinked: a video of its own again
        ({**STILL, "live_photo": None, "motion": None}, "photo"),
        ({"status": "processing"}, ""),  # not rendered yet: unknown
        ({"status": "failed", "error": {"code": "corrupt_video"}}, ""),
    ],
)
def test_media_kind_is_what_gallery_ls_shows(doc: dict[str, Any], kind: str) -> None:
    assert media_kind(doc) == kind


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0:00"), (0.4, "0:00"), (0.5, "0:01"), (7.2, "0:07"), (65, "1:05"), (600.0, "10:00"), (3600, "1:00:00")],
)
def test_duration_text_is_a_players(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize("seconds", [None, "7", -1.0, float("nan"), True])
def test_an_unknown_duration_has_no_text(seconds: Any) -> None:
    assert duration_text(seconds) == ""


def test_media_counts_are_videos_and_linked_live_photos() -> None:
    docs = [
        {**READY, "media_type": "photo"},
        READY,
        VIDEO,
        STILL,
        MOTION,
        {**MOTION, "part_of": None},  # unlinked: a video, no Live Photo
        {**MOTION, "part_of": ""},  # not an id
        {"status": "processing"},
    ]
    assert count_media(docs) == {"videos": 4, "live_photos": 1}
    assert count_media([]) == {"videos": 0, "live_photos": 0}
