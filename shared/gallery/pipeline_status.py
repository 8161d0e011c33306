"""What `gallery status` and the gallery page's queue panel report: the lanes' queues and the photo figures.

`collect` reads through the ports (`QueueMetrics` for the subscriptions, `PhotoCatalog` for the documents);
everything else here is pure: the percentiles, the throughput, the failures by code and the JSON shape
(docs/operations.md, "gallery status"). A queue source that cannot be read does not hide the photo figures:
its lanes report unknown figures and `queue_error` says why.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from gallery.catalog import failure_codes as count_failure_codes
from gallery.errors import GalleryError
from gallery.model import PhotoStatus, QueueFigures
from gallery.ports import PhotoCatalog, QueueMetrics

logger = logging.getLogger(__name__)

LaneName = Literal["live", "bulk"]
LANE_NAMES: tuple[LaneName, ...] = ("live", "bulk")
JSON_VERSION = 1
DEFAULT_WINDOW_MINUTES = 15
MAX_SETTLED_READ = 5000
"""Most settled documents read for one window (throughput and render times); more is reported as a floor."""

Doc = Mapping[str, Any]


@dataclass(frozen=True)
class Lane:
    """A delivery lane and the subscription that feeds the function from it."""

    name: LaneName
    subscription: str


def configured_lanes(subscriptions: Mapping[LaneName, str]) -> list[Lane]:
    """The lanes with a subscription, in lane order (a stack with only the live lane reports only that one)."""
    return [Lane(name, subscriptions[name]) for name in LANE_NAMES if subscriptions.get(name)]


@dataclass(frozen=True)
class QueueStatus:
    name: str
    subscription: str
    figures: QueueFigures

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subscription": self.subscription,
            "backlog": self.figures.backlog,
            "oldest_unacked_age_seconds": _round(self.figures.oldest_unacked_age_seconds),
        }


@dataclass(frozen=True)
class PhotoFigures:
    by_status: dict[str, int]
    window_minutes: float
    settled: int
    ready: int
    failed: int
    window_capped: bool
    render_ms_samples: int
    render_ms_p50: float | None
    render_ms_p95: float | None
    failures_by_code: dict[str, int]
    recent_failures_by_code: dict[str, int]
    optimization: dict[str, int] = field(default_factory=dict)
    """Photos the optimize pass has pending, done and failed."""
    media: dict[str, int] = field(default_factory=dict)
    """How many items are videos (a Live Photo's video included) and how many are Live Photos."""

    @property
    def per_minute(self) -> float:
        return self.settled / self.window_minutes if self.window_minutes else 0.0


@dataclass(frozen=True)
class PipelineStatus:
    generated_at: datetime
    queue_source: str
    lanes: list[QueueStatus]
    dead_letters: QueueStatus | None
    photos: PhotoFigures
    queue_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The stable JSON shape (version 1) documented in docs/operations.md."""
        p = self.photos
        return {
            "version": JSON_VERSION,
            "generated_at": self.generated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "queue_source": self.queue_source,
            "queue_error": self.queue_error,
            "lanes": [lane.as_json() for lane in self.lanes],
            "dead_letters": None
            if self.dead_letters is None
            else {
                "subscription": self.dead_letters.subscription,
                "count": self.dead_letters.figures.backlog,
                "oldest_unacked_age_seconds": _round(self.dead_letters.figures.oldest_unacked_age_seconds),
            },
            "photos": {
                "total": sum(p.by_status.values()),
                "by_status": dict(p.by_status),
                "optimization": dict(p.optimization),
                "media": dict(p.media),
            },
            "throughput": {
                "window_minutes": p.window_minutes,
                "settled": p.settled,
                "ready": p.ready,
                "failed": p.failed,
                "per_minute": round(p.per_minute, 2),
                "capped": p.window_capped,
            },
            "render_ms": {"samples": p.render_ms_samples, "p50": p.render_ms_p50, "p95": p.render_ms_p95},
            "failures": {"by_code": dict(p.failures_by_code), "recent_by_code": dict(p.recent_failures_by_code)},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def percentile(values: Sequence[float], q: int) -> float | None:
    """The `q`-th percentile (1-99) of `values`, interpolated between the closest ranks; None without values."""
    if not values:
        return None
    if len(values) == 1:
        return round(float(values[0]), 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def render_ms(doc: Doc) -> float | None:
    """The render time a ready document records (``timings.render_ms``), if any."""
    value = (doc.get("timings") or {}).get("render_ms")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _most_first(codes: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(codes.items(), key=lambda item: (-item[1], item[0])))


def photo_figures(
    counts: Mapping[PhotoStatus, int],
    settled: Sequence[Doc],
    failure_codes: Mapping[str, int],
    *,
    window_minutes: float,
    capped: bool = False,
    optimization: Mapping[str, int] | None = None,
    media: Mapping[str, int] | None = None,
) -> PhotoFigures:
    """The photo side of the status from the counts, the documents settled in the window and the failure codes."""
    ready = [doc for doc in settled if PhotoStatus.of(doc) is PhotoStatus.READY]
    failed = [doc for doc in settled if PhotoStatus.of(doc) is PhotoStatus.FAILED]
    times = [t for t in map(render_ms, ready) if t is not None]
    return PhotoFigures(
        by_status={status.value: int(counts.get(status, 0)) for status in PhotoStatus},
        window_minutes=window_minutes,
        settled=len(ready) + len(failed),
        ready=len(ready),
        failed=len(failed),
        window_capped=capped,
        render_ms_samples=len(times),
        render_ms_p50=percentile(times, 50),
        render_ms_p95=percentile(times, 95),
        failures_by_code=_most_first(failure_codes),
        recent_failures_by_code=_most_first(count_failure_codes(failed)),
        optimization=dict(optimization or {}),
        media=dict(media or {}),
    )


def collect(
    catalog: PhotoCatalog,
    queues: QueueMetrics,
    lanes: Sequence[Lane],
    dead_letter_subscription: str,
    *,
    window_minutes: float = DEFAULT_WINDOW_MINUTES,
    now: datetime | None = None,
) -> PipelineStatus:
    """Read everything `gallery status` reports, now."""
    moment = now or datetime.now(UTC)
    names = [lane.subscription for lane in lanes] + ([dead_letter_subscription] if dead_letter_subscription else [])
    queue_error: str | None = None
    try:
        figures = queues.figures(names) if names else {}
    except GalleryError as exc:
        logger.warning("queue figures unavailable: %s", exc)
        queue_error, figures = f"{exc.code}: {exc.reason}", {}
    settled = catalog.settled_since(moment - timedelta(minutes=window_minutes), MAX_SETTLED_READ)
    photos = photo_figures(
        catalog.counts(),
        settled,
        catalog.failure_codes(),
        window_minutes=window_minutes,
        capped=len(settled) >= MAX_SETTLED_READ,
        optimization=catalog.optimization_counts(),
        media=catalog.media_counts(),
    )
    unknown = QueueFigures()
    dead = dead_letter_subscription
    return PipelineStatus(
        generated_at=moment,
        queue_source=queues.source,
        queue_error=queue_error,
        lanes=[QueueStatus(lane.name, lane.subscription, figures.get(lane.subscription, unknown)) for lane in lanes],
        dead_letters=QueueStatus("dead_letters", dead, figures.get(dead, unknown)) if dead else None,
        photos=photos,
    )
