"""The local Pub/Sub emulator's own queue figures: implements `gallery.ports.QueueMetrics` for the local stack.

Our emulator (gallery_devstack.pubsub_emulator) answers one read-only gRPC method next to the Pub/Sub API, on
the same port: `QUEUE_STATS_METHOD`, JSON in and out. It reports what really is pending: every message published
to the subscription and neither acknowledged nor dead-lettered (leased and backing-off ones included, as Cloud
Monitoring's ``num_undelivered_messages`` counts them) and the publish time of the oldest of them, read at the
emulator's own clock. Google's emulator has no such method: the figures are then unavailable (TransientError).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import grpc

from gallery.errors import TransientError
from gallery.model import QueueFigures

QUEUE_STATS_METHOD = "/gallery.devstack.v1.QueueStats/GetSubscriptionStats"
"""Request ``{"subscriptions": [name, ...]}``; response ``{"read_time": RFC 3339, "subscriptions": {name:
{"num_undelivered_messages": int, "oldest_unacked_publish_time": RFC 3339 | null}}}`` (unknown names left out)."""


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def decode(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))


def figures_from_stats(stats: dict[str, Any], subscriptions: Sequence[str]) -> dict[str, QueueFigures]:
    """The emulator's answer as figures per subscription (unknown ones empty)."""
    read_time = datetime.fromisoformat(str(stats["read_time"]))
    known = stats.get("subscriptions") or {}
    found: dict[str, QueueFigures] = {}
    for name in subscriptions:
        entry = known.get(name)
        if entry is None:
            found[name] = QueueFigures()
            continue
        oldest = entry.get("oldest_unacked_publish_time")
        age = (read_time - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
        found[name] = QueueFigures(int(entry["num_undelivered_messages"]), max(0.0, age))
    return found


class EmulatorQueueMetrics:
    """Reads the local emulator's queue figures over its gRPC port (``PUBSUB_EMULATOR_HOST``)."""

    source = "emulator"

    def __init__(self, channel: grpc.Channel, *, timeout: float = 5.0) -> None:
        self._call = channel.unary_unary(QUEUE_STATS_METHOD, request_serializer=encode, response_deserializer=decode)
        self._timeout = timeout

    def figures(self, subscriptions: Sequence[str]) -> dict[str, QueueFigures]:
        try:
            stats = self._call({"subscriptions": list(subscriptions)}, timeout=self._timeout)
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            if code == grpc.StatusCode.UNIMPLEMENTED:
                raise TransientError(
                    "the Pub/Sub emulator does not report queue figures (only the local stack's own emulator does)",
                    code="queue_figures_unsupported",
                ) from err
            raise TransientError(
                f"reading the emulator's queue figures failed: {code}", code="queue_unavailable"
            ) from err
        return figures_from_stats(stats, subscriptions)
