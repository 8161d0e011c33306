"""The gallery page in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright), on the real stack.

Upload → the tile appears with an ``<img srcset>`` listing every rendition and the browser loads one; a broken
upload shows as failed with its reason; delete → the tile goes; all without a reload and without any request
leaving 127.0.0.1. A video shows its poster with a play badge and its duration and plays its moving preview on
hover; a Live Photo is one tile with a LIVE badge. The screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from playwright.sync_api import Browser, Page, Route, expect
from werkzeug.serving import make_server

from gallery.catalog import duration_text
from gallery_devstack.processes import REPO_ROOT
from gallery_devstack.stack import DevStack
from gallery_web.feed import PhotoFeed
from gallery_web.server import create_app
from tests.e2e.conftest import DEFAULT_FORMATS, TIMEOUT_MS, Harness
from tests.paths import ORIENTATION, SAMPLES
from tests.polling import wait_until
from tests.unit.fakes import FakeCatalog
from tests.video_files import Clip, make_video

SCREENSHOT = REPO_ROOT / "test-artifacts" / "gallery.png"


@pytest.fixture(scope="module")
def site(devstack_factory: Callable[..., DevStack]) -> Iterator[Harness]:
    stack = devstack_factory(start_gallery=True, max_delivery_attempts=5)
    mp = pytest.MonkeyPatch()
    mp.setenv("FIRESTORE_EMULATOR_HOST", stack.firestore_emulator_host)
    db = firestore.Client(project=stack.config.project, credentials=AnonymousCredentials())
    try:
        yield Harness(stack=stack, storage=stack.storage_client(), db=db)
    finally:
        mp.undo()


def _srcset_urls(srcset: str) -> set[str]:
    return {part.strip().split()[0] for part in srcset.split(",") if part.strip()}


def _tile(photo: str) -> str:
    return f'.tile[data-photo-id="{photo}"]'


def _watched_page(browser: Browser) -> tuple[Page, list[str], list[str], dict[str, int]]:
    """A page that records its errors, the requests it tried outside 127.0.0.1 (refused) and the responses."""
    page: Page = browser.new_page(viewport={"width": 1200, "height": 820})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    foreign: list[str] = []
    loaded: dict[str, int] = {}
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda response: loaded.__setitem__(response.url, response.status))

    def local_only(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith("data:") or host == "127.0.0.1":
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    return page, errors, foreign, loaded


def test_photos_appear_fail_and_disappear_live(site: Harness, browser: Browser) -> None:
    page, errors, foreign, loaded = _watched_page(browser)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.goto(site.stack.gallery_url)
    page.wait_for_selector("body[data-loaded=true]")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    assert page.is_visible("#empty")

    # 1. a photo with EXIF appears, with every rendition in its srcset, and the browser loads one
    name = "page/gps_DSCN0010.jpg"
    site.upload(name, (SAMPLES / "gps_DSCN0010.jpg").read_bytes())
    doc = site.wait_doc(name, lambda d: d is not None and d["status"] == "ready")
    assert doc is not None
    tile = _tile(doc["photo_id"])
    page.wait_for_selector(f"{tile}[data-status=ready].loaded img.photo")
    img = page.locator(f"{tile} img.photo")
    # the <img> lists the fallback format (the most widely decoded one present), a <source> each other format
    urls = {f: {r["url"] for r in doc["renditions"] if r["format"] == f} for f in DEFAULT_FORMATS}
    assert set(urls) == {r["format"] for r in doc["renditions"]}
    fallback = next(f for f in ("jpeg", "webp", "avif") if f in urls)
    srcset = img.get_attribute("srcset") or ""
    assert _srcset_urls(srcset) == urls[fallback]
    for fmt in set(urls) - {fallback}:
        source = page.locator(f"{tile} picture source[type='image/{fmt}']")
        assert _srcset_urls(source.get_attribute("srcset") or "") == urls[fmt]
    assert img.get_attribute("src") == doc["src"]
    assert img.get_attribute("sizes")
    natural_width, current = img.evaluate("el => [el.naturalWidth, el.currentSrc]")
    assert natural_width > 0
    preferred = next(f for f in ("avif", "webp", "jpeg") if f in urls)  # a current browser takes the first
    assert current in urls[preferred]
    assert loaded.get(current) == 200  # fetched from the renditions bucket (fake-gcs-server)
    placeholder = page.locator(f"{tile} img.placeholder").get_attribute("src") or ""
    assert placeholder.startswith("data:image/png;base64,")  # decoded ThumbHash, shown until the photo loads
    background = page.locator(tile).evaluate("el => getComputedStyle(el).backgroundColor")
    r, g, b = (int(v, 16) for v in re.findall("..", doc["dominant_color"].lstrip("#")))
    assert background == f"rgb({r}, {g}, {b})"

    # 2. more photos, and a broken upload that shows as failed with its reason
    for extra in ("landscape_3.jpg", "portrait_5.jpg"):
        site.upload(f"page/{extra}", (ORIENTATION / extra).read_bytes())
    site.upload("page/alpha.png", (SAMPLES / "alpha.png").read_bytes(), content_type="image/png")
    site.upload("page/broken.jpg", b"this is not a photo at all")
    broken = site.wait_doc("page/broken.jpg", lambda d: d is not None and d["status"] == "failed")
    assert broken is not None
    failed_tile = _tile(broken["photo_id"])
    page.wait_for_selector(f"{failed_tile}[data-status=failed]")
    assert page.inner_text(f"{failed_tile} .error-code") == broken["error"]["code"]
    assert page.inner_text(f"{failed_tile} .error-reason") == broken["error"]["reason"]
    for extra in ("landscape_3.jpg", "portrait_5.jpg", "alpha.png"):
        ready = site.wait_doc(f"page/{extra}", lambda d: d is not None and d["status"] == "ready")
        assert ready is not None
        page.wait_for_selector(f"{_tile(ready['photo_id'])}.loaded")
    assert page.inner_text('[data-count="failed"]') == "1"
    assert page.inner_text('[data-count="all"]') == "5"

    # 3. dimensions and the EXIF subset on click
    page.click(tile)
    page.wait_for_selector("dialog#details[open]")
    facts = page.inner_text("dialog#details .facts")
    assert f"{doc['width']} \u00d7 {doc['height']} px" in facts
    assert doc["exif"]["camera_model"] and doc["exif"]["camera_model"] in facts
    assert doc["exif"]["camera_make"] in facts
    page.wait_for_selector("dialog#details .details-media.loaded img.photo")
    page.screenshot(path=str(SCREENSHOT.with_name("gallery-details.png")))
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog#details[open]", state="detached")

    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # 4. delete → the tile goes, without a reload
    site.uploads.blob(name).delete()
    site.wait_doc(name, lambda d: d is None)
    page.wait_for_selector(tile, state="detached")
    assert page.inner_text('[data-count="all"]') == "4"
    assert page.evaluate("window.__sameDocument") is True

    assert foreign == [], "the page must not reach outside 127.0.0.1"
    assert [e for e in errors if "favicon" not in e] == []
    page.close()


def test_api_lists_photos_newest_first(site: Harness, browser: Browser) -> None:
    page = browser.new_page()
    try:
        site.upload("api/first.jpg", (ORIENTATION / "landscape_1.jpg").read_bytes())
        site.wait_doc("api/first.jpg", lambda d: d is not None and d["status"] == "ready")
        site.upload("api/second.jpg", (ORIENTATION / "landscape_2.jpg").read_bytes())
        site.wait_doc("api/second.jpg", lambda d: d is not None and d["status"] == "ready")
        response = page.request.get(f"{site.stack.gallery_url}api/photos")
        assert response.ok
        body: dict[str, Any] = response.json()
        names = [p["source"]["name"] for p in body["photos"]]
        assert names.index("api/second.jpg") < names.index("api/first.jpg")
        created = [p["created_at"] for p in body["photos"]]
        assert created == sorted(created, reverse=True)
        missing = page.request.get(f"{site.stack.gallery_url}api/photos/nope")
        assert missing.status == 404
    finally:
        page.close()


def test_the_running_server_refuses_foreign_hosts_and_writes(site: Harness) -> None:
    """The served page, as `python -m gallery_web` runs it: rebinding Host names, writes and the CSP."""
    address = urlsplit(site.stack.gallery_url)
    assert address.hostname and address.port

    def ask(method: str, path: str, host: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
        connection.request(method, path, headers={"Host": host})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    assert ask("GET", "/api/photos", f"rebind.example:{address.port}").status == 400
    assert ask("GET", "/api/photos", f"localhost:{address.port}").status == 200
    assert ask("POST", "/api/photos", f"127.0.0.1:{address.port}").status == 405
    page = ask("GET", "/", f"127.0.0.1:{address.port}")
    policy = page.getheader("Content-Security-Policy") or ""
    renditions = urlsplit(site.stack.env()["RENDITIONS_BASE_URL"])
    assert "script-src 'self'" in policy and f"{renditions.scheme}://{renditions.netloc}" in policy


def test_a_page_refused_for_too_many_streams_connects_when_one_closes(browser: Browser) -> None:
    """503 closes an EventSource for good; the page retries by itself and goes live once a slot is free."""
    catalog = FakeCatalog()
    feed = PhotoFeed(catalog)
    feed.apply({})
    server = make_server("127.0.0.1", 0, create_app(catalog, feed, max_streams=1), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.port}/"
    first, second = browser.new_page(), browser.new_page()
    try:
        first.goto(url)
        first.wait_for_selector('#connection[data-state="live"]', timeout=TIMEOUT_MS)
        second.goto(url)
        # A locator assertion, not wait_for_function: polling a string predicate needs eval, which the CSP forbids.
        expect(second.locator("#connection")).to_contain_text("busy", timeout=TIMEOUT_MS)
        first.close()
        second.wait_for_selector('#connection[data-state="live"]', timeout=TIMEOUT_MS)
    finally:
        second.close()
        server.shutdown()


def test_a_photo_still_processing_is_painted_from_its_preview_then_replaced(browser: Browser) -> None:
    """Paint first: a `processing` document with a `preview` shows that rendition at once; ready replaces it."""
    catalog = FakeCatalog()
    feed = PhotoFeed(catalog)
    feed.apply({})
    server = make_server("127.0.0.1", 0, create_app(catalog, feed), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:1/r/p1/7"  # never fetched successfully: the test reads attributes, not pixels
    common = {
        "source": {"bucket": "b", "name": "big.jpg", "generation": 7},
        "width": 5184,
        "height": 3456,
        "dominant_color": "#336699",
        "created_at": "2026-12-07T10:00:00+00:00",
    }
    processing = {
        **common,
        "status": "processing",
        "preview": {"src": f"{base}/320.jpg", "srcset": {"jpeg": f"{base}/320.jpg 320w"}, "renditions": []},
    }
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector('#connection[data-state="live"]', timeout=TIMEOUT_MS)
        feed.apply({"p1": processing})
        tile = _tile("p1")
        page.wait_for_selector(f"{tile}[data-status=processing] img.photo", timeout=TIMEOUT_MS)
        img = page.locator(f"{tile} img.photo")
        assert img.get_attribute("src") == f"{base}/320.jpg"
        assert _srcset_urls(img.get_attribute("srcset") or "") == {f"{base}/320.jpg"}
        expect(page.locator(f"{tile} .badge.preview")).to_be_visible()
        ready = {
            **common,
            "status": "ready",
            "preview": None,
            "src": f"{base}/1280.jpg",
            "srcset": {"jpeg": f"{base}/320.jpg 320w, {base}/1280.jpg 1280w"},
        }
        feed.apply({"p1": ready})
        page.wait_for_selector(f"{tile}[data-status=ready] img.photo", timeout=TIMEOUT_MS)
        assert page.locator(f"{tile} img.photo").get_attribute("src") == f"{base}/1280.jpg"
        assert page.locator(f"{tile} .badge.preview").count() == 0
    finally:
        page.close()
        server.shutdown()


def _ready(doc: dict[str, Any] | None) -> bool:
    return doc is not None and doc["status"] == "ready"


def _plays(video: Any) -> bool:
    return bool(video.evaluate("v => !v.paused && v.currentTime > 0 && v.readyState >= 2"))


def test_videos_and_live_photos_in_the_grid(site: Harness, browser: Browser) -> None:
    """A video: its poster, a play badge with its duration, and its moving preview playing on hover. A Live Photo
    (a HEIC and a MOV of the same name): one tile, the still's, with a LIVE badge, playing the video's preview."""
    clip, still, motion = "motion/clip.mp4", "motion/roll/IMG_0001.HEIC", "motion/roll/IMG_0001.MOV"
    site.upload(clip, make_video(Clip(seconds=4.0)), content_type="video/mp4")
    site.upload(still, (SAMPLES / "iphone_13_pro_max.heic").read_bytes(), content_type="image/heic")
    site.upload(motion, make_video(Clip(codec="hevc", container="mov", seconds=2.5)), content_type="video/quicktime")
    video_doc = site.wait_doc(clip, _ready, timeout=120)
    still_doc = site.wait_doc(still, lambda d: _ready(d) and bool((d or {}).get("motion")), timeout=120)
    motion_doc = site.wait_doc(motion, lambda d: _ready(d) and bool((d or {}).get("part_of")), timeout=120)
    assert video_doc is not None and still_doc is not None and motion_doc is not None
    assert video_doc["media_type"] == "video" and video_doc["motion"]["url"]
    assert still_doc["live_photo"]["video_id"] == motion_doc["photo_id"] and still_doc["motion"] == motion_doc["motion"]

    page, errors, foreign, loaded = _watched_page(browser)
    page.goto(site.stack.gallery_url)
    page.wait_for_selector("body[data-loaded=true]")

    # The video: its poster (the normal srcset), a play badge and its duration.
    tile = _tile(video_doc["photo_id"])
    page.wait_for_selector(f"{tile}[data-status=ready][data-media=video].loaded img.photo")
    assert page.locator(f"{tile} img.photo").get_attribute("src") == video_doc["src"]
    expect(page.locator(f"{tile} .badge.media.video .play")).to_be_visible()
    duration = duration_text(video_doc["video"]["duration_s"])
    assert duration == "0:04"
    expect(page.locator(f"{tile} .badge.media.video .duration")).to_have_text(duration)
    assert page.locator(f"{tile} video").count() == 0, "no video before a hover"

    # The Live Photo: one tile, the still's, with a LIVE badge; the MOV is no tile of its own.
    live = _tile(still_doc["photo_id"])
    page.wait_for_selector(f"{live}[data-status=ready][data-media=live].loaded img.photo")
    expect(page.locator(f"{live} .badge.media.live")).to_have_text("LIVE")
    expect(page.locator(_tile(motion_doc["photo_id"]))).to_have_count(0)
    expect(page.locator(".tile figcaption", has_text="IMG_0001.")).to_have_count(1)

    # Hovering the video's tile plays its moving preview over the poster; leaving removes it.
    page.hover(tile)
    video = page.locator(f"{tile} video.motion")
    expect(video).to_have_count(1)
    assert video.get_attribute("src") == video_doc["motion"]["url"]
    assert video.evaluate("v => [v.muted, v.loop, v.playsInline]") == [True, True, True]
    assert wait_until(lambda: _plays(video), timeout=TIMEOUT_MS / 1000), "the moving preview does not play"
    page.wait_for_selector(f"{tile}.moving")
    assert loaded.get(video_doc["motion"]["url"]) in (200, 206)
    page.screenshot(path=str(SCREENSHOT.with_name("gallery-video-hover.png")))
    page.mouse.move(0, 0)
    expect(video).to_have_count(0)

    # Hovering the Live Photo plays the video's preview the same way.
    page.hover(live)
    live_video = page.locator(f"{live} video.motion")
    expect(live_video).to_have_count(1)
    assert live_video.get_attribute("src") == still_doc["motion"]["url"]
    assert wait_until(lambda: _plays(live_video), timeout=TIMEOUT_MS / 1000), "the Live Photo does not play"
    page.mouse.move(0, 0)
    expect(live_video).to_have_count(0)

    # The queue panel counts them: the clip and the MOV are videos, the pair one Live Photo.
    expect(page.locator('#queues [data-fact="media"]')).to_have_text("2 videos, 1 Live Photo")

    # The details say what the video is.
    page.click(tile)
    page.wait_for_selector("dialog#details[open]")
    facts = page.inner_text("dialog#details .facts")
    assert f"{duration}, 24 fps, h264, silent" in facts
    page.keyboard.press("Escape")

    assert foreign == [], "the page must not reach outside 127.0.0.1"
    assert [e for e in errors if "favicon" not in e] == []
    page.close()
