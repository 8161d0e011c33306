"""The queue-figure adapters against the real emulator: the figures are what is really pending on a subscription.

`EmulatorQueueMetrics` reads the emulator's own figures; `CloudMonitoringQueueMetrics` reads them through the
Cloud Monitoring API (ListTimeSeries), which the emulator answers for Pub/Sub's two backlog metrics.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport
from google.pubsub_v1.services.publisher import PublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber import SubscriberClient
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from gallery.adapters.emulator_queue_metrics import EmulatorQueueMetrics
from gallery.adapters.monitoring_queue_metrics import CloudMonitoringQueueMetrics
from gallery.errors import TransientError
from gallery.model import QueueFigures
from tests.fixtures_devstack import PubSubEmulatorInfo

PROJECT = "gallery-it"


@pytest.fixture
def channel(pubsub_emulator: PubSubEmulatorInfo) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(pubsub_emulator.emulator_host) as chan:
        yield chan


def test_backlog_counts_published_messages_ages_and_drains_to_zero(channel: grpc.Channel) -> None:
    publisher = PublisherClient(transport=PublisherGrpcTransport(channel=channel))
    subscriber = SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
    suffix = uuid.uuid4().hex[:8]
    topic = f"projects/{PROJECT}/topics/q-{suffix}"
    subscription = f"projects/{PROJECT}/subscriptions/q-{suffix}"
    other = f"projects/{PROJECT}/subscriptions/q-other-{suffix}"
    publisher.create_topic(request={"name": topic})
    subscriber.create_subscription(request={"name": subscription, "topic": topic, "ack_deadline_seconds": 30})
    subscriber.create_subscription(request={"name": other, "topic": topic})
    metrics = EmulatorQueueMetrics(channel)
    missing = f"projects/{PROJECT}/subscriptions/never-created-{suffix}"

    empty = metrics.figures([subscription, missing])
    assert empty == {subscription: QueueFigures(0, 0.0), missing: QueueFigures()}

    publisher.publish(request={"topic": topic, "messages": [{"data": f"m{i}".encode()} for i in range(7)]})
    first = metrics.figures([subscription])[subscription]
    assert first.backlog == 7
    assert first.oldest_unacked_age_seconds is not None
    time.sleep(1.2)
    later = metrics.figures([subscription])[subscription]
    assert later.backlog == 7
    assert later.oldest_unacked_age_seconds is not None
    assert later.oldest_unacked_age_seconds >= first.oldest_unacked_age_seconds + 1.0

    # Leased but not acknowledged: still undelivered, as Cloud Monitoring counts them.
    leased = subscriber.pull(request={"subscription": subscription, "max_messages": 3}).received_messages
    assert len(leased) == 3
    assert metrics.figures([subscription])[subscription].backlog == 7
    subscriber.acknowledge(request={"subscription": subscription, "ack_ids": [m.ack_id for m in leased]})
    assert metrics.figures([subscription])[subscription].backlog == 4

    while rest := subscriber.pull(request={"subscription": subscription, "max_messages": 10}).received_messages:
        subscriber.acknowledge(request={"subscription": subscription, "ack_ids": [m.ack_id for m in rest]})
    drained = metrics.figures([subscription, other])
    assert drained[subscription] == QueueFigures(0, 0.0)
    assert drained[other].backlog == 7  # the other subscription's copies are untouched


def test_an_emulator_without_queue_figures_is_reported_not_guessed() -> None:
    """Google's emulator has no such method: the adapter says so instead of inventing zeros."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan, pytest.raises(TransientError) as caught:
            EmulatorQueueMetrics(chan).figures(["projects/p/subscriptions/s"])
        assert caught.value.code == "queue_figures_unsupported"
    finally:
        server.stop(0)


def test_the_cloud_monitoring_adapter_reads_the_same_figures_through_list_time_series(channel: grpc.Channel) -> None:
    """The Cloud Monitoring adapter with the real client, over gRPC, against the emulator's ListTimeSeries."""
    publisher = PublisherClient(transport=PublisherGrpcTransport(channel=channel))
    subscriber = SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
    suffix = uuid.uuid4().hex[:8]
    topic = f"projects/{PROJECT}/topics/m-{suffix}"
    busy, idle = (f"projects/{PROJECT}/subscriptions/m-{kind}-{suffix}" for kind in ("busy", "idle"))
    missing = f"projects/{PROJECT}/subscriptions/m-missing-{suffix}"
    publisher.create_topic(request={"name": topic})
    subscriber.create_subscription(request={"name": busy, "topic": topic})
    publisher.publish(request={"topic": topic, "messages": [{"data": b"x"}] * 5})
    subscriber.create_subscription(request={"name": idle, "topic": topic})  # created after: sees none of them
    time.sleep(1.1)

    client = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
    cloud = CloudMonitoringQueueMetrics(client, PROJECT).figures([busy, idle, missing])
    local = EmulatorQueueMetrics(channel).figures([busy, idle, missing])
    assert cloud[busy].backlog == local[busy].backlog == 5
    assert cloud[busy].oldest_unacked_age_seconds is not None and local[busy].oldest_unacked_age_seconds is not None
    assert 1 <= cloud[busy].oldest_unacked_age_seconds <= local[busy].oldest_unacked_age_seconds + 1
    assert cloud[idle] == QueueFigures(0, 0.0)
    assert cloud[missing] == QueueFigures(None, None)  # no series: unknown, not zero

    with pytest.raises(gexc.InvalidArgument):
        client.list_time_series(
            request={"name": f"projects/{PROJECT}", "filter": 'metric.type = "compute.googleapis.com/instance/uptime"'}
        )
