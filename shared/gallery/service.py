"""Register photos on OBJECT_FINALIZE and deregister them on OBJECT_DELETE, idempotently and by generation."""

from __future__ import annotations

import enum
import logging
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gallery.admission import MemoryBudget
from gallery.engine import estimate_render_mib, render
from gallery.errors import LimitExceededError, PermanentError, SourceGoneError, TransientError
from gallery.ids import photo_id, rendition_prefix
from gallery.logs import log_labels
from gallery.manifest import ready_fields, rendition_path
from gallery.model import (
    BeginOutcome,
    EventKind,
    Limits,
    LiveObject,
    ObjectEvent,
    PhotoStatus,
    RenderResult,
    RenditionSpec,
)
from gallery.ports import EventSink, Registry, RenditionStore, SourceStore
from gallery.presets.manifest import variant_fields, variant_files
from gallery.registry_rules import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_ATTEMPTS, may_deregister, stored_generation
from gallery.settings import Settings

if TYPE_CHECKING:
    from gallery.presets.plan import PresetSet, VariantRequest

logger = logging.getLogger(__name__)


def _presets_module() -> Any:
    from gallery.presets import plan

    return plan


Renderer = Callable[..., RenderResult]  # (data, spec, limits[, variants]) like gallery.engine.render
Estimator = Callable[[bytes, RenditionSpec, Limits], int]
"""Peak memory (MiB) a render of these bytes will need; raises PermanentError for a refused header."""


def failed_fields(code: str) -> dict[str, str]:
    """The JSON fields of a photo's "failed" log line (the log-based metrics count photos by them)."""
    return {"outcome": PhotoStatus.FAILED.value, "error_code": code}


class Outcome(enum.Enum):
    REGISTERED = "registered"
    DEREGISTERED = "deregistered"
    FAILED = "failed"  # permanent failure, recorded on the document
    DUPLICATE = "duplicate"  # this generation is already done with the current spec
    STALE = "stale"  # a newer generation owns the document, or the object was deleted meanwhile
    IGNORED = "ignored"


@dataclass(frozen=True)
class ServiceConfig:
    uploads_bucket: str
    spec: RenditionSpec
    limits: Limits
    url_prefix: str
    keep_gps: bool = False
    memory_budget_mib: int = 1848  # instance memory minus its idle baseline (Settings.memory_budget_mib)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    lane: str = "live"
    presets: PresetSet = field(default_factory=lambda: _presets_module().PresetSet())

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceConfig:
        """Raises InvalidPresetsError when the configured presets are not valid."""
        from gallery.presets.load import load_presets  # pydantic and fontTools: loaded with the settings, not at import

        presets = load_presets(settings.presets_file, settings.presets_json, settings.fonts_dir, Path.cwd())
        return cls(
            uploads_bucket=settings.uploads_bucket,
            spec=RenditionSpec.from_settings(settings, presets.digest),
            limits=Limits(
                max_pixels=settings.max_pixels,
                max_bytes=settings.max_bytes,
                max_side=settings.max_side,
                max_frames=settings.max_frames,
            ),
            url_prefix=settings.renditions_url_prefix,
            keep_gps=settings.keep_gps,
            memory_budget_mib=settings.memory_budget_mib,
            max_attempts=settings.max_attempts,
            lease_seconds=settings.processing_lease_seconds,
            lane=settings.lane,
            presets=presets,
        )


class PhotoService:
    def __init__(
        self,
        sources: SourceStore,
        renditions: RenditionStore,
        registry: Registry,
        config: ServiceConfig,
        renderer: Renderer = render,
        events: EventSink | None = None,
        estimator: Estimator = estimate_render_mib,
    ) -> None:
        self._sources = sources
        self._renditions = renditions
        self._registry = registry
        self._config = config
        self._render = renderer
        self._events = events
        self._estimate = estimator
        self._memory = MemoryBudget(config.memory_budget_mib)
        self._draining = threading.Event()

    def drain(self) -> None:
        """Stop taking work (on SIGTERM): new deliveries, and renders still waiting for a slot, answer 503.

        Renders already running finish and are acknowledged; the abandoned ones are redelivered by Pub/Sub.
        Nothing half-done is visible: the manifest is only written once every rendition is stored.
        """
        self._draining.set()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def _refuse_if_draining(self) -> None:
        if self._draining.is_set():
            raise TransientError("the instance is shutting down; Pub/Sub will redeliver", code="shutting_down")

    @contextmanager
    def _admitted(self, data: bytes) -> Iterator[int]:
        """Wait until the render's estimated peak fits in the instance's memory budget, and hold it meanwhile.

        Waiting renders answer 503 when the instance starts draining; a photo whose estimate exceeds the whole
        budget is a permanent failure (`too_large_for_instance`).
        """
        needed = self._estimate(data, self._config.spec, self._config.limits)
        budget = self._memory.budget_mib
        if needed > budget:
            raise LimitExceededError(
                f"rendering this photo needs an estimated {needed} MiB, over the instance's {budget} MiB budget "
                "for renders (instance memory minus its baseline)",
                code="too_large_for_instance",
            )
        logger.debug("waiting for memory", extra={"json_fields": {"estimate_mib": needed}})
        with self._memory.hold(needed, abandon=self._refuse_if_draining):
            self._refuse_if_draining()
            yield needed

    def handle(self, event: ObjectEvent) -> Outcome:
        """Act on one notification. Raises TransientError when Pub/Sub should redeliver."""
        self._refuse_if_draining()
        pid = photo_id(event.bucket, event.name)
        with log_labels(photo_id=pid, bucket=event.bucket, object=event.name, generation=event.generation):
            if event.bucket != self._config.uploads_bucket:
                logger.warning(
                    "notification for another bucket ignored", extra={"json_fields": {"event": event.event_type}}
                )
                return Outcome.IGNORED
            if event.kind is EventKind.FINALIZE:
                return self._register(pid, event)
            if event.kind is EventKind.DELETE and not event.is_overwrite_delete:
                return self._deregister(pid, event)
            logger.info("notification ignored", extra={"json_fields": {"event": event.event_type}})
            return Outcome.IGNORED

    def record_dead_letter(self, event: ObjectEvent, delivery_count: int | None = None) -> Outcome:
        """Pub/Sub gave up on this notification: make that visible on the photo's document.

        A dead-lettered FINALIZE of the live generation marks the photo failed (`dead_lettered`, with the
        last transient error the document carries); nothing is rendered. A dead-lettered DELETE is simply
        processed once more (deregistration is checked against the bucket and renders nothing).
        """
        self._refuse_if_draining()
        pid = photo_id(event.bucket, event.name)
        with log_labels(photo_id=pid, bucket=event.bucket, object=event.name, generation=event.generation):
            if event.bucket != self._config.uploads_bucket:
                logger.warning("dead letter for another bucket ignored")
                return Outcome.IGNORED
            if event.kind is EventKind.DELETE and not event.is_overwrite_delete:
                return self._deregister(pid, event)
            if event.kind is not EventKind.FINALIZE:
                return Outcome.IGNORED
            live = self._sources.live_object(event.bucket, event.name)
            count = f"{delivery_count} deliveries" if delivery_count else "its delivery attempts"
            reason = f"Pub/Sub dead-lettered the notification after {count} without success"
            recorded = self._registry.record_dead_letter(
                pid,
                event.generation,
                self._source_fields(pid, event, live),
                reason,
                live_generation=live.generation if live else None,
            )
            if not recorded:
                logger.info("dead letter of a settled, superseded or deleted generation; nothing recorded")
                return Outcome.STALE
            self._drop_renditions(pid, up_to=event.generation)
            logger.error("photo failed: %s", reason, extra={"json_fields": failed_fields("dead_lettered")})
            return Outcome.FAILED

    @staticmethod
    def _source_fields(pid: str, event: ObjectEvent, live: LiveObject | None) -> dict[str, Any]:
        """The document's identity, with size and content type as the bucket (not the message) states them."""
        return {
            "photo_id": pid,
            "source": {
                "bucket": event.bucket,
                "name": event.name,
                "generation": event.generation,
                "content_type": live.content_type if live else None,
                "bytes": live.size if live else None,
            },
        }

    def _register(self, pid: str, event: ObjectEvent) -> Outcome:
        started = time.perf_counter()
        generation = event.generation
        # Trust the bucket, not the message: only the live generation may change anything.
        live = self._sources.live_object(event.bucket, event.name)
        if live is None or live.generation != generation:
            logger.info(
                "notified generation is not live; acknowledged as stale, nothing changed",
                extra={"json_fields": {"live_generation": live.generation if live else None}},
            )
            return Outcome.STALE
        if self._config.lane == "live" and live.lane == "bulk" and event.queued_on is None:
            # The bucket's own notification of an upload its uploader (`gallery import`) queued on the bulk lane
            # too: rendering it here would make live uploads wait behind bulk work. Nothing is written; the bulk
            # lane's delivery does the work (and a tool's explicit `--lane live` is still rendered here).
            logger.info("queued on the bulk lane by its uploader; acknowledged, nothing changed")
            return Outcome.IGNORED
        begun = self._registry.begin(
            pid,
            generation,
            self._source_fields(pid, event, live),
            self._config.spec.version,
            max_attempts=self._config.max_attempts,
            lease_seconds=self._config.lease_seconds,
        )
        if begun is BeginOutcome.STALE:
            logger.info("a newer generation is registered; nothing to do")
            return Outcome.STALE
        if begun is BeginOutcome.BUSY:
            logger.info("another delivery holds this photo's lease; Pub/Sub will redeliver")
            raise TransientError(
                "another delivery is processing this photo (or died and its lease has not run out)", code="in_progress"
            )
        if begun is BeginOutcome.EXHAUSTED:
            self._drop_renditions(pid, up_to=generation)
            logger.error(
                "photo failed: too many deliveries without an outcome",
                extra={
                    "json_fields": {**failed_fields("too_many_attempts"), "max_attempts": self._config.max_attempts}
                },
            )
            return Outcome.FAILED
        if begun is BeginOutcome.DONE:
            logger.info("generation already processed; duplicate delivery acked")
            # Re-announce: if publishing failed after the document was written, this redelivery is the retry.
            self._announce_ready(pid, event)
            return Outcome.DUPLICATE
        try:
            data = self._sources.download(event.bucket, event.name, generation, self._config.limits.max_bytes)
            variants = self._variant_request(event)
            with self._admitted(data) as estimate_mib:
                if variants is None:
                    result = self._render(data, self._config.spec, self._config.limits)
                else:
                    result = self._render(data, self._config.spec, self._config.limits, variants)
            for rendition in result.renditions:
                self._renditions.put(rendition_path(pid, generation, rendition), rendition.data, rendition.content_type)
            for path, rendition in variant_files(result.variants, pid, generation):
                self._renditions.put(path, rendition.data, rendition.content_type)
            fields = ready_fields(result, pid, generation, self._config.url_prefix, keep_gps=self._config.keep_gps)
            if self._config.presets.presets:
                fields["variants"] = variant_fields(result.variants, pid, generation, self._config.url_prefix)
            total_ms = round((time.perf_counter() - started) * 1000, 1)
            fields["timings"] = {"render_ms": result.render_ms, "total_ms": total_ms}
            if not self._registry.complete(pid, generation, fields):
                self._renditions.delete_prefix(rendition_prefix(pid, generation))
                logger.info("superseded or deleted while rendering; renditions withdrawn")
                return Outcome.STALE
        except SourceGoneError:
            # The generation was live a moment ago and is gone now (deleted or replaced while we read it).
            try:
                now_live = self._sources.live_object(event.bucket, event.name)
            except TransientError as err:
                self._note_retry(pid, generation, err)
                raise
            now_generation = now_live.generation if now_live else None
            self._registry.remove(pid, generation, live_generation=now_generation)
            self._drop_renditions(pid, up_to=self._removable_up_to(generation, now_generation))
            logger.info("source generation gone; nothing registered")
            return Outcome.STALE
        except PermanentError as err:
            self._record_failure(pid, generation, err)
            return Outcome.FAILED
        except TransientError as err:
            self._note_retry(pid, generation, err)
            raise
        self._drop_renditions(pid, up_to=generation - 1)
        self._announce_ready(pid, event)
        logger.info(
            "photo registered",
            extra={
                "json_fields": {
                    "outcome": PhotoStatus.READY.value,
                    "megapixels": round(result.width * result.height / 1e6, 2),
                    "bytes_in": len(data),
                    "bytes_out": sum(len(r.data) for r in result.renditions),
                    "renditions": len(result.renditions),
                    "variants": len(result.variants),
                    "render_ms": result.render_ms,
                    "total_ms": total_ms,
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                    "estimate_mib": estimate_mib,
                }
            },
        )
        return Outcome.REGISTERED

    def _variant_request(self, event: ObjectEvent) -> VariantRequest | None:
        """The presets that apply to this photo; its metadata is read from the object if the event lacks it."""
        if not self._config.presets.presets:
            return None
        metadata = event.metadata
        if metadata is None:
            metadata = self._sources.metadata(event.bucket, event.name, event.generation)
        request = self._config.presets.request(event.name, metadata)
        return request if request.presets else None

    def _announce_ready(self, pid: str, event: ObjectEvent) -> None:
        if self._events is None:
            return
        doc = self._registry.get(pid)
        if doc is None or PhotoStatus.of(doc) is not PhotoStatus.READY or stored_generation(doc) != event.generation:
            return
        self._publish("photo.registered", pid, event, doc)

    def _publish(self, event_type: str, pid: str, event: ObjectEvent, payload: dict[str, Any]) -> None:
        if self._events is None:
            return
        attributes = {"photoId": pid, "bucket": event.bucket, "object": event.name, "generation": str(event.generation)}
        self._events.publish(event_type, attributes, payload)

    def _record_failure(self, pid: str, generation: int, err: PermanentError) -> None:
        fields: dict[str, object] = {
            "error": {"code": err.code, "reason": err.reason},
            "renditions": [],
            "srcset": {},
            "src": None,
        }
        if self._config.presets.presets:
            fields["variants"] = []  # an earlier generation's variants are gone with its files
        recorded = self._registry.fail(pid, generation, fields)
        self._drop_renditions(pid, up_to=generation)
        logger.warning(
            "photo failed: %s",
            err.reason,
            # Only a recorded failure is a failed photo; one of a superseded generation changed nothing.
            extra={
                "json_fields": (failed_fields(err.code) if recorded else {"error_code": err.code})
                | {"recorded": recorded}
            },
        )

    def _note_retry(self, pid: str, generation: int, err: TransientError) -> None:
        logger.error(
            "transient failure, Pub/Sub will redeliver: %s", err, extra={"json_fields": {"error_code": err.code}}
        )
        try:
            self._registry.note_retry(pid, generation, err.code, err.reason)
        except TransientError:
            logger.warning("could not record the retry on the document", exc_info=True)

    @staticmethod
    def _removable_up_to(generation: int, live_generation: int | None) -> int:
        """Renditions at or below this generation may go: never the live generation's own."""
        return generation if live_generation is None else min(generation, live_generation - 1)

    def _deregister(self, pid: str, event: ObjectEvent) -> Outcome:
        generation = event.generation
        # Trust the bucket, not the message: a DELETE only counts once the generation on record is not live.
        live = self._sources.live_object(event.bucket, event.name)
        live_generation = live.generation if live else None
        if live_generation == generation:
            logger.warning("delete of the live generation ignored: the object still exists")
            return Outcome.STALE
        if self._events is not None and may_deregister(self._registry.get(pid), generation, live_generation):
            # Announced before the document goes: if publishing fails, the redelivery still finds it to remove.
            payload = {
                "photo_id": pid,
                "source": {"bucket": event.bucket, "name": event.name, "generation": generation},
            }
            self._publish("photo.deregistered", pid, event, payload)
        removed = self._registry.remove(pid, generation, live_generation=live_generation)
        self._drop_renditions(pid, up_to=self._removable_up_to(generation, live_generation))
        logger.info("photo deregistered" if removed else "delete of an unregistered, older or live generation")
        return Outcome.DEREGISTERED if removed else Outcome.STALE

    def _drop_renditions(self, pid: str, *, up_to: int) -> None:
        for old in sorted(self._renditions.list_generations(pid)):
            if old <= up_to:
                self._renditions.delete_prefix(rendition_prefix(pid, old))
