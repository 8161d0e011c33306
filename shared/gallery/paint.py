"""Paint first: store a render's preview and add it to the photo's document while the rest of the set renders.

The engine hands the preview over from the render's thread (`gallery.engine.render`'s `on_preview`); this stores
its renditions and writes the document on a thread of its own, so the render goes on meanwhile. Nothing here can
fail a photo: a preview that cannot be stored is logged and the finished set is written as usual.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gallery.errors import GalleryError
from gallery.manifest import preview_fields, rendition_path
from gallery.model import PreviewResult
from gallery.ports import Registry, RenditionStore

logger = logging.getLogger(__name__)


class PaintFirst:
    """One delivery's preview: called with it by the engine, `wait()`ed for before the set is stored."""

    def __init__(
        self,
        *,
        photo_id: str,
        generation: int,
        holder: str,
        renditions: RenditionStore,
        registry: Registry,
        url_prefix: str,
        min_pixels: float,
        started: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._pid = photo_id
        self._generation = generation
        self._holder = holder
        self._renditions = renditions
        self._registry = registry
        self._url_prefix = url_prefix
        self._min_pixels = min_pixels
        self._started = started
        self._clock = clock
        self._thread: threading.Thread | None = None
        self.stored: set[str] = set()
        """Object names of the preview's renditions stored (the finished set need not write them again)."""
        self.paint_ms: float | None = None
        """Milliseconds from the delivery's start until the document carried the preview (None: it never did)."""

    def __call__(self, preview: PreviewResult) -> None:
        if preview.width * preview.height < self._min_pixels:
            return  # a small photo: its whole set is about as quick
        self._thread = threading.Thread(target=self._paint, args=(preview,), name="paint-first", daemon=True)
        self._thread.start()

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the preview is stored (or given up on)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _paint(self, preview: PreviewResult) -> None:
        try:
            for rendition in preview.renditions:
                path = rendition_path(self._pid, self._generation, rendition)
                self._renditions.put(path, rendition.data, rendition.content_type)
                self.stored.add(path)
            fields = preview_fields(preview, self._pid, self._generation, self._url_prefix)
            if self._registry.note_preview(self._pid, self._generation, self._holder, fields):
                self.paint_ms = round((self._clock() - self._started) * 1000, 1)
                logger.info("preview painted", extra={"json_fields": {"paint_ms": self.paint_ms}})
        except GalleryError as err:
            logger.warning("preview not stored; the finished set will be: %s", err)
