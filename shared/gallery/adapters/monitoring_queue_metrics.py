"""Cloud Monitoring: implements `gallery.ports.QueueMetrics` with Pub/Sub's built-in subscription metrics.

``pubsub.googleapis.com/subscription/num_undelivered_messages`` (backlog) and
``.../oldest_unacked_message_age`` (seconds) are sampled every 60 s and become visible up to a few minutes
later, so each is read over the last `LOOKBACK` and the newest point of each subscription is reported.
A subscription without a point in that window has no figures (None), never a guessed zero.

Needs ``roles/monitoring.viewer`` on the project (the `gallery` operator's credentials).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import monitoring_v3

from gallery.adapters.classify import classify
from gallery.model import QueueFigures

UNDELIVERED = "pubsub.googleapis.com/subscription/num_undelivered_messages"
OLDEST_AGE = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
LOOKBACK = timedelta(minutes=10)


def subscription_id(name: str) -> str:
    """``projects/P/subscriptions/S`` → ``S`` (the metric's ``subscription_id`` label); an id stays as it is."""
    return name.rsplit("/", 1)[-1]


def series_request(
    project: str, metric: str, subscriptions: Iterable[str], now: datetime
) -> monitoring_v3.ListTimeSeriesRequest:
    """One ListTimeSeries request for `metric` of these subscriptions over the last `LOOKBACK`, raw points."""
    ids = sorted({subscription_id(name) for name in subscriptions})
    wanted = ", ".join(f'"{i}"' for i in ids)
    return monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project}",
        filter=(
            f'metric.type = "{metric}" AND resource.type = "pubsub_subscription" '
            f"AND resource.labels.subscription_id = one_of({wanted})"
        ),
        interval=monitoring_v3.TimeInterval(start_time=now - LOOKBACK, end_time=now),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )


def _number(value: Any) -> float:
    kind = monitoring_v3.TypedValue.pb(value).WhichOneof("value")
    return float(getattr(value, kind)) if kind in ("int64_value", "double_value") else 0.0


def newest_values(series: Iterable[monitoring_v3.TimeSeries]) -> dict[str, float]:
    """The newest point of each subscription's series, by subscription id."""
    newest: dict[str, tuple[datetime, float]] = {}
    for one in series:
        sub = str(one.resource.labels.get("subscription_id", ""))
        for point in one.points:
            when = point.interval.end_time
            if sub not in newest or when > newest[sub][0]:
                newest[sub] = (when, _number(point.value))
    return {sub: value for sub, (_, value) in newest.items()}


class CloudMonitoringQueueMetrics:
    """Reads the two subscription metrics with a `monitoring_v3.MetricServiceClient`."""

    source = "cloud_monitoring"

    def __init__(self, client: monitoring_v3.MetricServiceClient, project: str, *, timeout: float = 20.0) -> None:
        self._client = client
        self._project = project
        self._timeout = timeout

    def _read(self, metric: str, subscriptions: Sequence[str], now: datetime) -> dict[str, float]:
        request = series_request(self._project, metric, subscriptions, now)
        try:
            return newest_values(self._client.list_time_series(request=request, timeout=self._timeout))
        except Exception as err:
            raise classify(err, f"cloud monitoring {metric}") from err

    def figures(self, subscriptions: Sequence[str]) -> dict[str, QueueFigures]:
        if not subscriptions:
            return {}
        now = datetime.now(UTC)
        backlog = self._read(UNDELIVERED, subscriptions, now)
        oldest = self._read(OLDEST_AGE, subscriptions, now)
        found: dict[str, QueueFigures] = {}
        for name in subscriptions:
            sid = subscription_id(name)
            count = backlog.get(sid)
            found[name] = QueueFigures(
                backlog=None if count is None else int(count), oldest_unacked_age_seconds=oldest.get(sid)
            )
        return found
