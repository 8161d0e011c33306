"""The gallery page's server refuses foreign Host names, writes, and streams past its cap, and sends a strict CSP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from gallery.manifest import motion_entry
from gallery.model import EncodedMotion
from gallery_web.feed import PhotoFeed
from gallery_web.policy import allowed_hosts, content_security_policy, origin
from gallery_web.server import STATIC_DIR, create_app
from tests.unit.fakes import FakeCatalog

RENDITIONS = "http://127.0.0.1:4443"


def _app(**kwargs: Any) -> tuple[Flask, PhotoFeed]:
    catalog = FakeCatalog({"a": {"status": "ready"}})
    feed = PhotoFeed(catalog)
    feed.apply(catalog.docs)
    app = create_app(catalog, feed, keepalive_seconds=0.01, **kwargs)
    return app, feed


def _directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in policy.split(";")) if d}


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "localhost"])
def test_loopback_host_names_are_served(host: str) -> None:
    app, _ = _app()
    assert app.test_client().get("/healthz", headers={"Host": host}).status_code == 503  # served: no snapshot yet


@pytest.mark.parametrize("host", ["evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1"])
def test_a_rebinding_host_name_is_refused(host: str) -> None:
    app, _ = _app()
    client = app.test_client()
    for path in ("/", "/api/photos", "/api/events", "/api/config"):
        assert client.get(path, headers={"Host": host}).status_code == 400, (host, path)


def test_extra_host_names_come_from_the_flag_and_the_bind_address() -> None:
    assert allowed_hosts(["127.0.0.1", "localhost"], "0.0.0.0") == ["127.0.0.1", "localhost"]
    assert allowed_hosts(["Photos.LAN "], "192.168.1.5") == ["photos.lan", "192.168.1.5"]
    app, _ = _app(allowed_hosts=allowed_hosts(["photos.lan"], "127.0.0.1"))
    client = app.test_client()
    assert client.get("/healthz", headers={"Host": "photos.lan:8080"}).status_code == 503
    assert client.get("/healthz", headers={"Host": "127.0.0.1:8080"}).status_code == 503
    assert client.get("/healthz", headers={"Host": "localhost:8080"}).status_code == 400


def test_every_response_carries_the_policy_headers() -> None:
    app, _ = _app(image_origins=[origin(RENDITIONS + "/renditions-bucket/")])
    client = app.test_client()
    for path in ("/", "/static/app.js", "/api/photos/missing", "/healthz"):
        response = client.get(path)
        csp = _directives(response.headers["Content-Security-Policy"])
        assert csp["default-src"] == ["'none'"]
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
        assert csp["connect-src"] == ["'self'"]
        assert csp["img-src"] == ["'self'", "data:", RENDITIONS]
        assert csp["media-src"] == ["'self'", RENDITIONS]  # the moving previews, stored beside the renditions
        assert csp["frame-ancestors"] == ["'none'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_has_no_inline_script_or_style() -> None:
    # The CSP allows no inline code, so everything must live in files under static/.
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    js = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    assert 'setAttribute("style"' not in js and "innerHTML" not in js and "eval(" not in js


def test_the_policy_names_no_unsafe_source() -> None:
    policy = content_security_policy([RENDITIONS, ""])
    assert "unsafe" not in policy and "*" not in policy
    assert _directives(policy)["img-src"] == ["'self'", "data:", RENDITIONS]
    assert _directives(policy)["media-src"] == ["'self'", RENDITIONS]


def test_motion_urls_are_allowed_by_the_media_policy() -> None:
    """A document's `motion.url` is built on the same prefix as its renditions' URLs, so media-src lets it play."""
    prefix = RENDITIONS + "/gallery-renditions"
    motion = motion_entry(EncodedMotion(480, 360, 3.0, b"mp4"), "p1", 7, prefix)
    media = _directives(content_security_policy([origin(prefix)]))["media-src"]
    assert origin(motion["url"]) in media and motion["content_type"] == "video/mp4"
    assert "data:" not in media and "blob:" not in media


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_the_api_is_read_only(method: str) -> None:
    app, _ = _app()
    client = app.test_client()
    for path in ("/", "/api/photos", "/api/photos/a", "/api/events", "/nowhere"):
        response = client.open(path, method=method)
        assert response.status_code == 405, (method, path)
        assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert client.head("/api/config").status_code == 200


def test_event_streams_past_the_cap_get_503_until_one_closes() -> None:
    app, feed = _app(max_streams=2)
    client = app.test_client()
    first = client.get("/api/events", buffered=False)
    second = client.get("/api/events", buffered=False)
    assert first.status_code == second.status_code == 200
    chunks: Any = first.response
    assert next(chunks) == b"retry: 1000\n\n"  # one stream running, one never started
    third = client.get("/api/events", buffered=False)
    assert third.status_code == 503 and third.headers["Retry-After"]
    assert feed.subscriber_count == 2
    second.close()  # the client went away before its first chunk
    second.close()  # closing twice frees one slot, not two
    assert feed.subscriber_count == 1
    fourth = client.get("/api/events", buffered=False)
    assert fourth.status_code == 200
    assert client.get("/api/events", buffered=False).status_code == 503
    first.close()
    fourth.close()
    assert feed.subscriber_count == 0
