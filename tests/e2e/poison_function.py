"""The thumbnailer with a renderer that kills its worker process: test wiring for the local stack.

Served by functions-framework exactly like functions/thumbnailer/main.py (give it to the stack as
``function_source``): the real entry point and service, except that the renderer calls ``os._exit(1)`` when the
photo's bytes contain `CRASH_MARKER`, which is what an out-of-memory kill or a decoder crash does to an instance.
Test-only: nothing in the product reads or ships this file.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Any

import flask

from gallery.engine import render
from gallery.model import Limits, RenderResult, RenditionSpec
from gallery.settings import load_settings
from gallery.wiring import build_service

CRASH_MARKER = b"gallery-test-hook:kill-the-worker"
MAIN = Path(__file__).resolve().parents[2] / "functions" / "thumbnailer" / "main.py"


def crashing_render(data: bytes, spec: RenditionSpec, limits: Limits) -> RenderResult:
    if CRASH_MARKER in data:
        logging.getLogger("gallery.test_hook").error("test renderer: killing the worker process")
        os._exit(1)
    return render(data, spec, limits)


_spec = importlib.util.spec_from_file_location("thumbnailer_main", MAIN)
assert _spec is not None and _spec.loader is not None
_main = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_main)
_lock = threading.Lock()


def handle(request: flask.Request) -> Any:
    """The real entry point, given the crashing service through its documented seam (the app config)."""
    config = flask.current_app.config
    with _lock:
        if _main.SERVICE_KEY not in config:
            config[_main.SERVICE_KEY] = build_service(load_settings(), renderer=crashing_render)
    return _main.handle(request)
