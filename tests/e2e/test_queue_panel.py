"""The gallery page's queue panel in real headless Chromium.

On the real stack (the page as `python -m gallery_web` runs it, reading the emulator's queue figures): uploads
wait in the live lane while the function is down, the panel shows them and their age, and once the function runs
the backlog falls to 0 and the counts, throughput and failures by code follow, without a reload (screenshot in
``test-artifacts/queue-panel.png``). On an in-process
server: text from the status is shown as text, never as markup.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from werkzeug.serving import make_server

from gallery_devstack.processes import REPO_ROOT
from gallery_devstack.stack import DevStack
from gallery_web.feed import PhotoFeed
from gallery_web.server import create_app
from tests.e2e.conftest import TIMEOUT_MS
from tests.paths import ORIENTATION
from tests.unit.fakes import FakeCatalog

SCREENSHOT = REPO_ROOT / "test-artifacts" / "queue-panel.png"


def _cell(page: Page, lane: str, column: str) -> str:
    return page.inner_text(f'#queues tr[data-lane="{lane}"] td.{column}')


def test_the_panel_follows_the_backlog_and_the_photos_live(
    devstack_factory: Callable[..., DevStack], browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GALLERY_STATUS_SECONDS", "1")  # the page server started by the stack reads it
    stack = devstack_factory(
        start_gallery=True,
        start_function=False,
        min_backoff_seconds=3.0,
        max_backoff_seconds=3.0,
        max_delivery_attempts=30,
    )
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(stack.gallery_url)
    page.wait_for_selector('#queues[data-state="live"] tr[data-lane="live"]')
    page.evaluate("window.__sameDocument = true")
    assert page.inner_text("#queues .queue-source") == "(emulator)"
    assert _cell(page, "live", "backlog") == "0"
    assert _cell(page, "bulk", "backlog") == "0"
    assert page.get_attribute('#queues tr[data-lane="bulk"]', "title") == stack.bulk_push_subscription_path
    assert _cell(page, "dead_letters", "backlog") == "0"
    assert page.get_attribute('#queues tr[data-lane="live"]', "title") == stack.push_subscription_path

    uploads = stack.storage_client().bucket(stack.config.uploads_bucket)
    for path in sorted(ORIENTATION.glob("landscape_*.jpg"))[:2]:
        uploads.blob(f"panel/{path.name}").upload_from_filename(str(path), content_type="image/jpeg")
    uploads.blob("panel/broken.jpg").upload_from_string(b"not a photo", content_type="image/jpeg")
    live = page.locator('#queues tr[data-lane="live"]')
    expect(live.locator("td.backlog")).to_have_text("3")
    expect(live.locator("td.oldest")).to_have_text(re.compile(r"^[1-9]"))  # the oldest message ages meanwhile

    stack.start_function()
    photos = page.locator('#queues [data-fact="photos"]')
    expect(photos).to_have_text(re.compile(r"^3 \(0 processing, 2 ready, 1 failed"))
    expect(live.locator("td.backlog")).to_have_text("0")
    assert _cell(page, "live", "oldest") == "0s"
    assert page.locator("#queues tbody tr").evaluate_all("rows => rows.map(r => r.dataset.lane)") == [
        "live",
        "bulk",
        "dead_letters",
    ]
    throughput = page.inner_text('#queues [data-fact="throughput"]')
    assert throughput.startswith("3 settled (2 ready, 1 failed)")
    assert "ms" in page.inner_text('#queues [data-fact="render"]')
    codes = page.locator("#queues .failure-codes li[data-code]")
    assert codes.count() == 1
    assert codes.first.locator(".code").inner_text() == "unsupported_format"
    assert codes.first.locator(".count").inner_text() == "1"
    assert page.inner_text('[data-count="failed"]') == "1"  # the grid's own counts agree
    assert page.evaluate("window.__sameDocument") is True
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert [e for e in errors if "favicon" not in e] == []
    page.close()


def test_status_text_is_shown_as_text_never_as_markup(browser: Browser) -> None:
    hostile = '<img src=x onerror="window.__owned=1">'
    catalog = FakeCatalog()
    feed = PhotoFeed(catalog)
    feed.apply({})
    status: dict[str, Any] = {
        "version": 1,
        "queue_source": hostile,
        "queue_error": hostile,
        "lanes": [{"name": hostile, "subscription": hostile, "backlog": 1, "oldest_unacked_age_seconds": 75.0}],
        "dead_letters": {"subscription": "d", "count": 2, "oldest_unacked_age_seconds": 4000.0},
        "photos": {"total": 1, "by_status": {hostile: 1}},
        "throughput": {
            "window_minutes": 15,
            "settled": 1,
            "ready": 0,
            "failed": 1,
            "per_minute": 0.07,
            "capped": False,
        },
        "render_ms": {"samples": 0, "p50": None, "p95": None},
        "failures": {"by_code": {hostile: 1}, "recent_by_code": {hostile: 1}},
    }
    feed.publish_status(status)
    server = make_server("127.0.0.1", 0, create_app(catalog, feed), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector('#queues[data-state="live"] tr[data-lane="dead_letters"]')
        assert page.locator("#queues img").count() == 0
        assert page.evaluate("window.__owned") is None
        assert page.inner_text("#queues .queue-error") == f"figures unavailable: {hostile}"
        assert page.inner_text("#queues .failure-codes .code") == hostile
        assert page.inner_text("#queues tbody tr:first-child th") == hostile
        assert page.inner_text("#queues tbody tr:first-child td.oldest") == "1m 15s"
        assert _cell(page, "dead_letters", "oldest") == "1h 06m"
        assert page.get_attribute('#queues tr[data-lane="dead_letters"]', "data-nonzero") == "true"
        assert page.inner_text('#queues [data-fact="render"]') == "\u2013 / \u2013 (0 photos)"  # en dashes: no figure
    finally:
        page.close()
        server.shutdown()
