"""The gallery page's feed (diffing the catalog's full sets of documents into events) and its HTTP API, on the
in-memory catalog."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from gallery.errors import TransientError
from gallery_web.feed import PhotoFeed, jsonable
from gallery_web.server import create_app, sse
from gallery_web.status_poller import StatusPoller
from tests.unit.fakes import FakeCatalog

WHEN = datetime(2025, 1, 1, 12, tzinfo=UTC)


def test_feed_diffs_snapshots_into_upserts_and_removes() -> None:
    feed = PhotoFeed(catalog=None)
    sub, start = feed.subscribe()
    assert start == []
    events = feed.apply({"a": {"status": "processing", "created_at": WHEN}, "b": {"status": "ready"}})
    assert sorted((kind, doc["photo_id"]) for kind, doc in events) == [("upsert", "a"), ("upsert", "b")]
    assert {doc["photo_id"]: doc.get("created_at") for _, doc in events} == {
        "a": "2025-01-01T12:00:00+00:00",
        "b": None,
    }

    events = feed.apply({"a": {"status": "ready", "created_at": WHEN}, "b": {"status": "ready"}})
    assert [(kind, doc["photo_id"], doc["status"]) for kind, doc in events] == [("upsert", "a", "ready")]
    events = feed.apply({"a": {"status": "ready", "created_at": WHEN}})
    assert events == [("remove", {"photo_id": "b"})]

    seen = []
    while (event := sub.get(timeout=0)) is not None:
        seen.append((event[0], event[1]["photo_id"]))
    assert seen.count(("upsert", "a")) == 2 and seen[-1] == ("remove", "b")
    late, state = feed.subscribe()
    assert [doc["photo_id"] for doc in state] == ["a"]
    sub.close()
    late.close()
    assert feed.subscriber_count == 0


def test_jsonable_converts_timestamps_and_nested_values() -> None:
    class Geo:
        latitude, longitude = 1.5, 2.5

    assert jsonable({"t": WHEN, "l": [WHEN], "g": Geo()}) == {
        "t": "2025-01-01T12:00:00+00:00",
        "l": ["2025-01-01T12:00:00+00:00"],
        "g": {"lat": 1.5, "lng": 2.5},
    }


def test_sse_format() -> None:
    assert sse("remove", {"photo_id": "x"}) == 'event: remove\ndata: {"photo_id":"x"}\n\n'


def test_the_feed_follows_the_catalog() -> None:
    catalog = FakeCatalog()
    feed = PhotoFeed(catalog)
    assert feed.start(wait_seconds=0)
    sub, _ = feed.subscribe()
    catalog.docs["a"] = {"status": "processing"}
    catalog.changed()
    assert sub.get(timeout=0) == ("upsert", {"photo_id": "a", "status": "processing"})
    feed.stop()
    catalog.docs["b"] = {"status": "ready"}
    catalog.changed()
    assert sub.get(timeout=0) is None, "a stopped feed no longer follows the catalog"


def test_page_and_event_stream() -> None:
    catalog = FakeCatalog({"a": {"status": "failed", "error": {"code": "corrupt_image", "reason": "truncated"}}})
    feed = PhotoFeed(catalog)
    feed.apply(catalog.docs)
    app = create_app(catalog, feed, keepalive_seconds=0.01)
    client = app.test_client()
    assert client.get("/api/photos").get_json()["photos"][0]["photo_id"] == "a"
    assert client.get("/api/photos/a").get_json()["error"]["code"] == "corrupt_image"
    assert client.get("/api/photos/nope").status_code == 404
    page = client.get("/")
    assert page.status_code == 200 and b'src="/static/app.js"' in page.data
    for asset in ("app.js", "thumbhash.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/healthz").status_code == 503  # no listener snapshot yet

    response = client.get("/api/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = response.response  # the streaming generator
    assert next(chunks) == b"retry: 1000\n\n"
    first: Any = next(chunks).decode()
    assert first.startswith("event: snapshot\n")
    assert json.loads(first.split("data: ", 1)[1])["photos"][0]["error"]["code"] == "corrupt_image"
    assert next(chunks) == b": keep-alive\n\n"
    feed.apply({})
    assert next(chunks) == b'event: remove\ndata: {"photo_id":"a"}\n\n'
    response.close()
    assert feed.subscriber_count == 0


def test_status_is_served_streamed_on_connect_and_pushed_when_it_changes() -> None:
    catalog = FakeCatalog()
    feed = PhotoFeed(catalog)
    feed.apply({})
    client = create_app(catalog, feed, keepalive_seconds=0.01).test_client()
    assert client.get("/api/status").status_code == 503  # nothing read yet

    first = {"version": 1, "lanes": [{"name": "live", "backlog": 3}]}
    feed.publish_status(first)
    assert client.get("/api/status").get_json() == first
    response = client.get("/api/events", buffered=False)
    chunks = response.response
    assert next(chunks) == b"retry: 1000\n\n"
    assert next(chunks).decode().startswith("event: snapshot\n")
    assert next(chunks).decode() == sse("status", first)  # the latest, for a page that just connected
    second = {"version": 1, "lanes": [{"name": "live", "backlog": 0}]}
    feed.publish_status(second)
    assert next(chunks).decode() == sse("status", second)
    response.close()


def test_status_poller_publishes_each_read_and_a_failed_read_as_an_error() -> None:
    published: list[dict[str, Any]] = []
    answers: list[dict[str, Any] | Exception] = [{"version": 1}, TransientError("no access", code="permission_denied")]

    def read() -> dict[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    poller = StatusPoller(read, published.append, every=60)
    assert poller.poll_once() == {"version": 1}
    assert poller.poll_once() == {"error": "TransientError: no access"}
    assert published == [{"version": 1}, {"error": "TransientError: no access"}]

    ticks = threading.Event()
    running = StatusPoller(lambda: {"n": 1}, lambda _status: ticks.set(), every=60)
    running.start()
    assert ticks.wait(5), "the first read happens at start, not after an interval"
    running.stop()


STILL = {"status": "ready", "media_type": "photo", "created_at": WHEN}
MOTION = {"status": "ready", "media_type": "video", "created_at": WHEN, "video": {"duration_s": 2.5}}
MOTION_URL = "http://127.0.0.1:4443/r/m/3/motion.mp4"


def test_a_live_photos_video_is_no_tile_of_its_own_while_it_is_linked() -> None:
    feed = PhotoFeed(catalog=None)
    sub, _ = feed.subscribe()
    video = {**MOTION, "motion": {"url": MOTION_URL}}
    assert sorted(doc["photo_id"] for _, doc in feed.apply({"s": STILL, "m": video})) == ["m", "s"]

    # Linked: the still carries the video's motion, the video names the still in `part_of` and leaves the grid.
    still = {**STILL, "live_photo": {"video_id": "m"}, "motion": {"url": MOTION_URL}}
    linked = {**video, "part_of": "s", "live_photo": {"still_id": "s"}}
    events = feed.apply({"s": still, "m": linked})
    assert sorted((kind, doc["photo_id"]) for kind, doc in events) == [("remove", "m"), ("upsert", "s")]
    assert [doc["photo_id"] for doc in feed.subscribe()[1]] == ["s"]

    # The still deleted: the video stands on its own again (`part_of` null) and comes back.
    events = feed.apply({"m": {**linked, "part_of": None, "live_photo": None}})
    assert sorted((kind, doc["photo_id"]) for kind, doc in events) == [("remove", "s"), ("upsert", "m")]
    sub.close()


def test_the_api_lists_no_live_photos_video_but_serves_it_by_id() -> None:
    catalog = FakeCatalog(
        {
            "s": {**STILL, "live_photo": {"video_id": "m"}},
            "m": {**MOTION, "part_of": "s"},
            "v": {**MOTION, "part_of": None},
        }
    )
    feed = PhotoFeed(catalog)
    feed.apply(catalog.docs)
    client = create_app(catalog, feed, keepalive_seconds=0.01).test_client()
    assert sorted(doc["photo_id"] for doc in client.get("/api/photos").get_json()["photos"]) == ["s", "v"]
    assert client.get("/api/photos/m").get_json()["part_of"] == "s"
    response = client.get("/api/events", buffered=False)
    chunks = response.response
    assert next(chunks) == b"retry: 1000\n\n"
    snapshot = json.loads(next(chunks).decode().split("data: ", 1)[1])
    assert sorted(doc["photo_id"] for doc in snapshot["photos"]) == ["s", "v"]
    response.close()
