"""Pure parts of the `gallery backfill`, `gallery import` and `gallery drop` commands."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gallery.events import finalize_notification, parse_message
from gallery.model import EventKind
from gallery_cli.app import MEDIA_SUFFIXES, PHOTO_SUFFIXES, VIDEO_SUFFIXES
from gallery_cli.backfill import RateLimiter, topic_path
from gallery_cli.base import unreachable_emulators
from gallery_cli.drop import _collect as collect_drop
from gallery_cli.s3import import Existing, decide, destination_name, gcs_md5, parse_s3_url, s3_md5
from gallery_cli.s3import import _list_source as list_s3_source
from gallery_cli.status import Pending, WaitResult, classify, is_settled

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
SPEC = "v1-abc"


def _doc(generation: int, status: str = "ready", spec: str = SPEC, age: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {
        "source": {"generation": generation},
        "status": status,
        "spec_version": spec,
        "updated_at": NOW - timedelta(seconds=age),
        **extra,
    }


LEASED = NOW + timedelta(seconds=30)
EXPIRED = NOW - timedelta(seconds=1)
DEAD = {"code": "dead_lettered", "reason": "x"}


@pytest.mark.parametrize(
    ("doc", "state"),
    [
        (None, "unregistered"),
        (_doc(5), "done"),
        (_doc(5, "failed"), "done"),
        (_doc(5, spec="v0-old"), "spec_outdated"),
        (_doc(5, "failed", spec="v0-old"), "spec_outdated"),
        (_doc(4), "older_generation"),
        (_doc(6), "newer"),
        (_doc(5, "processing", age=10), "in_progress"),  # written before leases: by age
        (_doc(5, "processing", age=3600), "stuck"),
        (_doc(5, "processing", age=3600, lease_expires_at=LEASED, attempts=1), "in_progress"),  # a long render
        (_doc(5, "processing", age=10, lease_expires_at=EXPIRED, attempts=1), "stuck"),  # its delivery died
        (_doc(5, "processing", age=3600, lease_expires_at=EXPIRED, attempts=5), "over_cap"),
        (_doc(5, "retrying", age=3600, attempts=2), "stuck"),
        (_doc(5, "failed", error=DEAD, attempts=1), "dead_lettered"),  # no verdict on the photo
        (_doc(5, "failed", error=DEAD, attempts=5), "over_cap"),
        (_doc(5, "failed", error={"code": "too_many_attempts"}, attempts=5), "done"),
        (_doc(5, "failed", spec="v0-old", error={"code": "corrupt_image"}, attempts=5), "over_cap"),
        ({"status": "ready"}, "older_generation"),
    ],
)
def test_classify(doc: dict[str, Any] | None, state: str) -> None:
    assert classify(doc, 5, SPEC, now=NOW, stale_after_seconds=600, max_attempts=5) == state


def test_settled_means_done_or_superseded() -> None:
    assert is_settled(_doc(5), 5, SPEC)
    assert is_settled(_doc(6, "processing"), 5, SPEC)
    assert not is_settled(_doc(5, "processing"), 5, SPEC)
    assert not is_settled(None, 5, SPEC)


def test_finalize_notification_is_what_the_function_parses() -> None:
    resource = {
        "kind": "storage#object",
        "bucket": "gallery-uploads",
        "name": "holiday/beach.jpg",
        "generation": "1712345678901234",
        "contentType": "image/jpeg",
        "size": "12345",
        "updated": "2025-01-01T12:00:00.123Z",
    }
    data, attributes = finalize_notification(resource, "bulk")
    assert attributes == {
        "galleryQueuedOn": "bulk",
        "eventType": "OBJECT_FINALIZE",
        "bucketId": "gallery-uploads",
        "objectId": "holiday/beach.jpg",
        "objectGeneration": "1712345678901234",
        "payloadFormat": "JSON_API_V1",
        "eventTime": "2025-01-01T12:00:00.123Z",
    }
    event = parse_message({"data": base64.b64encode(data).decode(), "attributes": attributes, "messageId": "1"})
    assert event.kind is EventKind.FINALIZE
    assert (event.bucket, event.name, event.generation) == ("gallery-uploads", "holiday/beach.jpg", 1712345678901234)
    assert (event.content_type, event.size) == ("image/jpeg", 12345)


def test_rate_limiter_paces_without_bursts() -> None:
    now = [100.0]
    limiter = RateLimiter(4, clock=lambda: now[0])
    assert [limiter.delay() for _ in range(4)] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    now[0] += 10  # idle time is not banked into a burst
    assert limiter.delay() == 0.0
    assert limiter.delay() == pytest.approx(0.25)
    assert RateLimiter(0).delay() == 0.0


def test_topic_path() -> None:
    assert topic_path("uploads", "p") == "projects/p/topics/uploads"
    assert topic_path("projects/q/topics/t", "p") == "projects/q/topics/t"


def test_s3_names_and_skip_rules() -> None:
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b/")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert destination_name("2024/trip/a.jpg", "2024/trip/", "imported/") == "imported/a.jpg"
    assert destination_name("2024/trip/a.jpg", "2024/tr", "") == "trip/a.jpg"
    assert destination_name("a.jpg", "", "x/") == "x/a.jpg"

    md5 = hashlib.md5(b"photo").hexdigest()
    gcs = base64.b64encode(bytes.fromhex(md5)).decode()
    assert s3_md5(f'"{md5}"') == md5
    assert s3_md5('"0123456789abcdef0123456789abcdef-3"') is None  # multipart ETag is no MD5
    assert gcs_md5(gcs) == md5
    same = Existing(size=5, md5=md5, generation=7)
    assert decide(5, f'"{md5}"', None, 100) == ("copy", None)
    assert decide(5, f'"{md5}"', same, 100) == ("skip", "already present")
    assert decide(5, '"abc-2"', same, 100) == ("skip", "already present")  # not comparable: size decides
    # An import never overwrites: a different object under the same name is reported, not replaced.
    for size, etag in ((6, f'"{md5}"'), (5, '"' + "0" * 32 + '"')):
        action, reason = decide(size, etag, same, 100)
        assert action == "skip" and reason and reason.startswith("already present, differs")
    # Past MAX_BYTES: skipped whether or not it exists, so it is never downloaded.
    assert decide(101, f'"{md5}"', None, 100) == ("skip", "larger than MAX_BYTES (101 > 100 bytes)")
    assert decide(100, f'"{md5}"', None, 100) == ("copy", None)


def test_unreachable_emulators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    assert unreachable_emulators(["storage", "firestore", "pubsub"], timeout=0.2) == [
        "STORAGE_EMULATOR_HOST=http://127.0.0.1:1",
        "FIRESTORE_EMULATOR_HOST=127.0.0.1:1",
    ]


def test_wait_hint_names_a_spec_mismatch() -> None:
    assert WaitResult().hint(SPEC) is None
    hint = WaitResult(pending=[Pending("p", 1, "a.jpg")], other_spec={"v1-other": 1}).hint(SPEC)
    assert hint is not None and "v1-other (1)" in hint and SPEC in hint


def test_drop_and_import_take_photos_and_videos(tmp_path: Path) -> None:
    assert {".mp4", ".mov", ".m4v", ".webm", ".mkv"} == VIDEO_SUFFIXES
    assert MEDIA_SUFFIXES == PHOTO_SUFFIXES | VIDEO_SUFFIXES and ".heic" in PHOTO_SUFFIXES
    names = ["a.jpg", "roll/IMG_1.HEIC", "roll/IMG_1.MOV", "clip.mp4", "b.webm", "c.mkv", "d.m4v", "notes.txt"]
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    picked = {p.relative_to(tmp_path).as_posix() for p in collect_drop([tmp_path])}
    assert picked == set(names) - {"notes.txt"}

    class Pages:
        def paginate(self, **_: Any) -> list[dict[str, Any]]:
            return [{"Contents": [{"Key": name} for name in [*names, "roll/"]]}]

    class S3:
        def get_paginator(self, _: str) -> Pages:
            return Pages()

    listed = {o["Key"] for o in list_s3_source(S3(), "s3://b/", "b", "", False)}
    assert listed == set(names) - {"notes.txt"}


def test_import_holds_each_kind_of_file_to_its_own_byte_limit() -> None:
    from gallery_cli.s3import import byte_limit

    limit = byte_limit(64, 256)
    assert (limit("roll/IMG_1.HEIC"), limit("roll/IMG_1.MOV"), limit("clip.mp4"), limit("a.webm")) == (
        64,
        256,
        256,
        256,
    )
