"""Cloud Monitoring's ListTimeSeries for Pub/Sub's two backlog metrics, answered by the local Pub/Sub emulator.

So the Cloud Monitoring adapter (`gallery.adapters.monitoring_queue_metrics`) runs against a real gRPC server in
the tests, the emulator answers ``google.monitoring.v3.MetricService/ListTimeSeries`` on its port for
``pubsub.googleapis.com/subscription/num_undelivered_messages`` and ``.../oldest_unacked_message_age``, with the
filters that adapter sends (``metric.type = "…" AND resource.type = "pubsub_subscription" AND
resource.labels.subscription_id = one_of("…", …)`` or ``= "…"``). Each existing subscription asked for gets one
series with one point: its figures now (Cloud Monitoring's own are sampled each minute and lag a few). Any other
metric or filter is refused (INVALID_ARGUMENT), never answered with made-up data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from google.api import metric_pb2  # type: ignore[import-untyped]
from google.cloud import monitoring_v3

UNDELIVERED = "pubsub.googleapis.com/subscription/num_undelivered_messages"
OLDEST_AGE = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
METRICS = (UNDELIVERED, OLDEST_AGE)

_METRIC = re.compile(r'metric\.type\s*=\s*"([^"]+)"')
_RESOURCE = re.compile(r'resource\.type\s*=\s*"([^"]+)"')
_ONE_OF = re.compile(r"resource\.labels\.subscription_id\s*=\s*one_of\(([^)]*)\)")
_ONE = re.compile(r'resource\.labels\.subscription_id\s*=\s*"([^"]+)"')
_QUOTED = re.compile(r'"([^"]+)"')

Stats = Callable[[list[str]], dict[str, Any]]
"""`PubSubEmulator.queue_stats`: full subscription names → the emulator's figures."""


class UnsupportedQueryError(ValueError):
    """A ListTimeSeries request this emulator does not answer."""


def parse_filter(text: str) -> tuple[str, list[str]]:
    """(metric type, subscription ids) of a supported filter; raises UnsupportedQueryError otherwise."""
    metric = _METRIC.search(text)
    resource = _RESOURCE.search(text)
    if metric is None or metric.group(1) not in METRICS:
        raise UnsupportedQueryError(f"only {' and '.join(METRICS)} are answered here, not {text!r}")
    if resource is not None and resource.group(1) != "pubsub_subscription":
        raise UnsupportedQueryError(f"only resource.type pubsub_subscription is answered here, not {text!r}")
    if (listed := _ONE_OF.search(text)) is not None:
        return metric.group(1), _QUOTED.findall(listed.group(1))
    if (one := _ONE.search(text)) is not None:
        return metric.group(1), [one.group(1)]
    raise UnsupportedQueryError(f"name the subscriptions with resource.labels.subscription_id: {text!r}")


def list_time_series(
    request: monitoring_v3.ListTimeSeriesRequest, stats: Stats
) -> monitoring_v3.ListTimeSeriesResponse:
    """One series with the current point per existing subscription among those the request's filter names."""
    metric, ids = parse_filter(request.filter)
    project = request.name.removeprefix("projects/")
    names = [f"projects/{project}/subscriptions/{sid}" for sid in ids]
    answer = stats(names)
    read_time = dt.datetime.fromisoformat(str(answer["read_time"]))
    series = []
    for name, figures in answer["subscriptions"].items():
        if metric == UNDELIVERED:
            value = int(figures["num_undelivered_messages"])
        else:
            oldest = figures["oldest_unacked_publish_time"]
            value = int((read_time - dt.datetime.fromisoformat(oldest)).total_seconds()) if oldest else 0
        series.append(
            monitoring_v3.TimeSeries(
                metric={"type": metric},
                resource={
                    "type": "pubsub_subscription",
                    "labels": {"project_id": project, "subscription_id": name.rsplit("/", 1)[-1]},
                },
                metric_kind=metric_pb2.MetricDescriptor.GAUGE,
                value_type=metric_pb2.MetricDescriptor.INT64,
                points=[{"interval": {"end_time": read_time}, "value": {"int64_value": value}}],
            )
        )
    return monitoring_v3.ListTimeSeriesResponse(time_series=series)
