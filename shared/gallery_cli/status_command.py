"""`gallery status`: each lane's backlog and oldest unacknowledged message, the dead letters, and the photos (how
many of them are videos and Live Photos).

Queue figures come through the `QueueMetrics` port: the local emulator's own when ``PUBSUB_EMULATOR_HOST`` is set,
Cloud Monitoring's Pub/Sub subscription metrics otherwise (they lag a few minutes). Photo figures come from the
photo documents (count aggregations, the documents settled in the last ``--window`` minutes, the failure codes).
``--json`` prints the stable shape documented in docs/operations.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated

import typer
from rich.table import Table

from gallery.pipeline_status import PipelineStatus, QueueStatus, collect, configured_lanes
from gallery_cli.base import EnvFileOption, JsonOption, app, err, load_settings, out, preflight
from gallery_cli.terminal import safe_text


def age_text(seconds: float | None) -> str:
    """``"?"`` when unknown, else the age in whole seconds, minutes and seconds, or hours and minutes."""
    if seconds is None:
        return "?"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def media_text(media: Mapping[str, int]) -> str:
    """``media: 3 videos, 1 Live Photo`` (a Live Photo's video is one of the videos)."""
    videos, live = media.get("videos", 0), media.get("live_photos", 0)
    return f"media: {videos} video{'' if videos == 1 else 's'}, {live} Live Photo{'' if live == 1 else 's'}"


def _figure(value: float | int | None, unit: str = "") -> str:
    return "?" if value is None else f"{value:g}{unit}"


def _queue_row(table: Table, label: str, queue: QueueStatus) -> None:
    figures = queue.figures
    short = queue.subscription.rsplit("/", 1)[-1]  # the project is the one the settings name
    age = age_text(figures.oldest_unacked_age_seconds)
    table.add_row(*map(safe_text, (label, short, _figure(figures.backlog), age)))


def print_status(status: PipelineStatus) -> None:
    """The status as tables for a person."""
    queues = Table("lane", "subscription", "backlog", "oldest unacked", title=f"Queues ({status.queue_source})")
    for lane in status.lanes:
        _queue_row(queues, lane.name, lane)
    if status.dead_letters is not None:
        _queue_row(queues, "dead letters", status.dead_letters)
    out.print(queues)
    if status.queue_error:
        err.print(f"[yellow]queue figures unavailable:[/yellow] {safe_text(status.queue_error)}")
    p = status.photos
    counts = ", ".join(f"{n} {name}" for name, n in p.by_status.items())
    out.print(f"photos: {sum(p.by_status.values())} ({counts})", highlight=False)
    if p.media:
        out.print(media_text(p.media), highlight=False)
    if any(p.optimization.values()):
        optimized = ", ".join(f"{n} {state}" for state, n in p.optimization.items())
        out.print(f"optimize pass: {optimized}", highlight=False)
    capped = "+" if p.window_capped else ""
    out.print(
        f"last {p.window_minutes:g} min: {p.settled}{capped} settled ({p.ready} ready, {p.failed} failed), "
        f"{p.per_minute:.2f}/min; render p50 {_figure(p.render_ms_p50, ' ms')}, "
        f"p95 {_figure(p.render_ms_p95, ' ms')} over {p.render_ms_samples} photo(s)",
        highlight=False,
    )
    if p.failures_by_code:
        failures = Table("error code", "failed photos", f"in the last {p.window_minutes:g} min", title="Failures")
        for code, count in p.failures_by_code.items():
            failures.add_row(safe_text(code or "(none)"), str(count), str(p.recent_failures_by_code.get(code, 0)))
        out.print(failures)


@app.command()
def status(
    window: Annotated[
        int | None, typer.Option(min=1, max=1440, help="Minutes of throughput and render times (default: settings)")
    ] = None,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Backlog and oldest message per lane, dead letters, photo, video and Live Photo counts, throughput, render
    p50/p95, failures."""
    from gallery.wiring import build_catalog, build_queue_metrics

    settings = load_settings(env_file)
    preflight("firestore", "pubsub")
    result = collect(
        build_catalog(settings),
        build_queue_metrics(settings),
        configured_lanes(settings.lane_subscriptions),
        settings.dead_letter_subscription_path,
        window_minutes=window or settings.status_window_minutes,
    )
    if as_json:
        out.print_json(json.dumps(result.as_json()))
        return
    print_status(result)
