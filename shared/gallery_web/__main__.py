"""``python -m gallery_web [--host 127.0.0.1] [--port 8080] [--env-file FILE]``: serve the gallery page.

Reads the same settings as the function and the CLI (``GOOGLE_CLOUD_PROJECT``, ``PHOTOS_COLLECTION``,
``FIRESTORE_DATABASE``, and ``FIRESTORE_EMULATOR_HOST`` for the local stack); ``--env-file`` (default: the
nearest ``.devstack.env``) fills in what the environment does not set. ``make run`` starts it on port 8080.
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

from werkzeug.serving import make_server

from gallery.settings import Settings
from gallery_cli.envfile import find_env_file, load_env_file
from gallery_web.feed import PhotoFeed
from gallery_web.server import create_app

logger = logging.getLogger("gallery_web")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gallery_web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("GALLERY_HOST", "127.0.0.1"), help="bind address")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("GALLERY_PORT") or 8080), help="port (default 8080)"
    )
    parser.add_argument("--env-file", type=Path, default=None, help="KEY=VALUE file (default: .devstack.env)")
    parser.add_argument("--log-level", default="INFO", help="log level (default INFO)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    env_file = args.env_file or find_env_file()
    if env_file is not None:
        load_env_file(env_file)
    settings = Settings()
    from gallery.wiring import firestore_client

    db = firestore_client(settings)
    feed = PhotoFeed(db, settings.photos_collection)
    if not feed.start():
        logger.warning("no Firestore snapshot yet; the page fills in once the listener connects")
    app = create_app(
        db,
        settings.photos_collection,
        feed,
        page_config={"uploads_bucket": settings.uploads_bucket, "collection": settings.photos_collection},
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
        feed.stop()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
