"""Pub/Sub: publish photo lifecycle events for downstream consumers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gallery.errors import TransientError

if TYPE_CHECKING:  # the client library is imported by wiring only when EVENTS_TOPIC is set (~50 ms)
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

_PUBLISH_TIMEOUT = 30.0


class PubSubEventSink:
    """Implements `gallery.ports.EventSink`: JSON payload, event type and photo id as attributes."""

    def __init__(self, publisher: pubsub_v1.PublisherClient, topic_path: str) -> None:
        self._publisher = publisher
        self._topic = topic_path

    def publish(self, event_type: str, attributes: Mapping[str, str], payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload, default=str, separators=(",", ":")).encode()
        try:
            self._publisher.publish(self._topic, data, eventType=event_type, **attributes).result(_PUBLISH_TIMEOUT)
        except Exception as err:
            # Even a missing topic is an operator's fix away: keep the notification retrying, never fail the photo.
            raise TransientError(f"publish {event_type} to {self._topic}: {err}", code="events_unavailable") from err
