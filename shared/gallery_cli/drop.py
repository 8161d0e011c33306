"""`gallery drop`: upload photos and videos into the uploads bucket; each upload is a notification and gets
processed."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Annotated, Any

import typer

from gallery.ids import photo_id
from gallery_cli.base import (
    MEDIA_SUFFIXES,
    EnvFileOption,
    JsonOption,
    app,
    err,
    load_settings,
    out,
    preflight,
    progress,
)
from gallery_cli.terminal import visible


def _collect(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise typer.BadParameter(f"{visible(path)} does not exist")
    return files


@app.command()
def drop(
    paths: Annotated[list[Path], typer.Argument(help="Photos and videos, or folders of them")],
    prefix: Annotated[str, typer.Option(help="Object-name prefix in the uploads bucket")] = "",
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload photos and videos into the uploads bucket; each becomes a notification and is processed."""
    from gallery.wiring import storage_client

    settings = load_settings(env_file)
    preflight("storage")
    files = _collect(paths)
    if not files:
        err.print("[yellow]no photos or videos found[/yellow]")
        raise typer.Exit(1)
    bucket = storage_client(settings).bucket(settings.uploads_bucket)
    uploaded: list[dict[str, Any]] = []
    with progress() as bar:
        task = bar.add_task(f"uploading to gs://{settings.uploads_bucket}", total=len(files))
        for file in files:
            base = paths[0] if len(paths) == 1 and paths[0].is_dir() else file.parent
            name = prefix + file.relative_to(base).as_posix()
            blob = bucket.blob(name)
            blob.upload_from_filename(str(file), content_type=mimetypes.guess_type(file.name)[0])
            uploaded.append({"name": name, "generation": blob.generation, "photo_id": photo_id(bucket.name, name)})
            bar.advance(task)
    if as_json:
        out.print_json(json.dumps(uploaded))
    else:
        out.print(f"uploaded {len(uploaded)} file(s) to gs://{settings.uploads_bucket}")
