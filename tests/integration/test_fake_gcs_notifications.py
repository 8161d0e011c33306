"""fake-gcs-server publishes object notifications to our Pub/Sub emulator like GCS does."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from tests.fixtures_devstack import FakeGcsInfo, PubSubEmulatorInfo


@pytest.fixture
def events_subscription(
    fake_gcs: FakeGcsInfo, pubsub_emulator: PubSubEmulatorInfo, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[pubsub_v1.SubscriberClient, str]]:
    for key, value in {**pubsub_emulator.env, **fake_gcs.env}.items():
        monkeypatch.setenv(key, value)
    subscriber = pubsub_v1.SubscriberClient()
    name = f"projects/{fake_gcs.project}/subscriptions/events-{uuid.uuid4().hex[:8]}"
    subscriber.create_subscription(name=name, topic=fake_gcs.topic)
    fake_gcs.ensure_bucket(fake_gcs.uploads_bucket)
    try:
        yield subscriber, name
    finally:
        subscriber.delete_subscription(subscription=name)
        subscriber.close()


def _pull_one(subscriber: pubsub_v1.SubscriberClient, subscription: str, timeout: float = 5.0) -> Any:
    response = subscriber.pull(request={"subscription": subscription, "max_messages": 1}, timeout=timeout)
    assert len(response.received_messages) == 1, "no event arrived"
    received = response.received_messages[0]
    subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
    return received.message


def test_finalize_and_delete_events(
    fake_gcs: FakeGcsInfo,
    pubsub_emulator: PubSubEmulatorInfo,
    events_subscription: tuple[pubsub_v1.SubscriberClient, str],
) -> None:
    subscriber, subscription = events_subscription
    before = Counter(pubsub_emulator.emulator.rpc_counts)
    blob = fake_gcs.client().bucket(fake_gcs.uploads_bucket).blob(f"trip/{uuid.uuid4().hex}.jpg")
    blob.upload_from_string(b"\xff\xd8\xff fake jpeg", content_type="image/jpeg")

    finalize = _pull_one(subscriber, subscription)
    attrs = dict(finalize.attributes)
    assert attrs["eventType"] == "OBJECT_FINALIZE"
    assert attrs["bucketId"] == fake_gcs.uploads_bucket
    assert attrs["objectId"] == blob.name
    assert attrs["objectGeneration"] == str(blob.generation)
    assert attrs["payloadFormat"] == "JSON_API_V1"
    assert "notificationConfig" not in attrs  # fake-gcs-server quirk: the handler must not need it
    resource = json.loads(finalize.data)
    assert resource["name"] == blob.name
    assert resource["bucket"] == fake_gcs.uploads_bucket
    assert resource["generation"] == str(blob.generation)
    assert resource["contentType"] == "image/jpeg"

    blob.delete()
    delete = _pull_one(subscriber, subscription)
    assert dict(delete.attributes)["eventType"] == "OBJECT_DELETE"
    assert dict(delete.attributes)["objectGeneration"] == str(blob.generation)

    # fake-gcs-server's Go client only ever calls Publish on the emulator
    calls = Counter(pubsub_emulator.emulator.rpc_counts) - before
    assert {k for k in calls if not k.startswith("Subscriber/")} == {"Publisher/Publish"}


def test_other_bucket_produces_no_event(
    fake_gcs: FakeGcsInfo, events_subscription: tuple[pubsub_v1.SubscriberClient, str]
) -> None:
    subscriber, subscription = events_subscription
    other = fake_gcs.ensure_bucket("gallery-renditions-it")
    other.blob("x/320.webp").upload_from_string(b"RIFF", content_type="image/webp")
    response = subscriber.pull(request={"subscription": subscription, "max_messages": 5}, timeout=1.5)
    assert list(response.received_messages) == []


def test_public_download_url_form(fake_gcs: FakeGcsInfo) -> None:
    """Renditions are served at http://HOST:PORT/BUCKET/OBJECT (the RENDITIONS_BASE_URL form)."""
    bucket = fake_gcs.ensure_bucket("gallery-renditions-it")
    blob = bucket.blob("abc/1/320.webp")
    blob.cache_control = "public, max-age=31536000, immutable"
    blob.upload_from_string(b"RIFF....WEBP", content_type="image/webp")
    with urllib.request.urlopen(f"{fake_gcs.url}/{bucket.name}/abc/1/320.webp", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/webp"
        assert resp.read() == b"RIFF....WEBP"
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
