"""The Cloud Monitoring adapter's requests and its reading of the answers, with the client library's own types.

Cloud Monitoring itself cannot be reached from a test; the client is replaced by one that records the
ListTimeSeries requests and answers with `monitoring_v3.TimeSeries` as the API returns them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3

from gallery.adapters.monitoring_queue_metrics import (
    LOOKBACK,
    OLDEST_AGE,
    UNDELIVERED,
    CloudMonitoringQueueMetrics,
    newest_values,
    series_request,
)
from gallery.errors import TransientError
from gallery.model import QueueFigures

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIVE = "projects/p1/subscriptions/gallery-live"
BULK = "projects/p1/subscriptions/gallery-bulk"


def series(sub: str, *points: tuple[int, int]) -> monitoring_v3.TimeSeries:
    """A gauge series of one subscription with (minutes before NOW, value) points, newest first like the API."""
    return monitoring_v3.TimeSeries(
        metric={"type": UNDELIVERED},
        resource={"type": "pubsub_subscription", "labels": {"project_id": "p1", "subscription_id": sub}},
        points=[
            {
                "interval": {"end_time": NOW - timedelta(minutes=ago), "start_time": NOW - timedelta(minutes=ago)},
                "value": {"int64_value": value},
            }
            for ago, value in points
        ],
    )


class RecordingClient:
    def __init__(self, answers: dict[str, list[monitoring_v3.TimeSeries]] | Exception) -> None:
        self.answers = answers
        self.requests: list[monitoring_v3.ListTimeSeriesRequest] = []

    def list_time_series(self, *, request: monitoring_v3.ListTimeSeriesRequest, timeout: float) -> Any:
        self.requests.append(request)
        if isinstance(self.answers, Exception):
            raise self.answers
        metric = request.filter.split('"')[1]
        return iter(self.answers.get(metric, []))


def test_request_names_the_metric_the_subscriptions_and_the_lookback_window() -> None:
    request = series_request("p1", UNDELIVERED, [LIVE, BULK, "gallery-live"], NOW)
    assert request.name == "projects/p1"
    assert request.filter == (
        f'metric.type = "{UNDELIVERED}" AND resource.type = "pubsub_subscription" '
        'AND resource.labels.subscription_id = one_of("gallery-bulk", "gallery-live")'
    )
    assert request.interval.end_time == NOW
    assert request.interval.start_time == NOW - LOOKBACK
    assert request.view == monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL
    # What goes on the wire round-trips through the protobuf.
    again = monitoring_v3.ListTimeSeriesRequest.deserialize(monitoring_v3.ListTimeSeriesRequest.serialize(request))
    assert again.filter == request.filter


def test_newest_point_of_each_series_wins_whatever_the_order() -> None:
    found = newest_values([series("gallery-live", (3, 40), (1, 12), (2, 30)), series("gallery-bulk", (5, 900))])
    assert found == {"gallery-live": 12.0, "gallery-bulk": 900.0}


def test_figures_per_subscription_and_none_where_monitoring_has_no_point() -> None:
    age = series("gallery-live", (1, 75))
    age.metric.type = OLDEST_AGE
    client = RecordingClient({UNDELIVERED: [series("gallery-live", (2, 5), (1, 3))], OLDEST_AGE: [age]})
    metrics = CloudMonitoringQueueMetrics(client, "p1")  # type: ignore[arg-type]
    assert metrics.source == "cloud_monitoring"
    assert metrics.figures([LIVE, BULK]) == {LIVE: QueueFigures(3, 75.0), BULK: QueueFigures(None, None)}
    assert [r.filter.split('"')[1] for r in client.requests] == [UNDELIVERED, OLDEST_AGE]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (gexc.PermissionDenied("monitoring.timeSeries.list"), "permission_denied"),
        (gexc.ServiceUnavailable("x"), "dependency_unavailable"),
    ],
)
def test_unreadable_monitoring_is_a_transient_error_with_its_reason(error: Exception, code: str) -> None:
    metrics = CloudMonitoringQueueMetrics(RecordingClient(error), "p1")  # type: ignore[arg-type]
    with pytest.raises(TransientError) as caught:
        metrics.figures([LIVE])
    assert caught.value.code == code
