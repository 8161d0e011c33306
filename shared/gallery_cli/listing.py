"""`gallery ls` and `gallery show`: the registered photos and videos, read through the photo catalog.

`ls` says what each item is (`gallery.catalog.media_kind`): a photo, a video and its duration, the still of a
Live Photo, or a Live Photo's video (`live motion`, which the gallery page does not show as a tile of its own).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from gallery.catalog import media_kind
from gallery.model import PhotoStatus
from gallery_cli.base import EnvFileOption, JsonOption, app, err, load_settings, out, preflight
from gallery_cli.resolve import matches, only_match
from gallery_cli.terminal import safe_text


@app.command("ls")
def list_photos(
    status: Annotated[PhotoStatus | None, typer.Option(help="Only photos with this status")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """List registered photos and videos, newest first, with their status, kind and size, and how many have each
    status."""
    from gallery.wiring import build_catalog

    settings = load_settings(env_file)
    preflight("firestore")
    catalog = build_catalog(settings)
    docs = catalog.recent(limit, status)
    if as_json:
        out.print_json(json.dumps(docs, default=str))
        return
    table = Table("photo id", "object", "gen", "status", "kind", "size", "renditions", "error")
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
                    media_kind(doc),
                    size,
                    len(doc.get("renditions") or []),
                    f"{error.get('code', '')}: {error.get('reason', '')}" if error else "",
                ),
            )
        )
    out.print(table)
    counts = catalog.counts()
    err.print(", ".join(f"{n} {s.value}" for s, n in counts.items()) + f" ({sum(counts.values())} photos)")


@app.command()
def show(
    photo: Annotated[
        str, typer.Argument(help="Photo id or object name in the uploads bucket (id:ID / name:NAME if both match)")
    ],
    env_file: EnvFileOption = None,
) -> None:
    """Print one photo's document as JSON."""
    from gallery.wiring import build_catalog

    settings = load_settings(env_file)
    preflight("firestore")
    match = only_match(photo, matches(photo, settings.uploads_bucket, build_catalog(settings).get))
    if match is None:
        err.print(f"[red]no photo {safe_text(repr(photo))}[/red]")
        raise typer.Exit(1)
    out.print_json(json.dumps(match.doc, default=str))
