"""`gallery failures` lists photos that could not be rendered; `gallery retry` re-queues them after a fix.

A retry marks the failed document `retrying` (a `failed` document of the same generation would otherwise be
acknowledged as already done) and publishes the OBJECT_FINALIZE notification Cloud Storage would have
published for the object's current generation, so the function renders it again through the normal path. One
named photo goes down the live lane (someone is waiting for it); more (several names, `--all`, `--code`) go
down the bulk lane, so they never delay live uploads; `--lane` overrides either (gallery_cli.lanes).
A photo whose deliveries reached MAX_ATTEMPTS (`too_many_attempts`, or a dead letter after many attempts) is
only re-queued with `--force`, which restarts its count: it may be a photo that crashes the function.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from gallery.catalog import Failure
from gallery.events import finalize_notification
from gallery.ports import PhotoCatalog
from gallery.registry_rules import over_cap
from gallery.settings import Settings
from gallery_cli.base import EXIT_FAILED, EnvFileOption, JsonOption, app, err, fail, load_settings, out, preflight
from gallery_cli.lanes import Lane, NoTopicError, TopicOption, publish_target, retry_lane
from gallery_cli.resolve import matches, only_match
from gallery_cli.terminal import safe_text

CodeOption = Annotated[str | None, typer.Option("--code", help="Only photos that failed with this error code")]


@app.command()
def failures(
    code: CodeOption = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most this many")] = None,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """List photos whose processing failed: id, object, error code, reason and when."""
    from gallery.wiring import build_catalog

    settings = load_settings(env_file)
    preflight("firestore")
    rows = build_catalog(settings).failures(code, limit)
    if as_json:
        out.print_json(json.dumps([asdict(r) for r in rows]))
        return
    table = Table("photo id", "object", "gen", "code", "reason", "when")
    for r in rows:
        table.add_row(*map(safe_text, (r.photo_id, r.name, r.generation, r.code, r.reason, r.when)))
    out.print(table)
    err.print(f"{len(rows)} failed photo(s)")


def _targets(catalog: PhotoCatalog, settings: Settings, photos: Iterable[str], code: str | None) -> list[Failure]:
    everything = catalog.failures(code)
    wanted = list(photos)
    if not wanted:
        return everything
    by_id = {f.photo_id: f for f in everything}
    docs = {f.photo_id: {"source": {"name": f.name}} for f in everything}
    picked: list[Failure] = []
    for item in wanted:  # a photo id, or an object name in the uploads bucket; refused if it names two
        match = only_match(item, matches(item, settings.uploads_bucket, docs.get))
        if match is None:
            fail(f"{item!r} is not a failed photo" + (f" with code {code}" if code else ""), EXIT_FAILED)
        picked.append(by_id[match.photo_id])
    return picked


@app.command()
def retry(
    photos: Annotated[
        list[str] | None,
        typer.Argument(help="Photo ids or object names, id:ID / name:NAME if both match (default: see --all)"),
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all", help="Retry every failed photo (with --code: of that code)")
    ] = False,
    code: CodeOption = None,
    lane: Annotated[
        Lane | None,
        typer.Option(
            "--lane",
            case_sensitive=False,
            help="live (PUBSUB_TOPIC) or bulk (PUBSUB_BULK_TOPIC); default: live for one named photo, else bulk",
        ),
    ] = None,
    topic: TopicOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Also re-queue photos that reached MAX_ATTEMPTS deliveries (restarting the count)"
        ),
    ] = False,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-queue failed photos (after fixing a limit, the engine or the file's permissions)."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    from gallery.wiring import build_catalog, build_registry, storage_client

    if not photos and not all_failed and not code:
        fail("name the photos to retry, or pass --all (optionally with --code CODE)")
    settings = load_settings(env_file)
    chosen = lane or retry_lane(len(photos or []), every_failed=all_failed or bool(code))
    try:
        target = publish_target(settings, chosen, topic)
    except NoTopicError as exc:
        fail(str(exc))
    preflight("storage", "firestore", "pubsub")
    todo = _targets(build_catalog(settings), settings, photos or [], code)
    registry, storage = build_registry(settings), storage_client(settings)
    publisher = pubsub_v1.PublisherClient()
    results: list[dict[str, Any]] = []
    try:
        for f in todo:
            blob = storage.bucket(f.bucket).get_blob(f.name, generation=f.generation)
            if blob is None:
                results.append({**asdict(f), "queued": False, "note": "that generation is no longer in the bucket"})
                continue
            if not force and over_cap({"attempts": f.attempts}, settings.max_attempts):
                note = f"{f.attempts} deliveries reached MAX_ATTEMPTS={settings.max_attempts}; --force re-queues it"
                results.append({**asdict(f), "queued": False, "note": note})
                continue
            if not registry.mark_retrying(f.photo_id, f.generation, max_attempts=settings.max_attempts, force=force):
                results.append({**asdict(f), "queued": False, "note": "the document changed meanwhile"})
                continue
            resource = {"bucket": f.bucket, "name": f.name, "generation": str(f.generation)}
            resource.update({k: str(v) for k, v in (("contentType", blob.content_type), ("size", blob.size)) if v})
            data, attributes = finalize_notification(resource, chosen)
            publisher.publish(target, data, **attributes).result(timeout=30)
            results.append({**asdict(f), "queued": True, "note": ""})
    finally:
        publisher.stop()
    queued = sum(1 for r in results if r["queued"])
    if as_json:
        out.print_json(json.dumps(results))
    else:
        for r in results:
            status = "queued" if r["queued"] else f"skipped: {r['note']}"
            line = f"{r['photo_id']}  {r['name']}  ({r['code']})  {status}"
            out.print(safe_text(line), highlight=False)
        err.print(f"{queued} of {len(results)} failed photo(s) re-queued")
    if queued < len(results):
        raise typer.Exit(EXIT_FAILED)


__all__ = ["failures", "retry"]
