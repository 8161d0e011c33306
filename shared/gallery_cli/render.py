"""`gallery render`: render photos locally with exactly the engine and settings the function uses."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from gallery.engine import estimate_render
from gallery.engine import render as render_photo
from gallery.errors import GalleryError
from gallery.service import ServiceConfig
from gallery_cli.base import EnvFileOption, JsonOption, app, err, load_settings, out
from gallery_cli.peak import measure_render
from gallery_cli.presets import parse_meta, variant_request, write_result
from gallery_cli.terminal import safe_text


@app.command()
def render(
    files: Annotated[list[Path], typer.Argument(help="Photos to render", exists=True, dir_okay=False)],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the renditions")] = Path("renditions"),
    presets: Annotated[
        Path | None, typer.Option("--presets", help="Presets file (default: the settings' presets)", dir_okay=False)
    ] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Custom metadata KEY=VALUE, repeatable")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Object name the presets' globs match")] = None,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
    keep_wide_gamut: Annotated[
        bool | None,
        typer.Option(
            "--keep-wide-gamut/--srgb",
            help="Keep wide-gamut photos Display P3 (tagged), or convert everything to sRGB; default: KEEP_WIDE_GAMUT",
        ),
    ] = None,
    measure_peak: Annotated[
        bool,
        typer.Option(
            "--measure-peak",
            help="Also measure each photo's peak memory: its renditions rendered a second time in a fresh process",
        ),
    ] = False,
) -> None:
    """Render photos locally with exactly the engine and settings the function uses, plus preset variants.

    Each file's estimated peak memory (from its header, as the function admits renders) is reported with it; with
    `--measure-peak` also its measured peak (the renditions rendered again in a fresh process: MiB above an idle,
    warmed-up engine), which doubles the cost of the command."""
    settings = load_settings(env_file)
    config = ServiceConfig.from_settings(settings)
    spec = config.spec if keep_wide_gamut is None else replace(config.spec, keep_wide_gamut=keep_wide_gamut)
    variants = variant_request(presets, config.presets, settings.fonts_dir, name, parse_meta(meta or []))
    results: list[dict[str, Any]] = []
    failed = 0
    for file in files:
        data = file.read_bytes()
        try:
            estimate = estimate_render(data, spec, config.limits)
            result = render_photo(data, spec, config.limits, variants)
        except GalleryError as exc:
            failed += 1
            results.append({"file": str(file), "error": {"code": exc.code, "reason": exc.reason}})
            err.print(f"[red]{safe_text(file)}: {safe_text(exc.code)}: {safe_text(exc.reason)}[/red]")
            continue
        written = write_result(result, out_dir / file.stem)
        peak_mib = measure_render(file, spec, config.limits).peak_mib if measure_peak else None
        results.append(
            {
                "file": str(file),
                "width": result.width,
                "height": result.height,
                "render_ms": result.render_ms,
                **written,
                "estimate_mib": estimate.total_mib,
                "peak_mib": peak_mib,
                "estimate": estimate.as_dict(),
            }
        )
        if not as_json:
            memory = f"estimated {estimate.total_mib} MiB"
            if peak_mib is not None:
                memory = f"{peak_mib:.0f} MiB ({memory})"
            out.print(
                f"{safe_text(file)}: {result.width}x{result.height}, {len(result.renditions)} renditions, "
                f"{len(result.variants)} variants, {result.render_ms} ms, memory {memory}"
            )
    if as_json:
        out.print_json(json.dumps(results))
    if failed:
        raise typer.Exit(1)
