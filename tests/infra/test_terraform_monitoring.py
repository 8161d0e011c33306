"""The dashboard, the log-based metrics behind it and the alerts watch every lane and match what the code logs.

Parsed with python-hcl2 like the wiring tests; the provider-schema and checkov tests cover the same resources.
"""

from __future__ import annotations

import re
from typing import Any

from gallery.service import failed_fields
from gallery_cli.settings import ToolSettings
from tests.infra.tf import block, module, resource, strings, unwrap, variable_default

LANES = {"live", "bulk"}
LANE_LOCALS = ("lane_topic_names", "lane_subscription_names", "lane_service_names")


def local(name: str) -> Any:
    locals_ = module()["locals"]
    assert name in locals_, f"local.{name} is not defined"
    return locals_[name]


def dashboard_charts() -> list[dict[str, Any]]:
    """The per-lane charts (each with the lane map it draws a line per lane of) and the pipeline's charts."""
    combined = unwrap(local("dashboard_charts"))
    assert "for chart in local.lane_charts" in combined and "local.pipeline_charts" in combined
    assert "for lane, name in chart.names" in combined and 'legend = "${lane}${chart.suffix}"' in combined
    lane_charts, pipeline_charts = local("lane_charts"), local("pipeline_charts")
    assert isinstance(lane_charts, list) and isinstance(pipeline_charts, list)
    return lane_charts + pipeline_charts


def test_lane_names_are_maps_keyed_by_lane_with_the_live_lane() -> None:
    for name in LANE_LOCALS:
        value = local(name)
        if isinstance(value, str):  # a `for` expression over the lanes
            assert "local.lanes" in value, f"local.{name} = {value}"
            continue
        assert "live" in value and set(value) <= LANES, f"local.{name} = {value}"
    subscriptions = local("lane_subscription_names")
    if isinstance(subscriptions, dict):
        assert unwrap(subscriptions["live"]) == "google_pubsub_subscription.push.name"


def test_the_log_based_metrics_read_the_fields_the_function_logs() -> None:
    logged = set(failed_fields("corrupt_image")) | {"render_ms"}  # gallery.service's outcome log lines
    latency = resource("google_logging_metric.render_latency")
    outcomes = resource("google_logging_metric.photo_outcomes")
    for metric in (latency, outcomes):
        assert unwrap(metric["count"]) == "var.enable_monitoring_dashboard ? 1 : 0"
        assert 'resource.type="cloud_run_revision"' in metric["filter"]
        assert "local.lane_services_filter" in metric["filter"]
        used = set(re.findall(r"jsonPayload\.([a-z_]+)", str(metric)))
        assert used <= logged, f"{sorted(used - logged)} are not logged by the function"
    assert 'jsonPayload.outcome="ready"' in latency["filter"]
    assert latency["value_extractor"] == "EXTRACT(jsonPayload.render_ms)"
    descriptor = block(latency, "metric_descriptor")
    assert (descriptor["metric_kind"], descriptor["value_type"], descriptor["unit"]) == ("DELTA", "DISTRIBUTION", "ms")
    assert block(latency, "bucket_options")
    assert outcomes["label_extractors"] == {
        "outcome": "EXTRACT(jsonPayload.outcome)",
        "error_code": "EXTRACT(jsonPayload.error_code)",
    }
    labels = {label["key"] for label in block(outcomes, "metric_descriptor")["labels"]}
    assert labels == {"outcome", "error_code"}
    assert "values(local.lane_service_names)" in local("lane_services_filter")


def test_the_dashboard_charts_every_lane_dead_letters_render_times_errors_instances_and_memory() -> None:
    dashboard = resource("google_monitoring_dashboard.gallery")
    assert unwrap(dashboard["count"]) == "var.enable_monitoring_dashboard ? 1 : 0"
    body = unwrap(dashboard["dashboard_json"])
    assert body.startswith("jsonencode(") and "local.dashboard_charts" in body and "mosaicLayout" in body
    depends = {unwrap(d) for d in dashboard["depends_on"]}
    assert depends == {"google_logging_metric.render_latency", "google_logging_metric.photo_outcomes"}

    charts = {chart["title"]: " ".join(strings(chart)) for chart in dashboard_charts()}
    expected = {
        "Backlog": ("/num_undelivered_messages", "local.lane_subscription_names", "subscription_id"),
        "Oldest": ("/oldest_unacked_message_age", "local.lane_subscription_names", "subscription_id"),
        "Dead letters": ("google_pubsub_subscription.dead_letter.name", "num_undelivered_messages"),
        "Render time": ("local.render_latency_metric_name", "REDUCE_PERCENTILE_"),
        "Photos settled": ("local.photo_outcomes_metric_name", 'metric.label."outcome"'),
        "Failed photos": (
            "local.photo_outcomes_metric_name",
            'metric.label."error_code"',
            'metric.labels.outcome = "failed"',
        ),
        "Instances": ("/instance_count", "local.lane_service_names", "service_name"),
        "Memory": ("/memory/utilizations", "local.lane_service_names", "service_name"),
    }
    for start, needles in expected.items():
        found = [text for title, text in charts.items() if title.startswith(start)]
        assert len(found) == 1, f"one chart starting {start!r}, got {list(charts)}"
        for needle in needles:
            assert needle in found[0], f"the {start!r} chart does not use {needle}: {found[0]}"
    assert "for p in [50, 95]" in charts["Render time p50 / p95"]
    dataset = body[body.index("dataSets") :]
    for key in ("line.filter", "line.period", "line.aligner", "line.reducer", "line.group_by", "line.legend"):
        assert key in dataset, f"the dashboard's data sets do not use {key}"


def test_each_lane_has_an_oldest_message_age_alert_with_its_own_validated_threshold() -> None:
    alert = resource("google_monitoring_alert_policy.oldest_message_age")
    assert unwrap(alert["for_each"]) == "var.enable_backlog_age_alerts ? local.lane_subscription_names : {}"
    condition = block(alert["conditions"][0], "condition_threshold")
    assert "oldest_unacked_message_age" in condition["filter"]
    assert "${each.value}" in condition["filter"] and "pubsub_subscription" in condition["filter"]
    assert unwrap(condition["threshold_value"]) == "var.oldest_message_age_alert_seconds[each.key]"
    assert condition["comparison"] == "COMPARISON_GT"
    assert "google_monitoring_notification_channel.email" in str(alert["notification_channels"])

    variable = module()["variable"]["oldest_message_age_alert_seconds"]
    assert variable["type"] == "${map(number)}"
    assert set(variable_default("oldest_message_age_alert_seconds")) == LANES
    assert len(variable["validation"]) == 2
    for flag in ("enable_backlog_age_alerts", "enable_monitoring_dashboard"):
        assert variable_default(flag) is True


def test_notifications_go_out_when_either_kind_of_alert_is_on() -> None:
    channel = resource("google_monitoring_notification_channel.email")
    assert "var.enable_backlog_age_alerts" in unwrap(channel["for_each"])
    assert "var.enable_dead_letter_alert" in unwrap(channel["for_each"])


def test_the_tools_env_names_the_subscriptions_gallery_status_reports() -> None:
    """`terraform output -raw cli_env > cli.env; gallery status --env-file cli.env` finds every lane's figures."""
    env = local("status_env")
    assert "local.lane_subscription_names" in env and "_SUBSCRIPTION" in env
    assert "DEAD_LETTER_SUBSCRIPTION = google_pubsub_subscription.dead_letter.id" in env
    names = {"LIVE_SUBSCRIPTION", "BULK_SUBSCRIPTION", "DEAD_LETTER_SUBSCRIPTION"}
    assert names <= ToolSettings.env_names()
    assert "local.status_env" in local("cli_env")
    assert "local.cli_env" in module()["output"]["cli_env"]["value"]
