"""The gallery page's HTTP side: the static page, a JSON API over Firestore and a Server-Sent Events stream.

Routes:

- ``GET /`` — the page (``static/index.html``; everything it loads is served from here, no CDN);
- ``GET /api/photos?limit=N`` — photo documents, newest first (``created_at`` descending);
- ``GET /api/photos/<photo_id>`` — one document, 404 if there is none;
- ``GET /api/events`` — ``text/event-stream``: ``snapshot`` (every document) on connect, then ``upsert`` and
  ``remove`` as the Firestore listener sees documents change, and a comment every 15 s as a keep-alive;
- ``GET /healthz`` — ``ok`` once the listener has delivered its first snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_from_directory
from google.cloud import firestore

from gallery_web.feed import PhotoFeed, photo_json

STATIC_DIR = Path(str(resources.files("gallery_web") / "static"))
KEEPALIVE_SECONDS = 15.0
MAX_LIMIT = 2000


def sse(event: str, data: Any) -> str:
    """One Server-Sent Events message."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def create_app(
    db: Any,
    collection: str,
    feed: PhotoFeed,
    *,
    page_config: dict[str, Any] | None = None,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    config = dict(page_config or {})

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
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
        query = db.collection(collection).order_by("created_at", direction=firestore.Query.DESCENDING).limit(limit)
        photos = [photo_json(snap.id, snap.to_dict()) for snap in query.stream()]
        return jsonify({"photos": photos})

    @app.get("/api/photos/<photo_id>")
    def api_photo(photo_id: str) -> Response:
        snap = db.collection(collection).document(photo_id).get()
        if not snap.exists:
            abort(404)
        return jsonify(photo_json(snap.id, snap.to_dict()))

    @app.get("/api/events")
    def api_events() -> Response:
        sub, docs = feed.subscribe()

        def stream() -> Iterator[str]:
            try:
                yield "retry: 1000\n\n"
                yield sse("snapshot", {"photos": docs})
                while not sub.overflowed:
                    event = sub.get(timeout=keepalive_seconds)
                    yield ": keep-alive\n\n" if event is None else sse(*event)
            finally:
                sub.close()

        return Response(
            stream(),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return app
