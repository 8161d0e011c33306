"""`gallery prune`: delete the renditions the optimize pass superseded, once their grace period is over.

On Google Cloud the renditions bucket's lifecycle rule does this by itself (Terraform: ``days_since_custom_time``
= SUPERSEDED_GRACE_DAYS); this command does the same on a bucket without the rule, such as the local stack's. A
superseded rendition carries the time it was superseded as its ``customTime`` (set by the function when the
optimize swap landed); nothing else in the bucket has one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from gallery.adapters.gcs import GcsRenditionStore
from gallery.wiring import storage_client
from gallery_cli.base import EnvFileOption, JsonOption, app, load_settings, out, preflight


@app.command()
def prune(
    older_than_days: Annotated[
        float | None,
        typer.Option(min=0, help="Days since a rendition was superseded (default: SUPERSEDED_GRACE_DAYS)"),
    ] = None,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete renditions superseded by the optimize pass more than the grace period ago."""
    settings = load_settings(env_file)
    preflight("storage")
    days = settings.superseded_grace_days if older_than_days is None else older_than_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    store = GcsRenditionStore(storage_client(settings), settings.renditions_bucket)
    deleted = store.prune_superseded(cutoff)
    if as_json:
        out.print_json(json.dumps({"deleted": deleted, "older_than_days": days, "bucket": settings.renditions_bucket}))
    else:
        out.print(f"deleted {deleted} superseded rendition(s) from gs://{settings.renditions_bucket} ({days:g} days)")
