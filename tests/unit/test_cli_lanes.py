"""Which topic a command publishes to, per lane (gallery_cli.lanes)."""

from __future__ import annotations

import pytest

from gallery_cli.lanes import NoTopicError, publish_target, retry_lane
from gallery_cli.settings import ToolSettings


def _settings(live: str = "uploads", bulk: str = "bulk") -> ToolSettings:
    return ToolSettings(google_cloud_project="p", pubsub_topic=live, pubsub_bulk_topic=bulk)


def test_each_lane_publishes_to_its_own_topic_as_a_full_path() -> None:
    assert publish_target(_settings(), "live") == "projects/p/topics/uploads"
    assert publish_target(_settings(), "bulk") == "projects/p/topics/bulk"
    assert publish_target(_settings(bulk="projects/q/topics/b"), "bulk") == "projects/q/topics/b"


def test_an_explicit_topic_wins_over_the_lanes() -> None:
    assert publish_target(_settings(), "bulk", "other") == "projects/p/topics/other"
    assert publish_target(_settings(), "bulk", "  ") == "projects/p/topics/bulk"


def test_a_lane_without_a_topic_is_refused_with_the_setting_to_set() -> None:
    with pytest.raises(NoTopicError, match="PUBSUB_BULK_TOPIC"):
        publish_target(_settings(bulk=""), "bulk")
    with pytest.raises(NoTopicError, match="PUBSUB_TOPIC"):
        publish_target(_settings(live=""), "live")
    # Never falls back to the other lane: bulk work must not land on the live lane unasked.
    assert publish_target(_settings(live=""), "bulk") == "projects/p/topics/bulk"


def test_retry_of_one_named_photo_stays_live_and_more_goes_bulk() -> None:
    assert retry_lane(1, every_failed=False) == "live"
    assert retry_lane(2, every_failed=False) == "bulk"
    assert retry_lane(0, every_failed=True) == "bulk"
    assert retry_lane(1, every_failed=True) == "bulk"
