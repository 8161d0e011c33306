"""`gallery`: the operator's command line. Each command group is a module that defines its commands on the
shared `app` (gallery_cli.base); importing it here registers it.

drop (drop.py), ls/show (listing.py), render (render.py), presets check (presets.py), backfill (backfill.py),
import (s3import.py), failures/retry (failures.py), calibrate (calibrate.py), status (status_command.py),
prune (prune.py).
"""

from __future__ import annotations

import sys

from gallery.errors import GalleryError
from gallery_cli import (
    backfill,
    calibrate,
    drop,
    failures,
    listing,
    presets,
    prune,
    render,
    s3import,
    status_command,
)
from gallery_cli.base import MEDIA_SUFFIXES, PHOTO_SUFFIXES, VIDEO_SUFFIXES, EnvFileOption, JsonOption, app, err, out
from gallery_cli.terminal import safe_text

__all__ = [
    "MEDIA_SUFFIXES",
    "PHOTO_SUFFIXES",
    "VIDEO_SUFFIXES",
    "EnvFileOption",
    "JsonOption",
    "app",
    "err",
    "main",
    "out",
]
COMMAND_MODULES = (drop, listing, render, presets, backfill, s3import, failures, calibrate, status_command, prune)


def main() -> None:
    try:
        app()
    except GalleryError as exc:
        err.print(f"[red]{safe_text(exc.code)}: {safe_text(exc.reason)}[/red]")
        sys.exit(1)
