"""Run a callback when the serving process is told to stop (SIGTERM), before the server's own handling."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any


def on_sigterm(callback: Callable[[int], None]) -> None:
    """Chain `callback(signum)` before the server's SIGTERM handling.

    functions-framework serves with gunicorn, whose worker installs its SIGTERM handler (`handle_exit`: stop
    accepting, let in-flight requests finish within the graceful timeout) after the function module is
    imported, and offers no hook for it; so the handler method itself is wrapped. Without gunicorn (the
    debug server) a plain signal handler chains to the previous one.
    """
    try:
        from gunicorn.workers import base, gthread  # type: ignore[import-untyped]
    except ImportError:
        previous = signal.getsignal(signal.SIGTERM)

        def handler(signum: int, frame: FrameType | None) -> None:
            callback(signum)
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(0)

        signal.signal(signal.SIGTERM, handler)
        return
    for worker in (base.Worker, gthread.ThreadWorker):
        original = worker.__dict__.get("handle_exit")
        if original is None or getattr(original, "_gallery_chained", False):
            continue

        def handle_exit(self: Any, signum: int, frame: FrameType | None, _original: Any = original) -> None:
            callback(signum)
            _original(self, signum, frame)

        handle_exit._gallery_chained = True  # type: ignore[attr-defined]
        worker.handle_exit = handle_exit
