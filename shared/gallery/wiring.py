"""The one place that builds the real adapters and the service from settings."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from google.cloud import firestore, storage  # type: ignore[attr-defined]

from gallery.adapters.firestore_registry import FirestoreRegistry
from gallery.adapters.gcs import GcsRenditionStore, GcsSourceStore
from gallery.adapters.pubsub_events import PubSubEventSink
from gallery.adapters.pubsub_queue import PubSubNotificationQueue
from gallery.engine import render
from gallery.service import PhotoService, Renderer, ServiceConfig
from gallery.settings import Settings

if TYPE_CHECKING:  # the function never reads the catalog
    from gallery.adapters.firestore_catalog import FirestoreCatalog
    from gallery.ports import QueueMetrics


def storage_client(settings: Settings) -> storage.Client:
    return storage.Client(project=settings.google_cloud_project)


def firestore_client(settings: Settings) -> firestore.Client:
    return firestore.Client(project=settings.google_cloud_project, database=settings.firestore_database)


def build_registry(settings: Settings) -> FirestoreRegistry:
    return FirestoreRegistry(firestore_client(settings), settings.photos_collection)


def build_catalog(settings: Settings) -> FirestoreCatalog:
    """The read side of the photo documents, for the tools and the gallery page."""
    from gallery.adapters.firestore_catalog import FirestoreCatalog

    return FirestoreCatalog(firestore_client(settings), settings.photos_collection)


def build_queue_metrics(settings: Settings) -> QueueMetrics:
    """Queue figures for the tools and the page: the local emulator's own when ``PUBSUB_EMULATOR_HOST`` is set (as
    the Pub/Sub clients decide), Cloud Monitoring's subscription metrics otherwise."""
    emulator = os.environ.get("PUBSUB_EMULATOR_HOST", "").strip()
    if emulator:
        import grpc

        from gallery.adapters.emulator_queue_metrics import EmulatorQueueMetrics

        return EmulatorQueueMetrics(grpc.insecure_channel(emulator))
    from google.cloud import monitoring_v3

    from gallery.adapters.monitoring_queue_metrics import CloudMonitoringQueueMetrics

    return CloudMonitoringQueueMetrics(monitoring_v3.MetricServiceClient(), settings.google_cloud_project)


def build_event_sink(settings: Settings) -> PubSubEventSink | None:
    if not settings.events_topic_path:
        return None
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    return PubSubEventSink(pubsub_v1.PublisherClient(), settings.events_topic_path)


def build_bulk_queue(settings: Settings) -> PubSubNotificationQueue | None:
    """The bulk lane's topic: where optimize tasks are queued, and dead letters of photos that never reached an
    outcome are re-queued (DEAD_LETTER_REQUEUES decides whether they are)."""
    if not settings.bulk_topic_path:
        return None
    return PubSubNotificationQueue(settings.bulk_topic_path)


def build_service(settings: Settings, renderer: Renderer = render) -> PhotoService:
    """The service on the real adapters; `renderer` is the engine unless a caller wires another one in."""
    gcs = storage_client(settings)
    return PhotoService(
        sources=GcsSourceStore(gcs),
        renditions=GcsRenditionStore(gcs, settings.renditions_bucket),
        registry=build_registry(settings),
        config=ServiceConfig.from_settings(settings),
        renderer=renderer,
        events=build_event_sink(settings),
        requeue=build_bulk_queue(settings),
    )
