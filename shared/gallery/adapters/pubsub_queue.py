"""Pub/Sub: a lane's topic, where the function re-queues a notification (the bulk lane, after a dead letter)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from gallery.errors import TransientError

_PUBLISH_TIMEOUT = 30.0


def _publisher_client() -> Any:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    return pubsub_v1.PublisherClient()


class PubSubNotificationQueue:
    """Implements `gallery.ports.NotificationQueue` on one topic.

    The client is built on first use: dead letters are rare, and the function's cold start should not pay for a
    publisher it may never need.
    """

    def __init__(self, topic_path: str, client_factory: Callable[[], Any] = _publisher_client) -> None:
        self._topic = topic_path
        self._factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    def _publisher(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> None:
        try:
            self._publisher().publish(self._topic, data, **attributes).result(_PUBLISH_TIMEOUT)
        except Exception as err:
            # The dead letter is answered 503 and pushed again; nothing is recorded until the publish succeeds.
            raise TransientError(f"re-queue on {self._topic}: {err}", code="requeue_unavailable") from err
