"""A small Cloud Pub/Sub emulator: a gRPC server speaking `google.pubsub.v1`, in memory.

Google's own emulator ships only with the gcloud CLI (Java), which cannot be installed here, so this module
implements the part of the API the gallery needs, with Google's delivery semantics:

* Publisher: CreateTopic, GetTopic, UpdateTopic (no-op fields), DeleteTopic, ListTopics,
  ListTopicSubscriptions, Publish.
* Subscriber: CreateSubscription (push config, ack deadline, retry policy, dead-letter policy),
  GetSubscription, UpdateSubscription, DeleteSubscription, ListSubscriptions, ModifyPushConfig, Pull,
  StreamingPull, Acknowledge, ModifyAckDeadline.

Delivery:

* A message reaches the subscriptions that exist when it is published (never older ones' backlog).
* Push subscriptions: worker threads POST the push envelope (JSON, like Google's) to the endpoint with an
  HTTP timeout equal to the ack deadline; a 2xx (or 102) answer acks, anything else (or a timeout / a
  connection error) nacks. Up to `max_push_in_flight` pushes run at once per subscription.
* The push loop (scheduler and push threads) can be restarted on its own, topics, subscriptions and messages
  staying: `PubSubEmulator.restart_push_loop`, or SIGUSR1 to ``python -m gallery_devstack.pubsub_emulator``.
  Pushes in flight are abandoned as Google abandons a push whose delivery it lost: their answers, when they
  come, are ignored, and their messages are redelivered after the subscription's backoff (the lost push
  counts as a delivery attempt).
* Pull subscriptions: a message not acked within its ack deadline (or nacked with ModifyAckDeadline 0) is
  redelivered.
* A nacked or expired message waits an exponential backoff between the retry policy's minimum and maximum
  (Google's defaults are 10 s and 600 s when a retry policy is set; without a retry policy redelivery is
  immediate for pull and uses Google's push default of 10 s…600 s for push).
* With a dead-letter policy, `deliveryAttempt` is reported and, once a message has been delivered
  `max_delivery_attempts` times without an ack, it is published to the dead-letter topic (same data and
  attributes, plus Google's `CloudPubSubDeadLetterSource*` attributes) and dropped.

Queue figures: one read-only method on the same port, ``gallery.devstack.v1.QueueStats/GetSubscriptionStats``
(JSON; see `gallery.adapters.emulator_queue_metrics`), reports each subscription's undelivered messages and the
publish time of its oldest unacknowledged one, which is what `gallery status` shows for the local stack. The same
figures answer Cloud Monitoring's ListTimeSeries for Pub/Sub's two backlog metrics
(`gallery_devstack.emulator_monitoring`), so the Cloud Monitoring adapter can be run against this server too.

Run it with ``python -m gallery_devstack.pubsub_emulator --port 8085`` and point clients at it with
``PUBSUB_EMULATOR_HOST=127.0.0.1:8085``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import itertools
import json
import logging
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NoReturn, Self

import grpc
from google.cloud import monitoring_v3
from google.pubsub_v1 import types as ps

from gallery.adapters.emulator_queue_metrics import QUEUE_STATS_METHOD, decode, encode
from gallery_devstack import emulator_monitoring

logger = logging.getLogger(__name__)

DEFAULT_ACK_DEADLINE_SECONDS = 10
DEFAULT_MIN_BACKOFF_SECONDS = 10.0
DEFAULT_MAX_BACKOFF_SECONDS = 600.0
DEFAULT_MAX_DELIVERY_ATTEMPTS = 5
DEFAULT_MAX_PUSH_IN_FLIGHT = 16
MAX_PULL_WAIT_SECONDS = 5.0
DELETED_TOPIC = "_deleted-topic_"
PUSH_LOOP_RESTARTED = "push loop restarted"
"""Start of the log line `PubSubEmulator.restart_push_loop` writes (DevStack watches the subprocess's log for it)."""

_Handler = Callable[[Any, Any], Any]


def _serialize_empty(_: object) -> bytes:
    """`google.protobuf.Empty` on the wire: zero bytes."""
    return b""


@dataclass
class _Pending:
    """One message waiting in (or leased from) one subscription."""

    message: ps.PubsubMessage
    attempts: int = 0
    available_at: float = 0.0
    ack_id: str | None = None
    lease_expires: float = 0.0
    pushing: bool = False
    stream_id: int | None = None


@dataclass
class _Subscription:
    proto: ps.Subscription
    backlog: dict[str, _Pending] = field(default_factory=dict)
    push_in_flight: int = 0

    @property
    def name(self) -> str:
        return str(self.proto.name)

    @property
    def push_endpoint(self) -> str:
        return str(self.proto.push_config.push_endpoint)

    @property
    def ack_deadline(self) -> float:
        return float(self.proto.ack_deadline_seconds or DEFAULT_ACK_DEADLINE_SECONDS)

    @property
    def has_dead_letter(self) -> bool:
        return bool(self.proto.dead_letter_policy.dead_letter_topic)

    @property
    def max_delivery_attempts(self) -> int:
        return int(self.proto.dead_letter_policy.max_delivery_attempts or DEFAULT_MAX_DELIVERY_ATTEMPTS)

    def backoff(self, attempts: int) -> float:
        """Delay before redelivering a message that failed its `attempts`-th delivery."""
        pb = ps.Subscription.pb(self.proto)
        if pb.HasField("retry_policy"):
            rp = pb.retry_policy
            lo = rp.minimum_backoff.ToTimedelta().total_seconds() if rp.HasField("minimum_backoff") else None
            hi = rp.maximum_backoff.ToTimedelta().total_seconds() if rp.HasField("maximum_backoff") else None
            low = DEFAULT_MIN_BACKOFF_SECONDS if lo is None else lo
            high = DEFAULT_MAX_BACKOFF_SECONDS if hi is None else hi
        elif self.push_endpoint:
            low, high = DEFAULT_MIN_BACKOFF_SECONDS, DEFAULT_MAX_BACKOFF_SECONDS
        else:
            return 0.0
        high = max(high, low)
        return float(min(high, low * (2 ** max(0, attempts - 1))))


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _project_of(name: str) -> str:
    parts = name.split("/")
    return parts[1] if len(parts) >= 2 else ""


def _rfc3339(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def push_envelope(message: ps.PubsubMessage, subscription: str, delivery_attempt: int | None) -> dict[str, Any]:
    """The JSON body Google POSTs to a push endpoint (both camelCase and snake_case ids, like Google)."""
    publish_time = _rfc3339(message.publish_time)
    body: dict[str, Any] = {
        "data": base64.b64encode(bytes(message.data)).decode("ascii"),
        "attributes": dict(message.attributes),
        "messageId": message.message_id,
        "message_id": message.message_id,
        "publishTime": publish_time,
        "publish_time": publish_time,
    }
    if message.ordering_key:
        body["orderingKey"] = message.ordering_key
    envelope: dict[str, Any] = {"message": body, "subscription": subscription}
    if delivery_attempt is not None:
        envelope["deliveryAttempt"] = delivery_attempt
    return envelope


class PubSubEmulator:
    """In-memory Pub/Sub emulator served over insecure gRPC.

    >>> with PubSubEmulator(port=0) as emu:
    ...     host = emu.emulator_host   # e.g. "127.0.0.1:40123", for PUBSUB_EMULATOR_HOST
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_push_in_flight: int = DEFAULT_MAX_PUSH_IN_FLIGHT,
        max_workers: int = 64,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port = 0
        self.max_push_in_flight = max_push_in_flight
        self._max_workers = max_workers
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._topics: dict[str, ps.Topic] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._ack_index: dict[str, tuple[str, str]] = {}
        self._ids = itertools.count(1)
        self._stream_ids = itertools.count(1)
        self._server: Any = None
        self._scheduler: threading.Thread | None = None
        self._stopping = False
        self._push_epoch = 0
        """Generation of the push loop: a push thread whose epoch is no longer current was abandoned."""
        self.rpc_counts: Counter[str] = Counter()
        """How often each RPC (e.g. ``"Publisher/Publish"``) was called, unknown ones included."""

    # ------------------------------------------------------------------ lifecycle

    @property
    def emulator_host(self) -> str:
        """``host:port`` as PUBSUB_EMULATOR_HOST expects it."""
        return f"{self.host}:{self.port}"

    def start(self) -> int:
        """Bind, start serving and delivering; returns the bound port."""
        if self._server is not None:
            return self.port
        self._stopping = False
        with self._cond:
            self._push_epoch += 1  # pushes left in flight by stop() are abandoned
            self._abandon_pushes()
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="pubsub-emu-rpc"),
            handlers=self._handlers(),
        )
        port = server.add_insecure_port(f"{self.host}:{self.requested_port}")
        if not port:
            raise OSError(f"cannot bind Pub/Sub emulator to {self.host}:{self.requested_port}")
        server.start()
        self._server = server
        self.port = int(port)
        with self._cond:
            self._scheduler = self._start_scheduler()
        logger.info("Pub/Sub emulator listening on %s", self.emulator_host)
        return self.port

    def restart_push_loop(self) -> int:
        """Stop the scheduler and the pushes in flight and start delivering afresh; returns the pushes abandoned.

        Topics, subscriptions, messages and leases of pull subscriptions stay. An abandoned push's answer is
        ignored when it arrives (it neither acks nor nacks), and its message is due again after the
        subscription's backoff, the push counting as a failed delivery attempt.
        """
        with self._cond:
            if self._server is None or self._scheduler is None:
                raise RuntimeError("the Pub/Sub emulator is not running")
            old = self._scheduler
            self._push_epoch += 1
            abandoned = self._abandon_pushes()
            self._scheduler = self._start_scheduler()
            self._cond.notify_all()
            epoch = self._push_epoch
        old.join(timeout=5)
        logger.info(
            "%s (epoch %d): %d push(es) in flight abandoned, their messages to be redelivered",
            PUSH_LOOP_RESTARTED,
            epoch,
            abandoned,
        )
        return abandoned

    def push_in_flight(self, subscription: str) -> int:
        """Pushes of `subscription` waiting for their endpoint's answer (0 for an unknown subscription)."""
        with self._lock:
            sub = self._subscriptions.get(subscription)
            return sub.push_in_flight if sub else 0

    def _start_scheduler(self) -> threading.Thread:
        """A scheduler thread for the current push epoch (lock held)."""
        thread = threading.Thread(
            target=self._schedule_loop,
            args=(self._push_epoch,),
            name=f"pubsub-emu-scheduler-{self._push_epoch}",
            daemon=True,
        )
        thread.start()
        return thread

    def _abandon_pushes(self) -> int:
        """Make every message being pushed due again after its subscription's backoff (lock held)."""
        now = time.monotonic()
        abandoned = 0
        for sub in self._subscriptions.values():
            for pending in sub.backlog.values():
                if pending.pushing:
                    self._nack(sub, pending, now)
                    abandoned += 1
            sub.push_in_flight = 0
        return abandoned

    def stop(self, grace: float = 0.5) -> None:
        """Stop serving and delivering; in-flight pushes are abandoned (redelivered if started again)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.stop(grace).wait(grace + 5)
            self._server = None
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
            self._scheduler = None
        logger.info("Pub/Sub emulator on %s stopped", self.emulator_host)

    def wait_for_termination(self) -> None:
        if self._server is not None:
            self._server.wait_for_termination()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every topic, subscription and message."""
        with self._cond:
            self._topics.clear()
            self._subscriptions.clear()
            self._ack_index.clear()
            self._cond.notify_all()

    # ------------------------------------------------------------------ gRPC wiring

    def _handlers(self) -> list[Any]:
        def unary(fn: _Handler, req: Any, resp: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.deserialize, response_serializer=resp.serialize
            )

        def unary_empty(fn: _Handler, req: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.deserialize, response_serializer=_serialize_empty
            )

        def counted(service: str, method: str, fn: _Handler) -> _Handler:
            def wrapper(request: Any, context: Any) -> Any:
                with self._lock:
                    self.rpc_counts[f"{service}/{method}"] += 1
                logger.debug("rpc %s/%s", service, method)
                return fn(request, context)

            return wrapper

        publisher: dict[str, Any] = {
            "CreateTopic": unary(counted("Publisher", "CreateTopic", self._create_topic), ps.Topic, ps.Topic),
            "GetTopic": unary(counted("Publisher", "GetTopic", self._get_topic), ps.GetTopicRequest, ps.Topic),
            "UpdateTopic": unary(
                counted("Publisher", "UpdateTopic", self._update_topic), ps.UpdateTopicRequest, ps.Topic
            ),
            "DeleteTopic": unary_empty(counted("Publisher", "DeleteTopic", self._delete_topic), ps.DeleteTopicRequest),
            "ListTopics": unary(
                counted("Publisher", "ListTopics", self._list_topics), ps.ListTopicsRequest, ps.ListTopicsResponse
            ),
            "ListTopicSubscriptions": unary(
                counted("Publisher", "ListTopicSubscriptions", self._list_topic_subscriptions),
                ps.ListTopicSubscriptionsRequest,
                ps.ListTopicSubscriptionsResponse,
            ),
            "Publish": unary(counted("Publisher", "Publish", self._publish), ps.PublishRequest, ps.PublishResponse),
        }
        subscriber: dict[str, Any] = {
            "CreateSubscription": unary(
                counted("Subscriber", "CreateSubscription", self._create_subscription),
                ps.Subscription,
                ps.Subscription,
            ),
            "GetSubscription": unary(
                counted("Subscriber", "GetSubscription", self._get_subscription),
                ps.GetSubscriptionRequest,
                ps.Subscription,
            ),
            "UpdateSubscription": unary(
                counted("Subscriber", "UpdateSubscription", self._update_subscription),
                ps.UpdateSubscriptionRequest,
                ps.Subscription,
            ),
            "DeleteSubscription": unary_empty(
                counted("Subscriber", "DeleteSubscription", self._delete_subscription), ps.DeleteSubscriptionRequest
            ),
            "ListSubscriptions": unary(
                counted("Subscriber", "ListSubscriptions", self._list_subscriptions),
                ps.ListSubscriptionsRequest,
                ps.ListSubscriptionsResponse,
            ),
            "ModifyPushConfig": unary_empty(
                counted("Subscriber", "ModifyPushConfig", self._modify_push_config), ps.ModifyPushConfigRequest
            ),
            "Pull": unary(counted("Subscriber", "Pull", self._pull), ps.PullRequest, ps.PullResponse),
            "Acknowledge": unary_empty(counted("Subscriber", "Acknowledge", self._acknowledge), ps.AcknowledgeRequest),
            "ModifyAckDeadline": unary_empty(
                counted("Subscriber", "ModifyAckDeadline", self._modify_ack_deadline), ps.ModifyAckDeadlineRequest
            ),
            "StreamingPull": grpc.stream_stream_rpc_method_handler(
                counted("Subscriber", "StreamingPull", self._streaming_pull),
                request_deserializer=ps.StreamingPullRequest.deserialize,
                response_serializer=ps.StreamingPullResponse.serialize,
            ),
        }
        stats_service, stats_method = QUEUE_STATS_METHOD.strip("/").split("/")
        queue_stats = {
            stats_method: grpc.unary_unary_rpc_method_handler(
                counted(
                    "QueueStats", stats_method, lambda request, _context: self.queue_stats(request["subscriptions"])
                ),
                request_deserializer=decode,
                response_serializer=encode,
            )
        }

        def list_time_series(request: Any, context: Any) -> Any:
            try:
                return emulator_monitoring.list_time_series(request, self.queue_stats)
            except emulator_monitoring.UnsupportedQueryError as exc:
                self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))

        metrics = {
            "ListTimeSeries": unary(
                counted("MetricService", "ListTimeSeries", list_time_series),
                monitoring_v3.ListTimeSeriesRequest,
                monitoring_v3.ListTimeSeriesResponse,
            )
        }
        emulator = self

        class _UnknownMethodLogger(grpc.GenericRpcHandler):  # type: ignore[misc]
            """Counts and logs RPCs we do not implement (they then fail with UNIMPLEMENTED)."""

            def service(self, handler_call_details: Any) -> None:
                method = str(handler_call_details.method)
                with emulator._lock:
                    emulator.rpc_counts[method.removeprefix("/google.pubsub.v1.")] += 1
                logger.warning("Pub/Sub emulator: unimplemented RPC %s", method)

        return [
            grpc.method_handlers_generic_handler("google.pubsub.v1.Publisher", publisher),
            grpc.method_handlers_generic_handler("google.pubsub.v1.Subscriber", subscriber),
            grpc.method_handlers_generic_handler(stats_service, queue_stats),
            grpc.method_handlers_generic_handler("google.monitoring.v3.MetricService", metrics),
            _UnknownMethodLogger(),
        ]

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _abort(context: Any, code: Any, message: str) -> NoReturn:
        context.abort(code, message)
        raise AssertionError("unreachable")  # context.abort raises

    def _require_topic(self, name: str, context: Any) -> ps.Topic:
        topic = self._topics.get(name)
        if topic is None:
            self._abort(context, grpc.StatusCode.NOT_FOUND, f"Topic not found: {name}")
        return topic

    def _require_subscription(self, name: str, context: Any) -> _Subscription:
        sub = self._subscriptions.get(name)
        if sub is None:
            self._abort(context, grpc.StatusCode.NOT_FOUND, f"Subscription does not exist: {name}")
        return sub

    @staticmethod
    def _check_name(name: str, kind: str, context: Any) -> None:
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != kind or not parts[1] or not parts[3]:
            PubSubEmulator._abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name: {name!r}")

    # ------------------------------------------------------------------ Publisher

    def _create_topic(self, request: ps.Topic, context: Any) -> ps.Topic:
        self._check_name(request.name, "topics", context)
        with self._cond:
            if request.name in self._topics:
                self._abort(context, grpc.StatusCode.ALREADY_EXISTS, f"Topic already exists: {request.name}")
            self._topics[request.name] = request
        logger.info("created topic %s", request.name)
        return request

    def _get_topic(self, request: ps.GetTopicRequest, context: Any) -> ps.Topic:
        with self._lock:
            return self._require_topic(request.topic, context)

    def _update_topic(self, request: ps.UpdateTopicRequest, context: Any) -> ps.Topic:
        with self._lock:
            topic = self._require_topic(request.topic.name, context)
            for path in request.update_mask.paths:
                setattr(topic, path, getattr(request.topic, path))
            return topic

    def _delete_topic(self, request: ps.DeleteTopicRequest, context: Any) -> None:
        with self._cond:
            self._require_topic(request.topic, context)
            del self._topics[request.topic]
            for sub in self._subscriptions.values():
                if sub.proto.topic == request.topic:
                    sub.proto.topic = DELETED_TOPIC
        logger.info("deleted topic %s", request.topic)

    @staticmethod
    def _page(names: list[str], page_size: int, page_token: str) -> tuple[list[str], str]:
        start = int(page_token) if page_token.isdigit() else 0
        size = page_size if page_size > 0 else 1000
        chunk = names[start : start + size]
        nxt = str(start + size) if start + size < len(names) else ""
        return chunk, nxt

    def _list_topics(self, request: ps.ListTopicsRequest, context: Any) -> ps.ListTopicsResponse:
        with self._lock:
            names = sorted(n for n in self._topics if n.startswith(request.project + "/"))
            chunk, nxt = self._page(names, request.page_size, request.page_token)
            return ps.ListTopicsResponse(topics=[self._topics[n] for n in chunk], next_page_token=nxt)

    def _list_topic_subscriptions(
        self, request: ps.ListTopicSubscriptionsRequest, context: Any
    ) -> ps.ListTopicSubscriptionsResponse:
        with self._lock:
            self._require_topic(request.topic, context)
            names = sorted(n for n, s in self._subscriptions.items() if s.proto.topic == request.topic)
            chunk, nxt = self._page(names, request.page_size, request.page_token)
            return ps.ListTopicSubscriptionsResponse(subscriptions=chunk, next_page_token=nxt)

    def _publish(self, request: ps.PublishRequest, context: Any) -> ps.PublishResponse:
        if not request.messages:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "No messages to publish")
        for msg in request.messages:
            if not msg.data and not msg.attributes:
                self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "A message must have data or attributes")
        with self._cond:
            self._require_topic(request.topic, context)
            ids = [
                self._enqueue(request.topic, msg.data, dict(msg.attributes), msg.ordering_key)
                for msg in request.messages
            ]
        logger.debug("published %d message(s) to %s: %s", len(ids), request.topic, ids)
        return ps.PublishResponse(message_ids=ids)

    def _enqueue(self, topic: str, data: bytes, attributes: dict[str, str], ordering_key: str = "") -> str:
        """Store one message for every subscription of `topic` (lock held)."""
        message_id = str(next(self._ids))
        message = ps.PubsubMessage(
            data=data,
            attributes=attributes,
            message_id=message_id,
            publish_time=dt.datetime.now(dt.UTC),
            ordering_key=ordering_key,
        )
        now = time.monotonic()
        for sub in self._subscriptions.values():
            if sub.proto.topic == topic:
                sub.backlog[message_id] = _Pending(message=message, available_at=now)
        self._cond.notify_all()
        return message_id

    def publish(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        """Publish from Python directly (no gRPC); `topic` is a full topic name. Returns the message id."""
        with self._cond:
            if topic not in self._topics:
                raise KeyError(f"Topic not found: {topic}")
            return self._enqueue(topic, data, dict(attributes or {}))

    def create_topic(self, topic: str) -> None:
        """Create a topic from Python directly (idempotent); `topic` is ``projects/P/topics/T``."""
        with self._cond:
            self._topics.setdefault(topic, ps.Topic(name=topic))

    def topic_names(self) -> list[str]:
        with self._lock:
            return sorted(self._topics)

    def subscription_names(self) -> list[str]:
        with self._lock:
            return sorted(self._subscriptions)

    def backlog_size(self, subscription: str) -> int:
        """Messages of `subscription` not yet acked or dead-lettered (leased ones included)."""
        with self._lock:
            sub = self._subscriptions.get(subscription)
            return len(sub.backlog) if sub else 0

    def queue_stats(self, subscriptions: list[str]) -> dict[str, Any]:
        """Undelivered messages and the oldest one's publish time of each existing subscription among `subscriptions`.

        Undelivered: published to the subscription and neither acknowledged nor dead-lettered, whether waiting,
        leased, being pushed or backing off after a failed delivery.
        """
        with self._lock:
            found: dict[str, Any] = {}
            for name in subscriptions:
                sub = self._subscriptions.get(name)
                if sub is None:
                    continue
                times = [p.message.publish_time for p in sub.backlog.values()]
                found[name] = {
                    "num_undelivered_messages": len(times),
                    "oldest_unacked_publish_time": _rfc3339(min(times)) if times else None,
                }
            return {"read_time": _rfc3339(dt.datetime.now(dt.UTC)), "subscriptions": found}

    # ------------------------------------------------------------------ Subscriber admin

    def _create_subscription(self, request: ps.Subscription, context: Any) -> ps.Subscription:
        self._check_name(request.name, "subscriptions", context)
        with self._cond:
            if request.name in self._subscriptions:
                self._abort(context, grpc.StatusCode.ALREADY_EXISTS, f"Subscription already exists: {request.name}")
            self._require_topic(request.topic, context)
            if not request.ack_deadline_seconds:
                request.ack_deadline_seconds = DEFAULT_ACK_DEADLINE_SECONDS
            dlp = request.dead_letter_policy
            if dlp.dead_letter_topic and not dlp.max_delivery_attempts:
                dlp.max_delivery_attempts = DEFAULT_MAX_DELIVERY_ATTEMPTS
            self._subscriptions[request.name] = _Subscription(proto=request)
            self._cond.notify_all()
        logger.info(
            "created subscription %s on %s (push=%r, ack_deadline=%ss, dead_letter=%r)",
            request.name,
            request.topic,
            request.push_config.push_endpoint,
            request.ack_deadline_seconds,
            request.dead_letter_policy.dead_letter_topic,
        )
        return request

    def _get_subscription(self, request: ps.GetSubscriptionRequest, context: Any) -> ps.Subscription:
        with self._lock:
            return self._require_subscription(request.subscription, context).proto

    def _update_subscription(self, request: ps.UpdateSubscriptionRequest, context: Any) -> ps.Subscription:
        with self._cond:
            sub = self._require_subscription(request.subscription.name, context)
            for path in request.update_mask.paths:
                head = path.split(".", 1)[0]
                setattr(sub.proto, head, getattr(request.subscription, head))
            self._cond.notify_all()
            return sub.proto

    def _delete_subscription(self, request: ps.DeleteSubscriptionRequest, context: Any) -> None:
        with self._cond:
            self._require_subscription(request.subscription, context)
            del self._subscriptions[request.subscription]
            self._cond.notify_all()
        logger.info("deleted subscription %s", request.subscription)

    def _list_subscriptions(self, request: ps.ListSubscriptionsRequest, context: Any) -> ps.ListSubscriptionsResponse:
        with self._lock:
            names = sorted(n for n in self._subscriptions if n.startswith(request.project + "/"))
            chunk, nxt = self._page(names, request.page_size, request.page_token)
            return ps.ListSubscriptionsResponse(
                subscriptions=[self._subscriptions[n].proto for n in chunk], next_page_token=nxt
            )

    def _modify_push_config(self, request: ps.ModifyPushConfigRequest, context: Any) -> None:
        with self._cond:
            sub = self._require_subscription(request.subscription, context)
            sub.proto.push_config = request.push_config
            self._cond.notify_all()

    # ------------------------------------------------------------------ delivery core (lock held)

    def _lease(
        self, sub: _Subscription, limit: int, deadline_s: float, stream_id: int | None
    ) -> list[ps.ReceivedMessage]:
        """Hand out up to `limit` available messages of a pull subscription (lock held)."""
        now = time.monotonic()
        out: list[ps.ReceivedMessage] = []
        for pending in list(sub.backlog.values()):
            if len(out) >= limit:
                break
            if pending.ack_id is not None or pending.pushing or pending.available_at > now:
                continue
            if not self._begin_attempt(sub, pending):
                continue
            ack_id = f"{uuid.uuid4().hex}-{pending.message.message_id}"
            pending.ack_id = ack_id
            pending.lease_expires = now + deadline_s
            pending.stream_id = stream_id
            self._ack_index[ack_id] = (sub.name, pending.message.message_id)
            out.append(
                ps.ReceivedMessage(
                    ack_id=ack_id,
                    message=pending.message,
                    delivery_attempt=pending.attempts if sub.has_dead_letter else 0,
                )
            )
        return out

    def _begin_attempt(self, sub: _Subscription, pending: _Pending) -> bool:
        """Count a delivery attempt, or dead-letter the message if it has used them all (lock held)."""
        if sub.has_dead_letter and pending.attempts >= sub.max_delivery_attempts:
            self._dead_letter(sub, pending)
            return False
        pending.attempts += 1
        return True

    def _dead_letter(self, sub: _Subscription, pending: _Pending) -> None:
        sub.backlog.pop(pending.message.message_id, None)
        dlq = str(sub.proto.dead_letter_policy.dead_letter_topic)
        if dlq not in self._topics:
            logger.error(
                "dead-letter topic %s of %s does not exist; dropping message %s",
                dlq,
                sub.name,
                pending.message.message_id,
            )
            return
        attributes = dict(pending.message.attributes)
        attributes.update(
            {
                "CloudPubSubDeadLetterSourceSubscription": _short(sub.name),
                "CloudPubSubDeadLetterSourceSubscriptionProject": _project_of(sub.name),
                "CloudPubSubDeadLetterSourceDeliveryCount": str(pending.attempts),
                "CloudPubSubDeadLetterSourceTopicPublishTime": _rfc3339(pending.message.publish_time),
            }
        )
        new_id = self._enqueue(dlq, bytes(pending.message.data), attributes, pending.message.ordering_key)
        logger.warning(
            "message %s on %s dead-lettered to %s as %s after %d delivery attempts",
            pending.message.message_id,
            sub.name,
            dlq,
            new_id,
            pending.attempts,
        )

    def _nack(self, sub: _Subscription, pending: _Pending, now: float) -> None:
        """Make a delivered message available again after the subscription's backoff (lock held)."""
        if pending.ack_id is not None:
            self._ack_index.pop(pending.ack_id, None)
        pending.ack_id = None
        pending.stream_id = None
        pending.pushing = False
        pending.available_at = now + sub.backoff(pending.attempts)
        self._cond.notify_all()

    def _resolve_ack(self, ack_id: str) -> tuple[_Subscription, _Pending] | None:
        ref = self._ack_index.get(ack_id)
        if ref is None:
            return None
        sub = self._subscriptions.get(ref[0])
        pending = sub.backlog.get(ref[1]) if sub else None
        if sub is None or pending is None or pending.ack_id != ack_id:
            self._ack_index.pop(ack_id, None)
            return None
        return sub, pending

    def _ack(self, ack_ids: list[str] | Any) -> None:
        for ack_id in ack_ids:
            found = self._resolve_ack(ack_id)
            if found is None:
                continue
            sub, pending = found
            sub.backlog.pop(pending.message.message_id, None)
            self._ack_index.pop(ack_id, None)

    def _modify(self, ack_ids: list[str] | Any, seconds: list[int] | Any) -> None:
        now = time.monotonic()
        for ack_id, secs in zip(ack_ids, seconds, strict=False):
            found = self._resolve_ack(ack_id)
            if found is None:
                continue
            sub, pending = found
            if secs <= 0:
                self._nack(sub, pending, now)
            else:
                pending.lease_expires = now + secs

    # ------------------------------------------------------------------ Subscriber data plane

    def _pull(self, request: ps.PullRequest, context: Any) -> ps.PullResponse:
        limit = max(1, request.max_messages or 1)
        remaining = context.time_remaining()
        wait = 0.0 if request.return_immediately else MAX_PULL_WAIT_SECONDS
        if remaining is not None:
            wait = min(wait, max(0.0, remaining - 0.2))
        end = time.monotonic() + wait
        with self._cond:
            while True:
                sub = self._require_subscription(request.subscription, context)
                if sub.push_endpoint:
                    self._abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"{sub.name} is a push subscription")
                got = self._lease(sub, limit, sub.ack_deadline, None)
                left = end - time.monotonic()
                if got or left <= 0 or self._stopping or not context.is_active():
                    return ps.PullResponse(received_messages=got)
                self._cond.wait(timeout=min(left, self._next_wake(sub)))

    def _next_wake(self, sub: _Subscription) -> float:
        now = time.monotonic()
        soonest = 1.0
        for p in sub.backlog.values():
            if p.ack_id is None and not p.pushing:
                soonest = min(soonest, max(0.01, p.available_at - now))
        return soonest

    def _acknowledge(self, request: ps.AcknowledgeRequest, context: Any) -> None:
        with self._cond:
            self._require_subscription(request.subscription, context)
            self._ack(request.ack_ids)

    def _modify_ack_deadline(self, request: ps.ModifyAckDeadlineRequest, context: Any) -> None:
        with self._cond:
            self._require_subscription(request.subscription, context)
            self._modify(request.ack_ids, [request.ack_deadline_seconds] * len(request.ack_ids))

    def _streaming_pull(self, request_iterator: Iterator[ps.StreamingPullRequest], context: Any) -> Iterator[Any]:
        first = next(request_iterator, None)
        if first is None:
            return
        stream_id = next(self._stream_ids)
        with self._cond:
            sub = self._require_subscription(first.subscription, context)
            if sub.push_endpoint:
                self._abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"{sub.name} is a push subscription")
        state = {"deadline": float(first.stream_ack_deadline_seconds or sub.ack_deadline), "closed": False}
        max_outstanding = int(first.max_outstanding_messages) or 1000

        def apply(req: ps.StreamingPullRequest) -> None:
            with self._cond:
                self._ack(req.ack_ids)
                self._modify(req.modify_deadline_ack_ids, req.modify_deadline_seconds)
                if req.stream_ack_deadline_seconds:
                    state["deadline"] = float(req.stream_ack_deadline_seconds)
                self._cond.notify_all()

        def reader() -> None:
            try:
                for req in request_iterator:
                    apply(req)
            except Exception:  # the stream was cancelled; nothing to do
                logger.debug("streaming pull %d: request stream ended", stream_id, exc_info=True)
            finally:
                with self._cond:
                    state["closed"] = True
                    self._cond.notify_all()

        apply(first)
        threading.Thread(target=reader, name=f"pubsub-emu-stream-{stream_id}", daemon=True).start()
        try:
            while True:
                with self._cond:
                    current = self._subscriptions.get(first.subscription)
                    if current is None or self._stopping or state["closed"] or not context.is_active():
                        return
                    outstanding = sum(1 for p in current.backlog.values() if p.stream_id == stream_id)
                    room = max(0, max_outstanding - outstanding)
                    got = self._lease(current, min(room, 100), float(state["deadline"]), stream_id) if room else []
                    if not got:
                        self._cond.wait(timeout=self._next_wake(current))
                        continue
                yield ps.StreamingPullResponse(received_messages=got)
        finally:
            with self._cond:
                current = self._subscriptions.get(first.subscription)
                if current is not None:
                    now = time.monotonic()
                    for p in list(current.backlog.values()):
                        if p.stream_id == stream_id and p.ack_id is not None:
                            self._ack_index.pop(p.ack_id, None)
                            p.ack_id, p.stream_id, p.available_at = None, None, now
                    self._cond.notify_all()

    # ------------------------------------------------------------------ scheduler and push

    def _schedule_loop(self, epoch: int) -> None:
        """Scheduler thread of push epoch `epoch`: runs until the emulator stops or the push loop restarts."""
        while True:
            with self._cond:
                if self._stopping or epoch != self._push_epoch:
                    return
                wake = self._schedule_once(epoch)
                self._cond.wait(timeout=wake)

    def _schedule_once(self, epoch: int) -> float:
        """Expire leases and start pushes; returns how long to sleep (lock held)."""
        now = time.monotonic()
        wake = 1.0
        for sub in list(self._subscriptions.values()):
            for pending in list(sub.backlog.values()):
                if pending.ack_id is not None and not pending.pushing:
                    if pending.lease_expires <= now:
                        logger.debug("ack deadline of message %s on %s expired", pending.message.message_id, sub.name)
                        self._nack(sub, pending, now)
                    else:
                        wake = min(wake, pending.lease_expires - now)
                        continue
                if pending.pushing or pending.ack_id is not None:
                    continue
                if not sub.push_endpoint:
                    # Pull: dead-letter exhausted messages as soon as they are due, without waiting for a Pull.
                    if sub.has_dead_letter and pending.attempts >= sub.max_delivery_attempts:
                        if pending.available_at <= now:
                            self._dead_letter(sub, pending)
                        else:
                            wake = min(wake, pending.available_at - now)
                    continue
                if pending.available_at > now:
                    wake = min(wake, pending.available_at - now)
                    continue
                if sub.push_in_flight >= self.max_push_in_flight:
                    continue
                if not self._begin_attempt(sub, pending):
                    continue
                pending.pushing = True
                sub.push_in_flight += 1
                args = (sub, pending, sub.push_endpoint, sub.ack_deadline, pending.attempts, sub.has_dead_letter, epoch)
                threading.Thread(target=self._push_one, args=args, name="pubsub-emu-push", daemon=True).start()
        return max(0.005, wake)

    def _push_one(
        self,
        sub: _Subscription,
        pending: _Pending,
        endpoint: str,
        timeout: float,
        attempt: int,
        with_attempt: bool,
        epoch: int,
    ) -> None:
        """Push thread: POST one message and ack or nack it by the answer, unless the push loop restarted since."""
        envelope = push_envelope(pending.message, sub.name, attempt if with_attempt else None)
        body = json.dumps(envelope).encode("utf-8")
        req = urllib.request.Request(
            endpoint,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "APIs-Google; (gallery-devstack pubsub)"},
        )
        status = 0
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status = int(resp.status)
                resp.read()
        except urllib.error.HTTPError as err:
            status = int(err.code)
        except (OSError, ValueError) as err:
            logger.info("push of %s to %s failed: %s", pending.message.message_id, endpoint, err)
        ok = 200 <= status < 300 or status == 102
        with self._cond:
            if epoch != self._push_epoch:
                logger.info(
                    "ignoring the answer (status %s) of abandoned push of %s to %s",
                    status or "none",
                    pending.message.message_id,
                    endpoint,
                )
                return
            sub.push_in_flight -= 1
            pending.pushing = False
            if ok:
                sub.backlog.pop(pending.message.message_id, None)
                logger.debug("push of %s to %s acked (%d)", pending.message.message_id, endpoint, status)
            elif pending.message.message_id in sub.backlog:
                delay = sub.backoff(pending.attempts)
                logger.info(
                    "push of %s to %s nacked (status %s, attempt %d); retry in %.2fs",
                    pending.message.message_id,
                    endpoint,
                    status or "none",
                    pending.attempts,
                    delay,
                )
                self._nack(sub, pending, time.monotonic())
            self._cond.notify_all()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gallery_devstack.pubsub_emulator``."""
    parser = argparse.ArgumentParser(description="Local Cloud Pub/Sub emulator (gRPC, in memory).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8085, help="port to bind; 0 picks a free one (default 8085)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument(
        "--max-push-in-flight", type=int, default=DEFAULT_MAX_PUSH_IN_FLIGHT, help="concurrent pushes per subscription"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    emulator = PubSubEmulator(args.host, args.port, max_push_in_flight=args.max_push_in_flight)
    done = threading.Event()
    restart = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        logger.info("signal %d, shutting down", signum)
        done.set()

    def _on_restart_signal(signum: int, _frame: object) -> None:
        restart.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGUSR1, _on_restart_signal)  # before the port opens: from then on it may come
    port = emulator.start()
    logger.info("PUBSUB_EMULATOR_READY %s:%d", args.host, port)
    while not done.wait(0.1):
        if restart.is_set():
            restart.clear()
            logger.info("SIGUSR1: restarting the push loop")
            emulator.restart_push_loop()
    emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
