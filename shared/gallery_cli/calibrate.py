"""`gallery calibrate`: estimated vs measured peak memory per photo, CPU, and the concurrency/instances table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gallery.engine import estimate_render
from gallery.model import Limits, RenditionSpec
from gallery.service import ServiceConfig
from gallery_cli.base import EnvFileOption, JsonOption, app, err, load_settings, out
from gallery_cli.measure import (
    INSTANCE_BASELINE_MIB,
    TASKS_PER_VCPU,
    Calibration,
    CapacityRow,
    calibrate,
    capacity_table,
    full_size,
)
from gallery_cli.peak import measure_render

DEFAULT_GLOB = "samples/large/*.jpg"


def _default_files() -> list[Path]:
    return sorted(Path().glob(DEFAULT_GLOB))


@app.command("calibrate")
def calibrate_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help=f"Photos to measure (default: {DEFAULT_GLOB})", exists=True, dir_okay=False),
    ] = None,
    full: Annotated[bool, typer.Option("--full-size", help="Add a full-size rendition to the spec")] = False,
    baseline_mib: Annotated[
        int, typer.Option(help="Idle instance memory (Terraform instance_baseline_mib)")
    ] = INSTANCE_BASELINE_MIB,
    tasks_per_vcpu: Annotated[int, typer.Option(help="CPU cap per vCPU (Terraform tasks_per_vcpu)")] = TASKS_PER_VCPU,
    load: Annotated[int, typer.Option(help="Photos per hour to size the instance count for")] = 10_000,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Estimate (as the function admits renders) and measure each photo's peak memory, the peak per concurrent
    render (1, 2, 4 at once; the slope) with the function's settings, and print request concurrency, photos/hour
    and instances for 1, 2, 4 GiB x 1, 2, 4 vCPU (the Terraform formula, with the largest estimate as
    light_render_mib)."""
    paths = files or _default_files()
    if not paths:
        err.print(f"[red]no photos given and none match {DEFAULT_GLOB}[/red]")
        raise typer.Exit(2)
    settings = load_settings(env_file)
    spec = ServiceConfig.from_settings(settings).spec  # exactly the function's rendition spec
    if full:
        spec = full_size(spec)
    if not as_json:
        err.print(f"measuring {len(paths)} photo(s) at 1, 2 and 4 renders at once (fresh process each)…")
    limits = ServiceConfig.from_settings(settings).limits
    per_file = [_file_row(path, spec, limits) for path in paths]
    light_mib = max(row["estimate_mib"] for row in per_file)
    cal = calibrate(paths, spec)
    rows = capacity_table(
        light_mib,
        cal.cpu_s_per_photo,
        load_per_hour=load,
        baseline_mib=baseline_mib,
        tasks_per_vcpu=tasks_per_vcpu,
    )
    if as_json:
        doc = {
            "calibration": cal.as_dict(),
            "files": per_file,
            "light_render_mib": light_mib,
            "baseline_mib": baseline_mib,
            "tasks_per_vcpu": tasks_per_vcpu,
            "load_per_hour": load,
            "table": [row.__dict__ for row in rows],
        }
        out.print_json(json.dumps(doc))
        return
    _print_files(per_file)
    _print_calibration(cal)
    _print_table(rows, cal, light_mib, baseline_mib, tasks_per_vcpu, load)


def _file_row(path: Path, spec: RenditionSpec, limits: Limits) -> dict[str, Any]:
    estimate = estimate_render(path.read_bytes(), spec, limits)
    measured = measure_render(path, spec, limits)
    return {"file": str(path), "estimate_mib": estimate.total_mib, "peak_mib": measured.peak_mib}


def _print_files(rows: list[dict[str, Any]]) -> None:
    table = Table(title="one render per fresh process: estimate (admitted) vs measured peak above idle")
    for column in ("photo", "estimate MiB", "measured MiB"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(Path(row["file"]).name, str(row["estimate_mib"]), f"{row['peak_mib']:.0f}")
    out.print(table)


def _print_calibration(cal: Calibration) -> None:
    table = Table(title="peak RSS of a fresh process (each thread renders every photo twice)")
    for column in ("renders at once", "idle MiB", "peak MiB", "above idle MiB", "CPU s", "wall s"):
        table.add_column(column, justify="right")
    for s in cal.samples:
        table.add_row(
            str(s.tasks),
            f"{s.baseline_mib:.0f}",
            f"{s.peak_mib:.0f}",
            f"{s.above_baseline_mib:.0f}",
            f"{s.cpu_s:.2f}",
            f"{s.wall_s:.2f}",
        )
    out.print(table)
    out.print(
        f"per-task peak: [bold]{cal.per_task_mib:.1f} MiB[/bold] (slope over 1/2/4 renders at once); "
        f"CPU per photo: {cal.cpu_s_per_photo:.2f} s; widths {','.join(map(str, cal.widths))}, "
        f"{'/'.join(cal.formats)} "
        f"{f'SSIMULACRA2 {cal.quality_target:g}' if cal.quality_target else f'Q{cal.quality}'}, "
        f"WebP effort {cal.webp_effort}"
    )


def _print_table(
    rows: list[CapacityRow], cal: Calibration, light_mib: int, baseline_mib: int, per_vcpu: int, load: int
) -> None:
    table = Table(
        title=f"request concurrency = max(1, min(floor((memory - {baseline_mib}) / {light_mib}), {per_vcpu} x vCPU))"
    )
    for column in ("memory", "vCPU", "concurrency", "photos/hour per instance", f"instances for {load:,}/h"):
        table.add_column(column, justify="right")
    for row in rows:
        if row.concurrency is None:
            table.add_row(f"{row.memory_mib // 1024} GiB", str(row.vcpu), "-", "Cloud Run: not allowed", "-")
            continue
        table.add_row(
            f"{row.memory_mib // 1024} GiB",
            str(row.vcpu),
            str(row.concurrency),
            f"{row.photos_per_hour:,}",
            str(row.instances_for_load),
        )
    out.print(table)
    out.print(
        "photos/hour: 3600 x min(concurrency, vCPU) / CPU s per photo (render CPU only; the I/O overlaps). "
        f"Terraform: light_render_mib = {light_mib} (measured per concurrent render: {cal.per_task_mib:.0f} MiB)"
    )
