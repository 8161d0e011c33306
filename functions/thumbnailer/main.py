"""Cloud Run function entry point: parse the delivery, call the service, map the outcome to an HTTP status.

2xx acks the Pub/Sub message (success, duplicate, stale, ignored, or a permanent failure recorded on the
photo's document); 400 (with a JSON error) refuses a delivery that is not a notification; 503 makes Pub/Sub
redeliver with backoff and, after the configured attempts, dead-letter it. docs/events.md has the threat model.

Paths: ``/`` takes the uploads notifications; ``/dead-letters`` takes the same messages once Pub/Sub has
dead-lettered them (the dead-letter topic's push subscription) and records them on the photo's document.

The service and settings are built once from the environment. A caller that creates the Flask app itself
(tests, the local stack's test wiring) may put a ready `PhotoService` and `Settings` into the app's config under
``GALLERY_SERVICE`` / ``GALLERY_SETTINGS`` instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import IO, Any

import flask
import functions_framework

from gallery.errors import BadEventError, TransientError
from gallery.events import dead_letter_delivery_count, parse_delivery
from gallery.logs import configure_logging
from gallery.service import PhotoService
from gallery.settings import Settings, load_settings
from gallery.shutdown import on_sigterm
from gallery.wiring import build_service

logger = logging.getLogger("gallery.function")

SERVICE_KEY = "GALLERY_SERVICE"
SETTINGS_KEY = "GALLERY_SETTINGS"
DEAD_LETTER_PATH = "/dead-letters"
_DRAIN_CHUNK = 64 * 1024


@lru_cache(maxsize=1)
def _settings_from_env() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level, settings.google_cloud_project)
    return settings


_building = threading.Lock()


@lru_cache(maxsize=1)
def _cached_service() -> PhotoService:
    return build_service(_settings_from_env())


def _service_from_env() -> PhotoService:
    """The one service of this process: the first deliveries arrive together, and every one of them must get
    the same instance (the one SIGTERM drains), so building it is serialized."""
    with _building:
        return _cached_service()


def _settings() -> Settings:
    injected = flask.current_app.config.get(SETTINGS_KEY)
    return injected if isinstance(injected, Settings) else _settings_from_env()


def _service() -> PhotoService:
    injected = flask.current_app.config.get(SERVICE_KEY)
    return injected if isinstance(injected, PhotoService) else _service_from_env()


def _drain(signum: int) -> None:
    """SIGTERM (Cloud Run scales in or redeploys, then SIGKILLs 10 s later): stop taking work, finish renders."""
    if _cached_service.cache_info().currsize:
        _cached_service().drain()
    logger.warning("signal %d: draining; running renders finish, everything else answers 503", signum)


on_sigterm(_drain)


def read_body(stream: IO[bytes], content_length: int | None, limit: int) -> bytes:
    """The request body, refused (BadEventError) past `limit` bytes whatever Content-Length claims."""
    if content_length is not None and content_length > limit:
        raise BadEventError(f"the request body is {content_length} bytes, over the {limit}-byte limit")
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise BadEventError(f"the request body is over the {limit}-byte limit")
    return body


def _discard(stream: IO[bytes]) -> None:
    """Read what is left of a refused body in small chunks, so nothing large is ever held in memory."""
    while stream.read(_DRAIN_CHUNK):
        pass


def _refuse(path: str, err: BadEventError) -> tuple[flask.Response, int]:
    """400 for a delivery that is not a notification, so it ends in the dead-letter topic for inspection.

    At /dead-letters it is already there (the dead-letter pull subscription keeps its copy): acknowledged with
    the same error, so Pub/Sub does not push it again until the retention runs out.
    """
    logger.error("rejected delivery: %s", err.reason, extra={"json_fields": {"error_code": err.code, "path": path}})
    if path == DEAD_LETTER_PATH:
        return flask.jsonify(outcome="ignored", error=err.code, reason=err.reason), 200
    return flask.jsonify(error=err.code, reason=err.reason), 400


def _dispatch(path: str, headers: Mapping[str, str], body: bytes) -> tuple[flask.Response, int]:
    event, message = parse_delivery(headers, body)
    service = _service()
    if path == DEAD_LETTER_PATH:
        outcome = service.record_dead_letter(event, dead_letter_delivery_count(message))
    else:
        outcome = service.handle(event)
    return flask.jsonify(outcome=outcome.value), 200


@functions_framework.http
def handle(request: flask.Request) -> Any:
    path = request.path.rstrip("/") or "/"
    if path not in ("/", DEAD_LETTER_PATH):
        return flask.jsonify(error="not_found", reason=f"no endpoint at {path[:100]}"), 404
    stream = request.stream
    try:
        body = read_body(stream, request.content_length, _settings().max_request_bytes)
    except BadEventError as err:
        _discard(stream)
        return _refuse(path, err)
    try:
        return _dispatch(path, request.headers, body)
    except BadEventError as err:
        return _refuse(path, err)
    except TransientError as err:
        return flask.jsonify(error=err.code, reason=err.reason), 503
