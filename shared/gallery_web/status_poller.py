"""Reads the pipeline status on an interval and hands it to the page's feed, so the queue panel stays live.

One reader for every open page: the figures cost a few count aggregations, one range query and one queue read
per interval, whatever the number of pages. A read that fails is published as ``{"error": ...}`` and retried at
the next interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 5.0


class StatusPoller:
    """Calls `read` now and then every `every` seconds on a daemon thread, and `publish`es what it returns."""

    def __init__(
        self,
        read: Callable[[], dict[str, Any]],
        publish: Callable[[dict[str, Any]], None],
        every: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._read = read
        self._publish = publish
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> dict[str, Any]:
        try:
            status = self._read()
        except Exception as exc:  # the panel shows why; the next interval tries again
            logger.warning("reading the pipeline status failed: %s", exc)
            status = {"error": f"{type(exc).__name__}: {exc}"}
        self._publish(status)
        return status

    def start(self) -> None:
        def loop() -> None:
            while True:
                self.poll_once()
                if self._stop.wait(self._every):
                    return

        self._thread = threading.Thread(target=loop, name="pipeline-status-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
