"""The gallery page's HTTP side: the static page, a JSON API over Firestore and a Server-Sent Events stream.

Routes:

- ``GET /`` — the page (``static/index.html``; everything it loads is served from here, no CDN);
- ``GET /api/photos?limit=N`` — the gallery's items among the N newest documents (``created_at`` descending),
  from the catalog: photos and videos, but not the video of a Live Photo (its still stands for both);
- ``GET /api/photos/<photo_id>`` — one document, any (a Live Photo's video too), 404 if there is none;
- ``GET /api/status`` — the latest pipeline status (`gallery status --json`'s shape), 503 until the first read;
- ``GET /api/events`` — ``text/event-stream``: ``snapshot`` (every item shown) and the latest ``status`` on connect,
  then ``upsert`` and ``remove`` as the catalog's change feed sees documents change, ``status`` whenever the
  status poller reads it again, and a comment every 15 s as a keep-alive;
- ``GET /healthz`` — ``ok`` once the listener has delivered its first snapshot.

Read-only: any method but GET and HEAD is answered 405. Requests whose Host is not in ``allowed_hosts`` are
answered 400 (DNS rebinding), every response carries the policy headers of `gallery_web.policy`, and past
``max_streams`` open event streams a new one is answered 503 with ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_from_directory

from gallery.live_photo import shown_in_gallery
from gallery.ports import PhotoCatalog
from gallery_web.feed import PhotoFeed, photo_json
from gallery_web.policy import (
    DEFAULT_ALLOWED_HOSTS,
    DEFAULT_MAX_STREAMS,
    READ_METHODS,
    StreamSlots,
    security_headers,
)

STATIC_DIR = Path(str(resources.files("gallery_web") / "static"))
KEEPALIVE_SECONDS = 15.0
MAX_LIMIT = 2000


def sse(event: str, data: Any) -> str:
    """One Server-Sent Events message."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def create_app(
    catalog: PhotoCatalog,
    feed: PhotoFeed,
    *,
    page_config: dict[str, Any] | None = None,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
    allowed_hosts: Sequence[str] = DEFAULT_ALLOWED_HOSTS,
    image_origins: Sequence[str] = (),
    max_streams: int = DEFAULT_MAX_STREAMS,
) -> Flask:
    """The page's app. `image_origins` are the origins the renditions are served from (for the CSP: the images and
    the videos' moving previews)."""
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    # Werkzeug answers 400 to a Host header outside this list (the port is not compared).
    app.config["TRUSTED_HOSTS"] = list(allowed_hosts)
    config = dict(page_config or {})
    headers = security_headers(image_origins)
    streams = StreamSlots(max_streams)

    @app.before_request
    def _read_only() -> Response | None:
        if request.method not in READ_METHODS:
            response = Response("read-only: GET and HEAD only\n", status=405, mimetype="text/plain")
            response.headers["Allow"] = ", ".join(sorted(READ_METHODS))
            return response
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.update(headers)
        if request.path == "/" or request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def index() -> Response:
        return send_from_directory(STATIC_DIR, "index.html")

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return ("ok", 200) if feed.ready else ("waiting for the first Firestore snapshot", 503)

    @app.get("/api/config")
    def api_config() -> Response:
        return jsonify(config)

    @app.get("/api/photos")
    def api_photos() -> Response:
        limit = min(max(request.args.get("limit", 500, type=int) or 500, 1), MAX_LIMIT)
        docs = catalog.recent(limit)
        photos = [photo_json(str(doc.get("photo_id", "")), doc) for doc in docs if shown_in_gallery(doc)]
        return jsonify({"photos": photos})

    @app.get("/api/photos/<photo_id>")
    def api_photo(photo_id: str) -> Response:
        doc = catalog.get(photo_id)
        if doc is None:
            abort(404)
        return jsonify(photo_json(photo_id, doc))

    @app.get("/api/status")
    def api_status() -> Response:
        status = feed.status
        if status is None:
            return Response("no status read yet\n", status=503, mimetype="text/plain")
        return jsonify(status)

    @app.get("/api/events")
    def api_events() -> Response:
        release = streams.acquire()
        if release is None:
            busy = Response(
                f"too many open event streams (at most {streams.limit})\n", status=503, mimetype="text/plain"
            )
            busy.headers["Retry-After"] = "5"
            return busy
        sub, docs = feed.subscribe()
        status = feed.status

        def stream() -> Iterator[str]:
            yield "retry: 1000\n\n"
            yield sse("snapshot", {"photos": docs})
            if status is not None:
                yield sse("status", status)
            while not sub.overflowed:
                event = sub.get(timeout=keepalive_seconds)
                yield ": keep-alive\n\n" if event is None else sse(*event)

        response = Response(
            stream(),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        # On close, even if the client went away before the first chunk (a generator that never started has
        # no `finally` to run).
        response.call_on_close(sub.close)
        response.call_on_close(release)
        return response

    return app
