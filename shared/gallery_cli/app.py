"""`gallery`: drop photos in, list and inspect what is registered, render locally with the function's engine."""

from __future__ import annotations

import json
import mimetypes
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from gallery.engine import estimate_render
from gallery.engine import render as render_photo
from gallery.errors import GalleryError
from gallery.ids import photo_id
from gallery.service import ServiceConfig
from gallery.settings import Settings
from gallery_cli.base import PHOTO_SUFFIXES, EnvFileOption, JsonOption, app, err, load_settings, out, preflight
from gallery_cli.base import progress as _base_progress
from gallery_cli.peak import measure_render
from gallery_cli.presets import parse_meta, variant_request, write_result
from gallery_cli.resolve import matches, only_match
from gallery_cli.terminal import safe_text, visible

__all__ = ["PHOTO_SUFFIXES", "EnvFileOption", "JsonOption", "app", "err", "main", "out"]


def _settings(env_file: Path | None, *services: str) -> Settings:
    """Settings for a command; exits 2 if the local stack they point at is down (`services` to check)."""
    settings = load_settings(env_file)
    preflight(*services)
    return settings


def _collect(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise typer.BadParameter(f"{visible(path)} does not exist")
    return files


def _progress() -> Progress:
    return _base_progress()


@app.command()
def drop(
    paths: Annotated[list[Path], typer.Argument(help="Photos or folders of photos")],
    prefix: Annotated[str, typer.Option(help="Object-name prefix in the uploads bucket")] = "",
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload photos into the uploads bucket; each becomes a notification and is processed."""
    from gallery.wiring import storage_client

    settings = _settings(env_file, "storage")
    files = _collect(paths)
    if not files:
        err.print("[yellow]no photos found[/yellow]")
        raise typer.Exit(1)
    bucket = storage_client(settings).bucket(settings.uploads_bucket)
    uploaded: list[dict[str, Any]] = []
    with _progress() as progress:
        task = progress.add_task(f"uploading to gs://{settings.uploads_bucket}", total=len(files))
        for file in files:
            base = paths[0] if len(paths) == 1 and paths[0].is_dir() else file.parent
            name = prefix + file.relative_to(base).as_posix()
            blob = bucket.blob(name)
            blob.upload_from_filename(str(file), content_type=mimetypes.guess_type(file.name)[0])
            uploaded.append({"name": name, "generation": blob.generation, "photo_id": photo_id(bucket.name, name)})
            progress.advance(task)
    if as_json:
        out.print_json(json.dumps(uploaded))
    else:
        out.print(f"uploaded {len(uploaded)} photo(s) to gs://{settings.uploads_bucket}")


def _registry(settings: Settings) -> Any:
    from gallery.wiring import build_registry

    return build_registry(settings)


@app.command("ls")
def list_photos(
    status: Annotated[str | None, typer.Option(help="Only photos with this status")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """List registered photos with their status and size."""
    from gallery.wiring import firestore_client

    settings = _settings(env_file, "firestore")
    query: Any = firestore_client(settings).collection(settings.photos_collection)
    if status:
        query = query.where("status", "==", status)
    docs = [d.to_dict() for d in query.limit(limit).stream()]
    if as_json:
        out.print_json(json.dumps(docs, default=str))
        return
    table = Table("photo id", "object", "gen", "status", "size", "renditions", "error")
    for doc in docs:
        source = doc.get("source") or {}
        error = doc.get("error") or {}
        size = f"{doc['width']}x{doc['height']}" if doc.get("width") else ""
        table.add_row(
            *map(
                safe_text,
                (
                    doc.get("photo_id", ""),
                    source.get("name", ""),
                    source.get("generation", ""),
                    doc.get("status", ""),
                    size,
                    len(doc.get("renditions") or []),
                    f"{error.get('code', '')}: {error.get('reason', '')}" if error else "",
                ),
            )
        )
    out.print(table)


@app.command()
def show(
    photo: Annotated[
        str, typer.Argument(help="Photo id or object name in the uploads bucket (id:ID / name:NAME if both match)")
    ],
    env_file: EnvFileOption = None,
) -> None:
    """Print one photo's document as JSON."""
    settings = _settings(env_file, "firestore")
    registry = _registry(settings)
    match = only_match(photo, matches(photo, settings.uploads_bucket, registry.get))
    if match is None:
        err.print(f"[red]no photo {safe_text(repr(photo))}[/red]")
        raise typer.Exit(1)
    out.print_json(json.dumps(match.doc, default=str))


@app.command()
def render(
    files: Annotated[list[Path], typer.Argument(help="Photos to render", exists=True, dir_okay=False)],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the renditions")] = Path("renditions"),
    presets: Annotated[
        Path | None, typer.Option("--presets", help="Presets file (default: the settings' presets)", dir_okay=False)
    ] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Custom metadata KEY=VALUE, repeatable")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Object name the presets' globs match")] = None,
    as_json: JsonOption = False,
    keep_wide_gamut: Annotated[
        bool | None,
        typer.Option(
            "--keep-wide-gamut/--srgb",
            help="Keep wide-gamut photos Display P3 (tagged), or convert everything to sRGB; default: KEEP_WIDE_GAMUT",
        ),
    ] = None,
) -> None:
    """Render photos locally with exactly the engine and settings the function uses, plus preset variants.

    Each file's estimated peak memory (from its header, as the function admits renders) and measured peak (its
    renditions rendered again in a fresh process: MiB above an idle, warmed-up engine) are reported with it."""
    settings = Settings()
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
        measured = measure_render(file, spec, config.limits)
        results.append(
            {
                "file": str(file),
                "width": result.width,
                "height": result.height,
                "render_ms": result.render_ms,
                **written,
                "estimate_mib": estimate.total_mib,
                "peak_mib": measured.peak_mib,
                "estimate": estimate.as_dict(),
            }
        )
        if not as_json:
            out.print(
                f"{safe_text(file)}: {result.width}x{result.height}, {len(result.renditions)} renditions, "
                f"{len(result.variants)} variants, {result.render_ms} ms, "
                f"memory {measured.peak_mib:.0f} MiB (estimated {estimate.total_mib} MiB)"
            )
    if as_json:
        out.print_json(json.dumps(results))
    if failed:
        raise typer.Exit(1)


# Command modules define their commands on the shared `app` (gallery_cli.base): one import line registers one.
from gallery_cli import backfill as _backfill  # noqa: E402, F401
from gallery_cli import calibrate as _calibrate  # noqa: E402, F401
from gallery_cli import failures as _failures  # noqa: E402, F401
from gallery_cli import s3import as _s3import  # noqa: E402, F401


def main() -> None:
    try:
        app()
    except GalleryError as exc:
        err.print(f"[red]{safe_text(exc.code)}: {safe_text(exc.reason)}[/red]")
        sys.exit(1)
