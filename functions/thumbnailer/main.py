"""Cloud Run function entry point: parse the delivery, call the service, map the outcome to an HTTP status.

2xx acks the Pub/Sub message (success, duplicate, ignored, or a permanent failure recorded on the photo's
document); 503 makes Pub/Sub redeliver with backoff and, after the configured attempts, dead-letter it.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import flask
import functions_framework

from gallery.errors import BadEventError, TransientError
from gallery.events import parse_request
from gallery.logs import configure_logging
from gallery.service import PhotoService
from gallery.settings import load_settings
from gallery.shutdown import on_sigterm
from gallery.wiring import build_service

logger = logging.getLogger("gallery.function")


@lru_cache(maxsize=1)
def _service() -> PhotoService:
    settings = load_settings()
    configure_logging(settings.log_level, settings.google_cloud_project)
    return build_service(settings)


def _drain(signum: int) -> None:
    """SIGTERM (Cloud Run scales in or redeploys, then SIGKILLs 10 s later): stop taking work, finish renders."""
    if _service.cache_info().currsize:
        _service().drain()
    logger.warning("signal %d: draining; running renders finish, everything else answers 503", signum)


on_sigterm(_drain)


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    service = _service()
    try:
        event = parse_request(request.headers, request.get_data())
    except BadEventError as err:
        # Not a notification at all: refuse it so it ends in the dead-letter topic for inspection.
        logger.error("rejected delivery: %s", err)
        return flask.jsonify(error=err.code, reason=err.reason), 400
    try:
        outcome = service.handle(event)
    except TransientError as err:
        return flask.jsonify(error=err.code, reason=err.reason), 503
    return flask.jsonify(outcome=outcome.value), 200
