"""JSON log lines in Cloud Logging's structured format, with per-photo labels carried in a context.

Cloud Run turns each JSON line on stdout into a structured log entry by itself: `severity`, `message`,
`logging.googleapis.com/trace`, `logging.googleapis.com/spanId`, `logging.googleapis.com/labels` and
`logging.googleapis.com/sourceLocation` become the entry's fields, and every other key lands in its
`jsonPayload`. So no logging client is needed (importing one costs ~200 ms of cold start).

The trace comes from the request being served: the `X-Cloud-Trace-Context` header, or W3C `traceparent`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

_labels: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("gallery_log_labels", default=None)

_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d+))?")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_SEVERITIES = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO", "DEBUG": "DEBUG"}


def trace_from_headers(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(trace id, span id) from `X-Cloud-Trace-Context` or `traceparent`; (None, None) without either."""
    cloud = headers.get("X-Cloud-Trace-Context") or headers.get("x-cloud-trace-context")
    if cloud and (match := _CLOUD_TRACE.match(cloud.strip())):
        return match.group(1).lower(), match.group(2)
    parent = headers.get("traceparent") or headers.get("Traceparent")
    if parent and (match := _TRACEPARENT.match(parent.strip().lower())):
        return match.group(1), match.group(2)
    return None, None


def _request_trace() -> tuple[str | None, str | None]:
    """The trace of the Flask request being served, if any (Flask is only consulted once it is loaded)."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None, None
    return trace_from_headers(flask.request.headers)


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per record, in the shape Cloud Logging reads from a container's stdout."""

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self._project = project

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{''.join(traceback.format_exception(*record.exc_info)).rstrip()}"
        entry: dict[str, Any] = {
            "severity": _SEVERITIES.get(record.levelname, "DEFAULT"),
            "message": message,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "logger": record.name,
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": str(record.lineno),
                "function": record.funcName,
            },
            "logging.googleapis.com/labels": {**(_labels.get() or {}), **getattr(record, "labels", {})},
        }
        trace, span = _request_trace()
        if trace:
            entry["logging.googleapis.com/trace"] = (
                f"projects/{self._project}/traces/{trace}" if self._project else trace
            )
            if span:
                entry["logging.googleapis.com/spanId"] = span
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, Mapping):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        return json.dumps(entry, default=str, ensure_ascii=False)


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
        if isinstance(handler.formatter, CloudLoggingFormatter):
            break
    else:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(CloudLoggingFormatter(project))
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
