"""The Pub/Sub emulator driven by the official google-cloud-pubsub client."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from tests.fixtures_devstack import PubSubEmulatorInfo
from tests.integration.conftest import PushReceiver

PROJECT = "gallery-it"
FAST_RETRY = {"minimum_backoff": dt.timedelta(seconds=0.1), "maximum_backoff": dt.timedelta(seconds=0.4)}


@pytest.fixture
def clients(
    pubsub_emulator: PubSubEmulatorInfo, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient]]:
    for key, value in pubsub_emulator.env.items():
        monkeypatch.setenv(key, value)
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        yield publisher, subscriber
    finally:
        subscriber.close()
        publisher.stop()


def _name(kind: str) -> str:
    return f"projects/{PROJECT}/{kind}/t-{uuid.uuid4().hex[:10]}"


def _pull(subscriber: pubsub_v1.SubscriberClient, subscription: str, *, timeout: float = 5.0) -> list[Any]:
    response = subscriber.pull(
        request={"subscription": subscription, "max_messages": 10, "return_immediately": False}, timeout=timeout
    )
    return list(response.received_messages)


def _pull_until(subscriber: pubsub_v1.SubscriberClient, subscription: str, count: int, timeout: float) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        batch = _pull(subscriber, subscription, timeout=max(0.5, min(3.0, deadline - time.monotonic())))
        if batch:
            subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in batch])
            got.extend(batch)
    return got


def test_topic_admin(clients: tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient]) -> None:
    publisher, subscriber = clients
    topic = _name("topics")
    assert publisher.create_topic(name=topic).name == topic
    assert publisher.get_topic(topic=topic).name == topic
    assert topic in [t.name for t in publisher.list_topics(project=f"projects/{PROJECT}")]
    with pytest.raises(gexc.AlreadyExists):
        publisher.create_topic(name=topic)
    sub = _name("subscriptions")
    subscriber.create_subscription(name=sub, topic=topic)
    assert subscriber.get_subscription(subscription=sub).topic == topic
    assert sub in list(publisher.list_topic_subscriptions(topic=topic))
    assert sub in [s.name for s in subscriber.list_subscriptions(project=f"projects/{PROJECT}")]
    publisher.delete_topic(topic=topic)
    with pytest.raises(gexc.NotFound):
        publisher.get_topic(topic=topic)
    with pytest.raises(gexc.NotFound):
        subscriber.create_subscription(name=_name("subscriptions"), topic=topic)
    subscriber.delete_subscription(subscription=sub)
    with pytest.raises(gexc.NotFound):
        subscriber.get_subscription(subscription=sub)


def test_publish_pull_ack_and_no_redelivery(
    clients: tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient],
) -> None:
    publisher, subscriber = clients
    topic, sub = _name("topics"), _name("subscriptions")
    publisher.create_topic(name=topic)
    publisher.publish(topic, b"before the subscription").result(timeout=10)
    subscriber.create_subscription(request={"name": sub, "topic": topic, "ack_deadline_seconds": 1})

    message_id = publisher.publish(topic, b"hello", eventType="OBJECT_FINALIZE").result(timeout=10)

    received = _pull(subscriber, sub)
    assert [m.message.data for m in received] == [b"hello"]  # the earlier message is not delivered
    msg = received[0]
    assert msg.message.message_id == message_id
    assert dict(msg.message.attributes) == {"eventType": "OBJECT_FINALIZE"}
    assert msg.message.publish_time.year >= 2024
    assert msg.delivery_attempt == 0  # no dead-letter policy → not reported, like Google
    subscriber.acknowledge(subscription=sub, ack_ids=[msg.ack_id])

    time.sleep(1.3)  # past the ack deadline: an acked message must not come back
    assert _pull(subscriber, sub, timeout=1.0) == []


def test_unacked_pull_message_is_redelivered_after_ack_deadline(
    clients: tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient],
) -> None:
    publisher, subscriber = clients
    topic, dlq, sub = _name("topics"), _name("topics"), _name("subscriptions")
    publisher.create_topic(name=topic)
    publisher.create_topic(name=dlq)
    subscriber.create_subscription(
        request={
            "name": sub,
            "topic": topic,
            "ack_deadline_seconds": 1,
            "dead_letter_policy": {"dead_letter_topic": dlq, "max_delivery_attempts": 5},
        }
    )
    publisher.publish(topic, b"x").result(timeout=10)
    first = _pull(subscriber, sub)
    assert [m.delivery_attempt for m in first] == [1]
    second = _pull(subscriber, sub)  # waits for the 1 s deadline to expire
    assert [m.delivery_attempt for m in second] == [2]
    assert second[0].message.message_id == first[0].message.message_id
    # the stale ack id of the first delivery is ignored; the current one acks
    subscriber.acknowledge(subscription=sub, ack_ids=[first[0].ack_id])
    subscriber.modify_ack_deadline(subscription=sub, ack_ids=[second[0].ack_id], ack_deadline_seconds=0)  # nack
    third = _pull(subscriber, sub)
    assert [m.delivery_attempt for m in third] == [3]
    subscriber.acknowledge(subscription=sub, ack_ids=[third[0].ack_id])
    assert _pull(subscriber, sub, timeout=1.5) == []


def test_push_retries_with_delivery_attempt_then_acks(
    clients: tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient], push_receiver: PushReceiver
) -> None:
    publisher, subscriber = clients
    topic, dlq, sub = _name("topics"), _name("topics"), _name("subscriptions")
    publisher.create_topic(name=topic)
    publisher.create_topic(name=dlq)
    push_receiver.respond = lambda env: 204 if env["deliveryAttempt"] >= 3 else 503
    subscriber.create_subscription(
        request={
            "name": sub,
            "topic": topic,
            "push_config": {"push_endpoint": push_receiver.url},
            "ack_deadline_seconds": 5,
            "retry_policy": FAST_RETRY,
            "dead_letter_policy": {"dead_letter_topic": dlq, "max_delivery_attempts": 5},
        }
    )
    message_id = publisher.publish(topic, b"\x00photo", bucketId="gallery-uploads").result(timeout=10)

    assert push_receiver.wait_for(lambda got: len(got) >= 3, timeout=10)
    time.sleep(0.8)  # give a (wrong) 4th delivery the chance to happen
    assert [e["deliveryAttempt"] for e in push_receiver.received] == [1, 2, 3]
    envelope = push_receiver.received[0]
    assert envelope["subscription"] == sub
    message = envelope["message"]
    assert base64.b64decode(message["data"]) == b"\x00photo"
    assert message["attributes"] == {"bucketId": "gallery-uploads"}
    assert message["messageId"] == message["message_id"] == message_id
    assert message["publishTime"] == message["publish_time"]
    assert message["publishTime"].endswith("Z")


def test_push_without_dead_letter_policy_has_no_delivery_attempt(
    clients: tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient], push_receiver: PushReceiver
) -> None:
    publisher, subscriber = clients
    topic, sub = _name("topics"), _name("subscriptions")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(
        request={"name": sub, "topic": topic, "push_config": {"push_endpoint": push_receiver.url}}
    )
    publisher.publish(topic, b"x").result(timeout=10)
    assert push_receiver.wait_for(lambda got: len(got) == 1, timeout=10)
    assert "deliveryAttempt" not in push_receiver.received[0]


def test_push_that_always_fails_lands_in_dead_letter_once(
    clients: tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient],
    push_receiver: PushReceiver,
    pubsub_emulator: PubSubEmulatorInfo,
) -> None:
    publisher, subscriber = clients
    topic, dlq = _name("topics"), _name("topics")
    sub, dlq_sub = _name("subscriptions"), _name("subscriptions")
    publisher.create_topic(name=topic)
    publisher.create_topic(name=dlq)
    subscriber.create_subscription(name=dlq_sub, topic=dlq)
    push_receiver.respond = lambda _env: 500
    subscriber.create_subscription(
        request={
            "name": sub,
            "topic": topic,
            "push_config": {"push_endpoint": push_receiver.url},
            "retry_policy": FAST_RETRY,
            "dead_letter_policy": {"dead_letter_topic": dlq, "max_delivery_attempts": 5},
        }
    )
    publisher.publish(topic, b"poison", objectId="bad.jpg").result(timeout=10)

    dead = _pull_until(subscriber, dlq_sub, count=1, timeout=10)
    assert [m.message.data for m in dead] == [b"poison"]
    attrs = dict(dead[0].message.attributes)
    assert attrs["objectId"] == "bad.jpg"
    assert attrs["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert [e["deliveryAttempt"] for e in push_receiver.received] == [1, 2, 3, 4, 5]
    time.sleep(0.8)
    assert _pull(subscriber, dlq_sub, timeout=1.0) == []  # exactly once
    assert len(push_receiver.received) == 5  # and no more pushes
    assert pubsub_emulator.emulator.backlog_size(sub) == 0


def test_slow_push_does_not_block_others(
    clients: tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient], push_receiver: PushReceiver
) -> None:
    publisher, subscriber = clients
    topic, sub = _name("topics"), _name("subscriptions")
    publisher.create_topic(name=topic)
    release = threading.Event()

    def respond(envelope: dict[str, Any]) -> int:
        if envelope["message"]["attributes"].get("slow"):
            release.wait(5)
        return 204

    push_receiver.respond = respond
    subscriber.create_subscription(
        request={"name": sub, "topic": topic, "push_config": {"push_endpoint": push_receiver.url}}
    )
    publisher.publish(topic, b"slow", slow="1").result(timeout=10)
    for i in range(5):
        publisher.publish(topic, f"fast {i}".encode()).result(timeout=10)
    try:
        assert push_receiver.wait_for(lambda got: len(got) == 6, timeout=3)
    finally:
        release.set()


def test_streaming_pull_with_subscriber_client(
    clients: tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient],
) -> None:
    publisher, subscriber = clients
    topic, sub = _name("topics"), _name("subscriptions")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic)
    got: list[bytes] = []
    done = threading.Event()

    def callback(message: Any) -> None:
        got.append(message.data)
        message.ack()
        if len(got) == 3:
            done.set()

    future = subscriber.subscribe(sub, callback)
    try:
        for i in range(3):
            publisher.publish(topic, f"m{i}".encode()).result(timeout=10)
        assert done.wait(10)
    finally:
        future.cancel()
        future.result(timeout=10)
    assert sorted(got) == [b"m0", b"m1", b"m2"]
