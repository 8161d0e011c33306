"""What `gallery status` computes: percentiles, throughput, failures by code, the lanes and the JSON shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gallery.errors import TransientError
from gallery.model import PhotoStatus, QueueFigures
from gallery.pipeline_status import Lane, collect, configured_lanes, percentile, photo_figures
from gallery_cli.status_command import media_text
from tests.unit.fakes import FakeCatalog

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIVE = "projects/p/subscriptions/live"
BULK = "projects/p/subscriptions/bulk"
DEAD = "projects/p/subscriptions/dead"


def photo(status: str, minutes_ago: float, render_ms: float | None = None, code: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"status": status, "updated_at": NOW - timedelta(minutes=minutes_ago)}
    doc["created_at"] = doc["updated_at"]
    if render_ms is not None:
        doc["timings"] = {"render_ms": render_ms, "total_ms": render_ms + 10}
    if code:
        doc["error"] = {"code": code, "reason": "because"}
    return doc


class StubQueues:
    source = "stub"

    def __init__(self, figures: dict[str, QueueFigures] | Exception) -> None:
        self._figures = figures
        self.asked: list[list[str]] = []

    def figures(self, subscriptions: Sequence[str]) -> dict[str, QueueFigures]:
        self.asked.append(list(subscriptions))
        if isinstance(self._figures, Exception):
            raise self._figures
        return {name: self._figures.get(name, QueueFigures()) for name in subscriptions}


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(100, -1, -1)]  # 100..0, any order
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    assert percentile([100.0, 200.0], 50) == 150.0
    assert percentile([100.0, 200.0], 95) == 195.0


def test_lanes_are_the_configured_ones_in_lane_order() -> None:
    assert configured_lanes({"bulk": BULK, "live": LIVE}) == [Lane("live", LIVE), Lane("bulk", BULK)]
    assert configured_lanes({"live": LIVE, "bulk": ""}) == [Lane("live", LIVE)]


def test_photo_figures_from_the_settled_documents_of_the_window() -> None:
    settled = [
        photo("ready", 1, 100.0),
        photo("ready", 2, 300.0),
        photo("ready", 3),  # no timings: counted, not timed
        photo("failed", 4, code="corrupt_image"),
        photo("failed", 5, code="corrupt_image"),
        photo("failed", 6, code="limit_exceeded"),
    ]
    counts = {PhotoStatus.READY: 10, PhotoStatus.FAILED: 4, PhotoStatus.PROCESSING: 2, PhotoStatus.RETRYING: 0}
    figures = photo_figures(counts, settled, {"limit_exceeded": 1, "corrupt_image": 3}, window_minutes=15)
    assert figures.by_status == {"processing": 2, "ready": 10, "failed": 4, "retrying": 0}
    assert (figures.settled, figures.ready, figures.failed) == (6, 3, 3)
    assert figures.per_minute == 6 / 15
    assert (figures.render_ms_samples, figures.render_ms_p50, figures.render_ms_p95) == (2, 200.0, 290.0)
    assert list(figures.failures_by_code.items()) == [("corrupt_image", 3), ("limit_exceeded", 1)]
    assert figures.recent_failures_by_code == {"corrupt_image": 2, "limit_exceeded": 1}


def test_collect_reads_the_lanes_dead_letters_and_photos_into_the_documented_json() -> None:
    catalog = FakeCatalog(
        {
            "a": {**photo("ready", 1, 120.0), "optimization_status": "done"},
            "b": {**photo("ready", 30, 999.0), "optimization_status": "pending"},  # outside the 15-minute window
            "c": photo("failed", 2, code="corrupt_image"),
            "d": photo("processing", 0.5),
            "e": {**photo("ready", 40), "media_type": "photo", "live_photo": {"video_id": "f"}},
            "f": {**photo("ready", 40), "media_type": "video", "part_of": "e"},
            "g": {**photo("ready", 40), "media_type": "video"},
        }
    )
    queues = StubQueues({LIVE: QueueFigures(2, 31.24), BULK: QueueFigures(0, 0.0), DEAD: QueueFigures(1, 600.0)})
    status = collect(catalog, queues, [Lane("live", LIVE), Lane("bulk", BULK)], DEAD, window_minutes=15, now=NOW)
    assert queues.asked == [[LIVE, BULK, DEAD]]
    assert status.as_json() == {
        "version": 1,
        "generated_at": "2026-05-01T12:00:00Z",
        "queue_source": "stub",
        "queue_error": None,
        "lanes": [
            {"name": "live", "subscription": LIVE, "backlog": 2, "oldest_unacked_age_seconds": 31.2},
            {"name": "bulk", "subscription": BULK, "backlog": 0, "oldest_unacked_age_seconds": 0.0},
        ],
        "dead_letters": {"subscription": DEAD, "count": 1, "oldest_unacked_age_seconds": 600.0},
        "photos": {
            "total": 7,
            "by_status": {"processing": 1, "ready": 5, "failed": 1, "retrying": 0},
            "optimization": {"pending": 1, "done": 1, "failed": 0},
            "media": {"videos": 2, "live_photos": 1},
        },
        "throughput": {
            "window_minutes": 15,
            "settled": 2,
            "ready": 1,
            "failed": 1,
            "per_minute": 0.13,
            "capped": False,
        },
        "render_ms": {"samples": 1, "p50": 120.0, "p95": 120.0},
        "failures": {"by_code": {"corrupt_image": 1}, "recent_by_code": {"corrupt_image": 1}},
    }


def test_an_unreadable_queue_source_leaves_the_photo_figures_and_says_why() -> None:
    catalog = FakeCatalog({"a": photo("ready", 1, 50.0)})
    queues = StubQueues(TransientError("no Monitoring access", code="permission_denied"))
    status = collect(catalog, queues, [Lane("live", LIVE)], "", now=NOW).as_json()
    assert status["queue_error"] == "permission_denied: no Monitoring access"
    assert status["lanes"] == [
        {"name": "live", "subscription": LIVE, "backlog": None, "oldest_unacked_age_seconds": None}
    ]
    assert status["dead_letters"] is None
    assert status["photos"]["by_status"]["ready"] == 1


def test_the_media_line_counts_videos_and_live_photos() -> None:
    assert media_text({"videos": 3, "live_photos": 1}) == "media: 3 videos, 1 Live Photo"
    assert media_text({"videos": 1, "live_photos": 0}) == "media: 1 video, 0 Live Photos"
    assert media_text({}) == "media: 0 videos, 0 Live Photos"
