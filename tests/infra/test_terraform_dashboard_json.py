"""The dashboard's JSON as Terraform itself builds it, for a deployment with both lanes.

The Google provider is not available, but `dashboard_json` is plain Terraform: dashboard.tf's locals and its
`jsonencode(...)` are copied into a module without providers, with the names it reads from the rest of the
module given as values, and `terraform apply` (which then creates nothing) prints the JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.tf import TF_DIR

LANE_SUBSCRIPTIONS = {"live": "gallery-thumbnailer-push", "bulk": "gallery-thumbnailer-bulk-push"}
LANE_SERVICES = {"live": "gallery-thumbnailer", "bulk": "gallery-thumbnailer-bulk"}
DEAD_LETTERS = "gallery-uploads-dead-letter"
GIVEN = {
    "google_pubsub_subscription.dead_letter.name": json.dumps(DEAD_LETTERS),
}


def _hcl_map(values: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()) + " }"


def _standalone(source: str) -> str:
    """dashboard.tf's locals and its dashboard_json as an output, with the rest of the module given as values."""
    for reference, value in GIVEN.items():
        source = source.replace(reference, value)
    start = source.index('resource "google_monitoring_dashboard"')
    locals_part, resource_part = source[:start], source[start:]
    body = resource_part[resource_part.index("dashboard_json = ") + len("dashboard_json = ") :]
    body = body[: body.index("\n\n  depends_on")]
    return (
        locals_part
        + f"""
variable "name_prefix" {{
  default = "gallery"
}}

locals {{
  lane_subscription_names    = {_hcl_map(LANE_SUBSCRIPTIONS)}
  lane_service_names         = {_hcl_map(LANE_SERVICES)}
  render_latency_metric_name = "gallery-render-latency"
  photo_outcomes_metric_name = "gallery-photo-outcomes"
}}

output "dashboard_json" {{
  value = {body}
}}
"""
    )


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("the terraform binary is not on PATH; install Terraform >= 1.5 (CI does)")
    work: Path = tmp_path_factory.mktemp("dashboard")
    (work / "main.tf").write_text(_standalone((TF_DIR / "dashboard.tf").read_text(encoding="utf-8")))
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_DATA_DIR": str(work / ".tf")}
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run(
            [terraform, *args, "-no-color"], cwd=work, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"terraform {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    shown = subprocess.run(
        [terraform, "output", "-raw", "dashboard_json"], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    parsed: dict[str, Any] = json.loads(shown.stdout)
    return parsed


def _charts(dashboard: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    tiles = dashboard["mosaicLayout"]["tiles"]
    return {tile["widget"]["title"]: tile["widget"]["xyChart"]["dataSets"] for tile in tiles}


def _filters(data_sets: list[dict[str, Any]]) -> dict[str, str]:
    return {ds["legendTemplate"]: ds["timeSeriesQuery"]["timeSeriesFilter"]["filter"] for ds in data_sets}


def test_every_lane_has_its_line_in_the_queue_and_service_charts(dashboard: dict[str, Any]) -> None:
    assert dashboard["displayName"] == "Gallery (gallery)"
    charts = _charts(dashboard)
    queue_metrics = {
        "Backlog: undelivered messages per lane": "num_undelivered_messages",
        "Oldest unacknowledged message per lane": "oldest_unacked_message_age",
    }
    for title, metric in queue_metrics.items():
        filters = _filters(charts[title])
        assert set(filters) == set(LANE_SUBSCRIPTIONS)
        for lane, subscription in LANE_SUBSCRIPTIONS.items():
            assert filters[lane] == (
                'resource.type = "pubsub_subscription" AND metric.type = '
                f'"pubsub.googleapis.com/subscription/{metric}" AND resource.labels.subscription_id = "{subscription}"'
            )
    for title, metric, legend in (
        ("Instances per lane", "instance_count", "{}"),
        ("Memory utilization per lane (p99 of instances)", "memory/utilizations", "{} p99"),
    ):
        filters = _filters(charts[title])
        for lane, service in LANE_SERVICES.items():
            assert filters[legend.format(lane)] == (
                'resource.type = "cloud_run_revision" AND metric.type = '
                f'"run.googleapis.com/container/{metric}" AND resource.labels.service_name = "{service}"'
            )


def test_dead_letters_render_times_and_failures_by_code(dashboard: dict[str, Any]) -> None:
    charts = _charts(dashboard)
    dead = _filters(charts["Dead letters waiting"])
    assert dead == {
        "dead letters": 'resource.type = "pubsub_subscription" AND metric.type = '
        f'"pubsub.googleapis.com/subscription/num_undelivered_messages" AND resource.labels.subscription_id = '
        f'"{DEAD_LETTERS}"'
    }
    render = charts["Render time p50 / p95"]
    assert [ds["timeSeriesQuery"]["timeSeriesFilter"]["aggregation"]["crossSeriesReducer"] for ds in render] == [
        "REDUCE_PERCENTILE_50",
        "REDUCE_PERCENTILE_95",
    ]
    assert _filters(render)["p50"] == 'metric.type = "logging.googleapis.com/user/gallery-render-latency"'
    (failed,) = charts["Failed photos by error code"]
    query = failed["timeSeriesQuery"]["timeSeriesFilter"]
    assert query["filter"].endswith('AND metric.labels.outcome = "failed"')
    assert query["aggregation"]["groupByFields"] == ['metric.label."error_code"']
    assert failed["legendTemplate"] == "${metric.labels.error_code}"
    tiles = dashboard["mosaicLayout"]["tiles"]
    assert len({(t["xPos"], t["yPos"]) for t in tiles}) == len(tiles) == 8, "no two tiles overlap"
