"""Restarting the Pub/Sub emulator's push loop while pushes are in flight: state stays, nothing is lost.

An abandoned push's answer (when the endpoint finally gives it) neither acks nor nacks; its message comes back
as a second delivery attempt, as Google redelivers a message whose push it lost.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from google.pubsub_v1.services.publisher import PublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber import SubscriberClient
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from gallery.adapters.emulator_queue_metrics import EmulatorQueueMetrics
from gallery_devstack.processes import LOCALHOST
from gallery_devstack.pubsub_emulator import PubSubEmulator
from gallery_devstack.stack import DevStack
from tests.polling import wait_until

PROJECT = "gallery-it"
MESSAGES = 6
FIRST_HOLD_SECONDS = 2.0
"""How long the endpoint holds a first delivery: the push loop restarts meanwhile."""
LATER_HOLD_SECONDS = 3.0
"""How long it holds a redelivery: the abandoned pushes' answers arrive while it is in flight."""
DEADLINE_SECONDS = 30.0


@dataclass
class HoldingEndpoint:
    """A push endpoint on 127.0.0.1 that holds each request before answering.

    First deliveries are held FIRST_HOLD_SECONDS and answered `first_status`; redeliveries are held
    LATER_HOLD_SECONDS and answered 200.
    """

    url: str
    first_status: int = 200
    arrived: list[tuple[str, int]] = field(default_factory=list)
    """(message id, delivery attempt) of every request, in arrival order."""
    answered: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def handle(self, envelope: dict[str, Any]) -> int:
        delivery = (str(envelope["message"]["messageId"]), int(envelope.get("deliveryAttempt") or 0))
        with self.cond:
            self.arrived.append(delivery)
            self.cond.notify_all()
        first = delivery[1] <= 1
        time.sleep(FIRST_HOLD_SECONDS if first else LATER_HOLD_SECONDS)
        return self.first_status if first else 200

    def done(self) -> None:
        with self.cond:
            self.answered += 1
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = DEADLINE_SECONDS) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout=timeout)

    def attempts(self) -> dict[str, list[int]]:
        with self.cond:
            out: dict[str, list[int]] = {}
            for message_id, attempt in self.arrived:
                out.setdefault(message_id, []).append(attempt)
            return {k: sorted(v) for k, v in out.items()}


@pytest.fixture
def endpoint() -> Iterator[HoldingEndpoint]:
    holder: HoldingEndpoint

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            envelope = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            try:
                status = holder.handle(envelope)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            finally:
                holder.done()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 64
        daemon_threads = True

    server = Server((LOCALHOST, 0), Handler)
    holder = HoldingEndpoint(url=f"http://{LOCALHOST}:{server.server_address[1]}/")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        server.shutdown()
        server.server_close()


class Clients:
    """GAPIC Pub/Sub clients on an emulator address, with the few calls the tests make."""

    def __init__(self, host: str) -> None:
        self._channels = [grpc.insecure_channel(host) for _ in range(3)]
        self.publisher = PublisherClient(transport=PublisherGrpcTransport(channel=self._channels[0]))
        self.subscriber = SubscriberClient(transport=SubscriberGrpcTransport(channel=self._channels[1]))
        self.queue = EmulatorQueueMetrics(self._channels[2])

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def topic(self) -> str:
        name = f"projects/{PROJECT}/topics/t-{uuid.uuid4().hex[:10]}"
        self.publisher.create_topic(request={"name": name}, timeout=10)
        return name

    def push_subscription(self, topic: str, endpoint: str) -> str:
        """Fast retries, an ack deadline (push timeout) above the endpoint's holds, delivery attempts reported."""
        name = f"projects/{PROJECT}/subscriptions/s-{uuid.uuid4().hex[:10]}"
        request = {
            "name": name,
            "topic": topic,
            "push_config": {"push_endpoint": endpoint},
            "ack_deadline_seconds": 10,
            "retry_policy": {
                "minimum_backoff": dt.timedelta(seconds=0.2),
                "maximum_backoff": dt.timedelta(seconds=0.5),
            },
            "dead_letter_policy": {"dead_letter_topic": self.topic(), "max_delivery_attempts": 5},
        }
        self.subscriber.create_subscription(request=request, timeout=10)
        return name

    def publish(self, topic: str, count: int) -> list[str]:
        messages = [{"data": f"photo-{i}".encode()} for i in range(count)]
        return list(self.publisher.publish(request={"topic": topic, "messages": messages}, timeout=10).message_ids)

    def backlog(self, subscription: str) -> int | None:
        return self.queue.figures([subscription])[subscription].backlog

    def still_serves_publish_and_pull(self) -> None:
        topic = self.topic()
        subscription = f"projects/{PROJECT}/subscriptions/p-{uuid.uuid4().hex[:10]}"
        self.subscriber.create_subscription(request={"name": subscription, "topic": topic}, timeout=10)
        [message_id] = self.publish(topic, 1)
        response = self.subscriber.pull(request={"subscription": subscription, "max_messages": 5}, timeout=10)
        assert [m.message.message_id for m in response.received_messages] == [message_id]
        ack_ids = [m.ack_id for m in response.received_messages]
        self.subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack_ids}, timeout=10)
        assert self.backlog(subscription) == 0


@pytest.fixture
def emulator() -> Iterator[PubSubEmulator]:
    """An emulator of its own: restarting the session one's push loop would disturb other tests' pushes."""
    emu = PubSubEmulator(LOCALHOST, 0)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def _watch_in_flight(emulator: PubSubEmulator, subscription: str, stop: threading.Event) -> list[int]:
    """Sample the subscription's in-flight push count every few milliseconds until `stop` (in a thread)."""
    samples: list[int] = []

    def sample() -> None:
        while not stop.is_set():
            samples.append(emulator.push_in_flight(subscription))
            time.sleep(0.005)

    threading.Thread(target=sample, name="in-flight-sampler", daemon=True).start()
    return samples


@pytest.mark.parametrize("first_status", [200, 500], ids=["abandoned-push-answers-ok", "abandoned-push-fails"])
def test_restart_abandons_pushes_in_flight_and_redelivers_them(
    emulator: PubSubEmulator, endpoint: HoldingEndpoint, first_status: int
) -> None:
    endpoint.first_status = first_status
    clients = Clients(emulator.emulator_host)
    try:
        topic = clients.topic()
        subscription = clients.push_subscription(topic, endpoint.url)
        stop_sampling = threading.Event()
        samples = _watch_in_flight(emulator, subscription, stop_sampling)
        ids = clients.publish(topic, MESSAGES)
        assert endpoint.wait_for(lambda: len(endpoint.arrived) == MESSAGES)
        assert emulator.push_in_flight(subscription) == MESSAGES

        assert emulator.restart_push_loop() == MESSAGES

        # redelivered as attempt 2 while the first pushes are still held; then every answer comes in
        assert endpoint.wait_for(lambda: len(endpoint.arrived) == 2 * MESSAGES), endpoint.arrived
        assert endpoint.wait_for(lambda: endpoint.answered == 2 * MESSAGES)
        assert _settled(lambda: clients.backlog(subscription) == 0)
        time.sleep(1.0)  # longer than the backoff: a stray nack would have redelivered by now
        stop_sampling.set()

        assert endpoint.attempts() == {message_id: [1, 2] for message_id in ids}
        assert min(samples) >= 0
        assert emulator.push_in_flight(subscription) == 0
        assert clients.backlog(subscription) == 0
        assert topic in emulator.topic_names() and subscription in emulator.subscription_names()

        # the new loop pushes, and the rest of the emulator serves as before
        [late] = clients.publish(topic, 1)
        assert endpoint.wait_for(lambda: (late, 1) in endpoint.arrived)
        assert _settled(lambda: clients.backlog(subscription) == 0)
        clients.still_serves_publish_and_pull()
    finally:
        clients.close()


def test_restart_with_nothing_in_flight_keeps_delivering(emulator: PubSubEmulator, endpoint: HoldingEndpoint) -> None:
    clients = Clients(emulator.emulator_host)
    try:
        topic = clients.topic()
        subscription = clients.push_subscription(topic, endpoint.url)
        assert emulator.restart_push_loop() == 0
        assert emulator.restart_push_loop() == 0
        [message_id] = clients.publish(topic, 1)
        assert endpoint.wait_for(lambda: endpoint.answered == 1)
        assert _settled(lambda: clients.backlog(subscription) == 0)
        assert endpoint.attempts() == {message_id: [1]}
    finally:
        clients.close()


def test_restart_of_a_stopped_emulator_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        PubSubEmulator(LOCALHOST, 0).restart_push_loop()


@pytest.mark.parametrize("in_process", [False, True], ids=["subprocess-sigusr1", "in-process"])
def test_devstack_restarts_its_emulators_push_loop(
    devstack_factory: Callable[..., DevStack], endpoint: HoldingEndpoint, in_process: bool
) -> None:
    stack = devstack_factory(start_function=False, create_push_subscription=False, pubsub_in_process=in_process)
    clients = Clients(stack.pubsub_emulator_host)
    try:
        topic = clients.topic()
        subscription = clients.push_subscription(topic, endpoint.url)
        ids = clients.publish(topic, MESSAGES)
        assert endpoint.wait_for(lambda: len(endpoint.arrived) == MESSAGES)

        stack.restart_pubsub_push_loop()

        assert endpoint.wait_for(lambda: endpoint.answered == 2 * MESSAGES), endpoint.arrived
        assert _settled(lambda: clients.backlog(subscription) == 0)
        assert endpoint.attempts() == {message_id: [1, 2] for message_id in ids}
        if not in_process:
            proc = stack.process("pubsub")
            assert proc is not None and proc.running
            log = proc.log_path.read_text(errors="replace")
            assert "SIGUSR1: restarting the push loop" in log
            assert log.count("push loop restarted (epoch") == 1
        clients.still_serves_publish_and_pull()
    finally:
        clients.close()
        stack.stop()


def _settled(predicate: Callable[[], bool], timeout: float = DEADLINE_SECONDS) -> bool:
    return wait_until(predicate, timeout)
