"""Log lines are Cloud Logging JSON with severity, the request's trace and the photo's labels."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import flask
import pytest

from gallery.logs import configure_logging, log_labels


@pytest.fixture
def structured_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers = []
    yield
    root.handlers, root.level = handlers, level


def test_json_line_with_trace_and_labels(structured_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", project="proj")
    configure_logging("INFO", project="proj")  # idempotent: still one line per record
    app = flask.Flask("t")
    trace = {"X-Cloud-Trace-Context": "4bf92f3577b34da6a3ce929d0e0e4736/1;o=1"}
    with app.test_request_context(headers=trace), log_labels(photo_id="abc", bucket="up", object="a.jpg", generation=7):
        logging.getLogger("gallery.test").warning("photo failed: %s", "truncated", extra={"json_fields": {"ms": 3}})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"photo failed' in line]
    assert len(lines) == 1
    (line,) = lines
    assert line["severity"] == "WARNING" and line["message"] == "photo failed: truncated"
    assert line["logging.googleapis.com/trace"] == "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    labels = line["logging.googleapis.com/labels"]
    assert {k: labels[k] for k in ("photo_id", "bucket", "object", "generation")} == {
        "photo_id": "abc",
        "bucket": "up",
        "object": "a.jpg",
        "generation": "7",
    }
    assert line["ms"] == 3


def test_labels_do_not_leak_outside_the_block(structured_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    with log_labels(photo_id="abc"):
        pass
    logging.getLogger("gallery.test").info("after")
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"after"' in x]
    assert "photo_id" not in line["logging.googleapis.com/labels"]
