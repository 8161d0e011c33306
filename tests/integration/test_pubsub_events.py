"""PubSubEventSink against the project's Pub/Sub emulator, through the official client."""

from __future__ import annotations

import json

import pytest
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from gallery.adapters.pubsub_events import PubSubEventSink
from gallery.errors import TransientError
from tests.fixtures_devstack import PubSubEmulatorInfo


def test_events_are_published_with_attributes(
    pubsub_emulator: PubSubEmulatorInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.emulator_host)
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.create_topic(name="projects/gallery-it/topics/photo-events").name
    sub = subscriber.create_subscription(name="projects/gallery-it/subscriptions/photo-events-it", topic=topic).name
    sink = PubSubEventSink(publisher, topic)
    sink.publish("photo.registered", {"photoId": "abc", "generation": "7"}, {"photo_id": "abc", "width": 640})
    response = subscriber.pull(subscription=sub, max_messages=10, timeout=10)
    (received,) = response.received_messages
    assert dict(received.message.attributes) == {"eventType": "photo.registered", "photoId": "abc", "generation": "7"}
    assert json.loads(received.message.data) == {"photo_id": "abc", "width": 640}


def test_a_missing_topic_is_transient(pubsub_emulator: PubSubEmulatorInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.emulator_host)
    sink = PubSubEventSink(pubsub_v1.PublisherClient(), "projects/gallery-it/topics/never-created")
    with pytest.raises(TransientError):
        sink.publish("photo.registered", {"photoId": "x"}, {})
