"""Register photos on OBJECT_FINALIZE and deregister them on OBJECT_DELETE, idempotently and by generation."""

from __future__ import annotations

import enum
import inspect
import logging
import math
import resource
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gallery import live_photo
from gallery.admission import MemoryBudget
from gallery.engine import estimate_render_mib, render
from gallery.errors import LimitExceededError, PermanentError, SourceGoneError, TransientError
from gallery.events import finalize_notification
from gallery.ids import motion_name, photo_id, rendition_prefix
from gallery.lease import LeaseKeeper
from gallery.logs import log_labels
from gallery.manifest import ready_fields, rendition_path
from gallery.model import (
    OPTIMIZE_TASK,
    REQUEUED_ATTRIBUTE,
    TASK_ATTRIBUTE,
    BeginOutcome,
    EventKind,
    Limits,
    LiveObject,
    ObjectEvent,
    PhotoStatus,
    RenderResult,
    RenditionSpec,
    VideoLimits,
)
from gallery.optimize import Optimizer
from gallery.optimize_plan import OptimizePlan, optimization_fields, optimize_spec, pending_optimization
from gallery.paint import PaintFirst
from gallery.ports import EventSink, NotificationQueue, Registry, RenditionStore, SourceStore
from gallery.presets.manifest import variant_fields, variant_files
from gallery.registry_rules import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_REQUEUES,
    DeadLetterDecision,
    dead_letter_decision,
    may_deregister,
    stored_generation,
)
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
    REQUEUED = "requeued"  # a dead letter published once more, on the bulk lane
    OPTIMIZED = "optimized"  # the optimize task swapped a ready photo to its optimized renditions


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
    max_requeues: int = DEFAULT_MAX_REQUEUES
    paint_first_min_pixels: float = 4_000_000
    """Photos of at least this many pixels get a paint-first preview; above `limits.max_pixels`: none does."""
    busy_poll_seconds: float = 1.0
    """How often a delivery that found the lease held looks again."""
    lane: str = "live"
    optimize: OptimizePlan | None = None
    """The optimize pass queued for every photo made ready (needs the bulk lane's queue); None: off."""
    presets: PresetSet = field(default_factory=lambda: _presets_module().PresetSet())

    @property
    def busy_wait_seconds(self) -> float:
        """How long a delivery that found the lease held waits: past a dead holder's last lease, with a margin."""
        return 1.5 * self.lease_seconds

    @property
    def heartbeat_seconds(self) -> float:
        """How often a running delivery renews its lease: three times per lease, so one late renewal is harmless."""
        return self.lease_seconds / 3

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceConfig:
        """Raises InvalidPresetsError when the configured presets are not valid."""
        from gallery.presets.load import load_presets  # pydantic and fontTools: loaded with the settings, not at import

        presets = load_presets(settings.presets_file, settings.presets_json, settings.fonts_dir, Path.cwd())
        spec = RenditionSpec.from_settings(settings, presets.digest)
        optimize = OptimizePlan(
            optimize_spec(
                spec, quality_target=settings.optimize_quality_target, avif_effort=settings.optimize_avif_effort
            ),
            fallback_max_width=settings.fallback_max_width,
        )
        return cls(
            uploads_bucket=settings.uploads_bucket,
            spec=spec,
            limits=Limits(
                max_pixels=settings.max_pixels,
                max_bytes=settings.max_bytes,
                max_side=settings.max_side,
                max_frames=settings.max_frames,
                video=VideoLimits(
                    max_bytes=settings.video_max_bytes,
                    max_seconds=settings.video_max_seconds,
                    max_pixels=settings.video_max_pixels,
                    max_bitrate=settings.video_max_bitrate,
                    decode_seconds=settings.video_decode_seconds,
                ),
            ),
            url_prefix=settings.renditions_url_prefix,
            keep_gps=settings.keep_gps,
            memory_budget_mib=settings.memory_budget_mib,
            max_attempts=settings.max_attempts,
            lease_seconds=settings.processing_lease_seconds,
            max_requeues=settings.dead_letter_requeues,
            paint_first_min_pixels=settings.paint_first_megapixels * 1_000_000,
            lane=settings.lane,
            optimize=optimize if settings.optimize else None,
            presets=presets,
        )


class Stages:
    """Milliseconds each named stage of a delivery took, from the delivery's start (`timings` on the document)."""

    def __init__(self, started: float) -> None:
        self._started = self._last = started
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.marks[name] = round((now - self._last) * 1000, 1)
        self._last = now

    def total_ms(self) -> float:
        return round((time.perf_counter() - self._started) * 1000, 1)


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
        requeue: NotificationQueue | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sources = sources
        self._renditions = renditions
        self._registry = registry
        self._config = config
        self._render = renderer
        self._events = events
        self._estimate = estimator
        self._requeue = requeue
        self._sleep = sleep
        self._renders_previews = "on_preview" in inspect.signature(renderer).parameters
        self._leases = LeaseKeeper(self._renew_lease, config.heartbeat_seconds)
        self._memory = MemoryBudget(config.memory_budget_mib)
        self._draining = threading.Event()
        self._optimizer: Optimizer | None = None
        if config.optimize is not None and requeue is not None:
            self._optimizer = Optimizer(
                sources=sources,
                renditions=renditions,
                registry=registry,
                plan=config.optimize,
                limits=config.limits,
                url_prefix=config.url_prefix,
                renderer=renderer,
                admit=self._admitted,
            )
        elif config.optimize is not None:
            logger.warning("OPTIMIZE is on without a bulk lane topic (PUBSUB_BULK_TOPIC): photos keep their live set")

    def _renew_lease(self, pid: str, generation: int, holder: str) -> bool:
        return self._registry.renew_lease(pid, generation, holder, self._config.lease_seconds)

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
    def _admitted(self, data: bytes, spec: RenditionSpec | None = None) -> Iterator[int]:
        """Wait until the render's estimated peak fits in the instance's memory budget, and hold it meanwhile.

        Waiting renders answer 503 when the instance starts draining; a photo whose estimate exceeds the whole
        budget is a permanent failure (`too_large_for_instance`).
        """
        needed = self._estimate(data, spec or self._config.spec, self._config.limits)
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
            if event.kind is EventKind.FINALIZE and event.task == OPTIMIZE_TASK:
                return self._optimize(pid, event)
            if event.kind is EventKind.FINALIZE:
                return self._register(pid, event)
            if event.kind is EventKind.DELETE and not event.is_overwrite_delete:
                return self._deregister(pid, event)
            logger.info("notification ignored", extra={"json_fields": {"event": event.event_type}})
            return Outcome.IGNORED

    def record_dead_letter(self, event: ObjectEvent, delivery_count: int | None = None) -> Outcome:
        """Pub/Sub gave up on this notification: give the photo one more chance, or make that visible on it.

        A dead-lettered FINALIZE of the live generation of a photo that never reached an outcome and still has
        deliveries left is re-queued on the bulk lane (up to `max_requeues` times per generation): its
        deliveries were only busy, crashed with their instance or met an outage. Otherwise it is recorded
        failed (`dead_lettered`, with the last transient error the document carries); nothing is rendered here
        (`registry_rules.dead_letter_decision`). A dead-lettered DELETE is simply processed once more
        (deregistration is checked against the bucket and renders nothing).
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
            if event.task is not None:
                # A follow-up task of a ready photo: the photo keeps its live set, and nothing failed.
                logger.warning("a %s task was dead-lettered; the photo keeps what it has", event.task)
                return Outcome.IGNORED
            live = self._sources.live_object(event.bucket, event.name)
            live_generation = live.generation if live else None
            count = f"{delivery_count} deliveries" if delivery_count else "its delivery attempts"
            reason = f"Pub/Sub dead-lettered the notification after {count} without success"
            decision = dead_letter_decision(
                self._registry.get(pid),
                event.generation,
                live_generation=live_generation,
                max_attempts=self._config.max_attempts,
                max_requeues=self._config.max_requeues if self._requeue is not None else 0,
            )
            if decision is DeadLetterDecision.REQUEUE:
                assert live is not None
                return self._requeue_dead_letter(pid, event, live, reason)
            recorded = decision is DeadLetterDecision.RECORD and self._registry.record_dead_letter(
                pid, event.generation, self._source_fields(pid, event, live), reason, live_generation=live_generation
            )
            if not recorded:
                logger.info("dead letter of a settled, superseded or deleted generation; nothing recorded")
                return Outcome.STALE
            self._drop_renditions(pid, up_to=event.generation)
            logger.error("photo failed: %s", reason, extra={"json_fields": failed_fields("dead_lettered")})
            return Outcome.FAILED

    def _requeue_dead_letter(self, pid: str, event: ObjectEvent, live: LiveObject, reason: str) -> Outcome:
        """Publish the notification once more on the bulk lane, then count the dead letter on the document.

        Published first: if the document write fails, the dead letter's redelivery publishes again (a duplicate
        notification is harmless); counting first could record a requeue that never happened.
        """
        assert self._requeue is not None
        resource: dict[str, Any] = {
            "bucket": event.bucket,
            "name": event.name,
            "generation": str(event.generation),
            "size": str(live.size) if live.size is not None else None,
            "contentType": live.content_type,
        }
        if event.metadata is not None:
            resource["metadata"] = dict(event.metadata)
        data, attributes = finalize_notification(
            {k: v for k, v in resource.items() if v is not None}, "bulk", **{REQUEUED_ATTRIBUTE: "dead_letter"}
        )
        self._requeue.publish(data, attributes)
        self._registry.record_requeue(pid, event.generation, self._source_fields(pid, event, live), reason)
        logger.warning(
            "dead letter re-queued on the bulk lane: %s", reason, extra={"json_fields": {"outcome": "requeued"}}
        )
        return Outcome.REQUEUED

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
        # Trust the bucket, not the message: only the live generation may change anything.
        live = self._sources.live_object(event.bucket, event.name)
        skipped = self._not_for_this_lane(event, live)
        if skipped is not None:
            return skipped
        assert live is not None
        holder = uuid.uuid4().hex  # this delivery's lease token
        begun = self._begin(pid, event, live, holder)
        if begun is not BeginOutcome.PROCEED:
            return self._not_begun(pid, event, begun)
        logger.info("processing began", extra={"json_fields": {"lease_holder": holder, "message_id": event.message_id}})
        with self._leases.keep(pid, event.generation, holder):
            return self._process(pid, event, started, holder)

    def _not_for_this_lane(self, event: ObjectEvent, live: LiveObject | None) -> Outcome | None:
        """STALE if the notified generation is not live, IGNORED if its uploader queued it on the bulk lane."""
        if live is None or live.generation != event.generation:
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
        return None

    def _begin(self, pid: str, event: ObjectEvent, live: LiveObject, holder: str) -> BeginOutcome:
        """Take the photo's lease (one more attempt), waiting while another delivery holds it.

        A held lease means another delivery is processing the photo and renewing its lease, or died less than a
        lease ago. Answering busy would spend one of the message's Pub/Sub deliveries, so a crash would turn into
        a dead letter; instead this delivery waits (up to `busy_wait_seconds`) for the holder's outcome (then it
        is a duplicate) or for the dead holder's lease to run out (then it takes over).
        """
        polls = max(1, math.ceil(self._config.busy_wait_seconds / self._config.busy_poll_seconds))
        for poll in range(polls + 1):
            begun = self._registry.begin(
                pid,
                event.generation,
                self._source_fields(pid, event, live),
                self._config.spec.version,
                max_attempts=self._config.max_attempts,
                lease_seconds=self._config.lease_seconds,
                holder=holder,
            )
            if begun is not BeginOutcome.BUSY:
                if poll:
                    logger.info("lease freed after %d poll(s); %s", poll, begun.value)
                return begun
            if poll == 0:
                logger.info("another delivery holds this photo's lease; waiting for its outcome or its lease to end")
            if poll < polls:
                self._sleep(self._config.busy_poll_seconds)
                self._refuse_if_draining()
        raise TransientError(
            f"another delivery kept this photo's lease for {self._config.busy_wait_seconds:.0f} s; "
            "Pub/Sub will redeliver",
            code="in_progress",
        )

    def _not_begun(self, pid: str, event: ObjectEvent, begun: BeginOutcome) -> Outcome:
        """The outcome of a delivery that did not take the lease: stale, duplicate, or past its attempts."""
        if begun is BeginOutcome.STALE:
            logger.info("a newer generation is registered; nothing to do")
            return Outcome.STALE
        if begun is BeginOutcome.EXHAUSTED:
            self._drop_renditions(pid, up_to=event.generation)
            logger.error(
                "photo failed: too many deliveries without an outcome",
                extra={
                    "json_fields": {**failed_fields("too_many_attempts"), "max_attempts": self._config.max_attempts}
                },
            )
            return Outcome.FAILED
        logger.info("generation already processed; duplicate delivery acked")
        # Re-announce and re-queue: if publishing failed after the document was written, this redelivery is the retry.
        self._announce_ready(pid, event)
        self._queue_optimize(pid, event, only_pending=True)
        self._link_live_photo(pid, event)
        return Outcome.DUPLICATE

    def _process(self, pid: str, event: ObjectEvent, started: float, holder: str) -> Outcome:
        """Download, render, store and register the generation this delivery holds the lease of."""
        generation = event.generation
        painter = self._painter(pid, generation, holder, started)
        stages = Stages(started)
        stages.mark("begin_ms")
        try:
            data = self._sources.download(event.bucket, event.name, generation, self._config.limits.download_bytes)
            stages.mark("download_ms")
            result, estimate_mib = self._render_admitted(data, event, painter)
            stages.mark("admitted_render_ms")
            if painter is not None:
                painter.wait()
            self._store(pid, generation, result, already=painter.stored if painter is not None else set())
            stages.mark("store_ms")
            fields = ready_fields(result, pid, generation, self._config.url_prefix, keep_gps=self._config.keep_gps)
            if self._config.presets.presets:
                fields["variants"] = variant_fields(result.variants, pid, generation, self._config.url_prefix)
            total_ms = stages.total_ms()
            fields["timings"] = {
                **stages.marks,
                "decode_ms": result.decode_ms,
                "render_ms": result.render_ms,
                "total_ms": total_ms,
            }
            if painter is not None and painter.paint_ms is not None:
                fields["timings"]["paint_ms"] = painter.paint_ms
            fields.update(pending_optimization() if self._optimizer is not None else optimization_fields(None))
            if not self._registry.complete(pid, generation, fields):
                self._renditions.delete_prefix(rendition_prefix(pid, generation))
                logger.info("superseded or deleted while rendering; renditions withdrawn")
                return Outcome.STALE
        except SourceGoneError:
            return self._source_gone(pid, event)
        except PermanentError as err:
            self._record_failure(pid, generation, err)
            return Outcome.FAILED
        except TransientError as err:
            self._note_retry(pid, generation, err)
            raise
        self._drop_renditions(pid, up_to=generation - 1)
        self._announce_ready(pid, event)
        self._log_registered(result, len(data), estimate_mib, total_ms)
        self._queue_optimize(pid, event)
        self._link_live_photo(pid, event)
        return Outcome.REGISTERED

    def _link_live_photo(self, pid: str, event: ObjectEvent) -> None:
        """Link this ready item with the other part of its Live Photo if that is ready too (gallery.live_photo).

        A TransientError is raised on: the redelivery finds the item ready and links again (the DUPLICATE path).
        """
        mine, prefix = live_photo.role(event.name), live_photo.sibling_prefix(event.name)
        if mine is None or prefix is None:
            return
        listed = self._sources.list_names(event.bucket, prefix)
        for other in live_photo.partners(event.name, listed):
            other_id = photo_id(event.bucket, other)
            still, motion = (pid, other_id) if mine == "still" else (other_id, pid)
            if self._registry.link_live_photo(still, motion):
                logger.info("live photo linked", extra={"json_fields": {"partner": other, "role": mine}})
                return

    def _unlink_live_photo(self, pid: str, event: ObjectEvent) -> None:
        """The deleted part's partner stands on its own again: a still without motion, or a video of its own."""
        prefix = live_photo.sibling_prefix(event.name)
        if live_photo.role(event.name) is None or prefix is None:
            return
        for other in live_photo.partners(event.name, self._sources.list_names(event.bucket, prefix)):
            if self._registry.unlink_live_photo(pid, photo_id(event.bucket, other)):
                logger.info("live photo unlinked", extra={"json_fields": {"partner": other}})

    def _queue_optimize(self, pid: str, event: ObjectEvent, *, only_pending: bool = False) -> None:
        """Queue the photo's optimize task on the bulk lane (with `only_pending`, only if the document still waits
        for it). A failed publish raises TransientError: the redelivery finds the photo ready and queues again."""
        if self._optimizer is None or self._requeue is None:
            return
        if only_pending:
            doc = self._registry.get(pid)
            state = (doc or {}).get("optimization") or {}
            if stored_generation(doc) != event.generation or state.get("status") != "pending":
                return
        resource = {"bucket": event.bucket, "name": event.name, "generation": str(event.generation)}
        data, attributes = finalize_notification(resource, "bulk", **{TASK_ATTRIBUTE: OPTIMIZE_TASK})
        self._requeue.publish(data, attributes)
        logger.info("optimize task queued on the bulk lane")

    def _optimize(self, pid: str, event: ObjectEvent) -> Outcome:
        """Run the optimize task of a ready photo (gallery.optimize); without the pass configured, acknowledge it."""
        if self._optimizer is None:
            logger.info("optimize task acked: the optimize pass is off on this service")
            return Outcome.IGNORED
        done = self._optimizer.run(pid, event)
        return {
            "optimized": Outcome.OPTIMIZED,
            "duplicate": Outcome.DUPLICATE,
            "stale": Outcome.STALE,
        }.get(done.outcome, Outcome.IGNORED)

    def _painter(self, pid: str, generation: int, holder: str, started: float) -> PaintFirst | None:
        """This delivery's paint-first stage, if the renderer can hand a preview over and the setting allows it."""
        if not self._renders_previews or self._config.paint_first_min_pixels > self._config.limits.max_pixels:
            return None
        return PaintFirst(
            photo_id=pid,
            generation=generation,
            holder=holder,
            renditions=self._renditions,
            registry=self._registry,
            url_prefix=self._config.url_prefix,
            min_pixels=self._config.paint_first_min_pixels,
            started=started,
        )

    def _render_admitted(
        self, data: bytes, event: ObjectEvent, painter: PaintFirst | None = None
    ) -> tuple[RenderResult, int]:
        """Render once the estimated peak fits in the instance's memory budget; returns the result and estimate."""
        variants = self._variant_request(event)
        extra: dict[str, Any] = {} if painter is None else {"on_preview": painter}
        with self._admitted(data) as estimate_mib:
            if variants is None:
                return self._render(data, self._config.spec, self._config.limits, **extra), estimate_mib
            return self._render(data, self._config.spec, self._config.limits, variants, **extra), estimate_mib

    def _store(self, pid: str, generation: int, result: RenderResult, already: set[str]) -> None:
        """Write every rendition and preset variant under its generation-keyed, immutable name (but those the
        preview stored already: the same bytes)."""
        for rendition in result.renditions:
            path = rendition_path(pid, generation, rendition)
            if path not in already:
                self._renditions.put(path, rendition.data, rendition.content_type)
        for path, rendition in variant_files(result.variants, pid, generation):
            self._renditions.put(path, rendition.data, rendition.content_type)
        if result.motion is not None:
            motion = result.motion
            self._renditions.put(motion_name(pid, generation, motion.extension), motion.data, motion.content_type)

    def _source_gone(self, pid: str, event: ObjectEvent) -> Outcome:
        """The generation was live a moment ago and is gone now (deleted or replaced while we read it)."""
        generation = event.generation
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

    @staticmethod
    def _log_registered(result: RenderResult, bytes_in: int, estimate_mib: int, total_ms: float) -> None:
        logger.info(
            "photo registered",
            extra={
                "json_fields": {
                    "outcome": PhotoStatus.READY.value,
                    "megapixels": round(result.width * result.height / 1e6, 2),
                    "bytes_in": bytes_in,
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
            "preview": None,
            "motion": None,
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
        if live_generation is None:  # the object is gone (a redelivery unlinks again: it writes only once)
            self._unlink_live_photo(pid, event)
        self._drop_renditions(pid, up_to=self._removable_up_to(generation, live_generation))
        logger.info("photo deregistered" if removed else "delete of an unregistered, older or live generation")
        return Outcome.DEREGISTERED if removed else Outcome.STALE

    def _drop_renditions(self, pid: str, *, up_to: int) -> None:
        for old in sorted(self._renditions.list_generations(pid)):
            if old <= up_to:
                self._renditions.delete_prefix(rendition_prefix(pid, old))
