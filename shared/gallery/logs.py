"""JSON log lines in Cloud Logging's structured format, with per-photo labels carried in a context."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator

from google.cloud.logging.handlers import StructuredLogHandler

_labels: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("gallery_log_labels", default=None)


class _LabelFilter(logging.Filter):
    """Adds the labels of the photo being handled to every record logged while handling it."""

    def filter(self, record: logging.LogRecord) -> bool:
        labels = _labels.get()
        if labels:
            record.labels = {**labels, **getattr(record, "labels", {})}
        return True


@contextlib.contextmanager
def log_labels(**labels: object) -> Iterator[None]:
    """Attach labels (photo id, bucket, object, generation) to every log line inside the block."""
    current = dict(_labels.get() or {})
    current.update({k: str(v) for k, v in labels.items() if v is not None})
    token = _labels.set(current)
    try:
        yield
    finally:
        _labels.reset(token)


def configure_logging(level: str = "INFO", project: str | None = None) -> None:
    """Send the root logger's records to stdout as Cloud Logging JSON lines (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, StructuredLogHandler):
            break
    else:
        handler = StructuredLogHandler(project_id=project, stream=sys.stdout)  # type: ignore[no-untyped-call]
        handler.filters.insert(0, _LabelFilter())  # before the handler's own filter reads `labels`
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
