"""``python -m gallery_web [--host 127.0.0.1] [--port 8080] [--env-file FILE]``: serve the gallery page.

Answers only requests whose Host header is 127.0.0.1, localhost, the bind address or an ``--allowed-host``
(``GALLERY_ALLOWED_HOSTS``, comma-separated), and holds at most ``--max-streams`` (``GALLERY_MAX_STREAMS``)
live event streams at once.

Every ``--status-seconds`` (``GALLERY_STATUS_SECONDS``, default 5) it reads the pipeline status, as
`gallery status` does, for the page's queue panel.

Reads the same settings as the function and the CLI (``GOOGLE_CLOUD_PROJECT``, ``PHOTOS_COLLECTION``,
``FIRESTORE_DATABASE``, and ``FIRESTORE_EMULATOR_HOST`` for the local stack); ``--env-file`` (default:
``.devstack.env`` in the current directory, never a parent's) fills in what the environment does not set.
``make run`` starts it on port 8080.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from gallery.pipeline_status import collect, configured_lanes
from gallery_cli.envfile import find_env_file, load_env_file
from gallery_cli.settings import ToolSettings
from gallery_web.feed import PhotoFeed
from gallery_web.policy import DEFAULT_ALLOWED_HOSTS, DEFAULT_MAX_STREAMS, allowed_hosts, origin
from gallery_web.server import create_app
from gallery_web.status_poller import DEFAULT_INTERVAL_SECONDS, StatusPoller

logger = logging.getLogger("gallery_web")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gallery_web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("GALLERY_HOST", "127.0.0.1"), help="bind address")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("GALLERY_PORT") or 8080), help="port (default 8080)"
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=None,
        metavar="NAME",
        help="a Host name the page may be reached by; repeatable (default: 127.0.0.1, localhost, the bind address)",
    )
    parser.add_argument(
        "--max-streams",
        type=int,
        default=int(os.environ.get("GALLERY_MAX_STREAMS") or DEFAULT_MAX_STREAMS),
        help=f"most live event streams (open pages) at once; more get 503 (default {DEFAULT_MAX_STREAMS})",
    )
    parser.add_argument(
        "--status-seconds",
        type=float,
        default=float(os.environ.get("GALLERY_STATUS_SECONDS") or DEFAULT_INTERVAL_SECONDS),
        help=f"how often the queue panel's figures are read (default {DEFAULT_INTERVAL_SECONDS:g} s)",
    )
    parser.add_argument("--env-file", type=Path, default=None, help="KEY=VALUE file (default: .devstack.env)")
    parser.add_argument("--log-level", default="INFO", help="log level (default INFO)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_streams < 1:
        parser.error("--max-streams must be at least 1")
    if args.status_seconds < 1:
        parser.error("--status-seconds must be at least 1")
    from_env = [h for h in os.environ.get("GALLERY_ALLOWED_HOSTS", "").split(",") if h.strip()]
    hosts = allowed_hosts(args.allowed_host or from_env or DEFAULT_ALLOWED_HOSTS, args.host)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    env_file = args.env_file or find_env_file()
    if env_file is not None:
        load_env_file(env_file)
    settings = ToolSettings.from_env()
    from gallery.wiring import build_catalog, build_queue_metrics

    catalog = build_catalog(settings)
    feed = PhotoFeed(catalog)
    if not feed.start():
        logger.warning("no Firestore snapshot yet; the page fills in once the listener connects")
    queues = build_queue_metrics(settings)
    lanes = configured_lanes(settings.lane_subscriptions)

    def read_status() -> dict[str, Any]:
        return collect(
            catalog,
            queues,
            lanes,
            settings.dead_letter_subscription_path,
            window_minutes=settings.status_window_minutes,
        ).as_json()

    poller = StatusPoller(read_status, feed.publish_status, args.status_seconds)
    poller.start()
    app = create_app(
        catalog,
        feed,
        page_config={"uploads_bucket": settings.uploads_bucket, "collection": settings.photos_collection},
        allowed_hosts=hosts,
        image_origins=[origin(settings.renditions_url_prefix)],
        max_streams=args.max_streams,
    )
    server = make_server(args.host, args.port, app, threaded=True)
    stopping = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logger.info("gallery page on http://%s:%d/ (collection %s)", args.host, server.port, settings.photos_collection)
    try:
        server.serve_forever()
    finally:
        poller.stop()
        feed.stop()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
