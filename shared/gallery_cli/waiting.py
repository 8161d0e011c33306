"""The tail `backfill` and `import` share: wait for the function with a progress bar, report, choose the exit code."""

from __future__ import annotations

from collections.abc import Sequence

import typer

from gallery.ports import PhotoCatalog
from gallery_cli.base import EXIT_FAILED, EXIT_TIMEOUT, err, out, progress
from gallery_cli.status import Pending, WaitResult, wait_settled
from gallery_cli.terminal import safe_text


def wait_for_function(catalog: PhotoCatalog, items: Sequence[Pending], spec_version: str, timeout: float) -> WaitResult:
    """Poll until every item is ready, failed or superseded (or `timeout` passes), with a progress bar."""
    with progress() as bar:
        task = bar.add_task("waiting for the function", total=len(items))
        return wait_settled(catalog, items, spec_version, timeout=timeout, on_progress=lambda n: bar.advance(task, n))


def report_wait(waited: WaitResult | None, timeout: float, *, as_json: bool) -> None:
    """The human summary of a wait (the JSON output carries `waited.as_dict()` instead)."""
    if waited is None or as_json:
        return
    out.print(f"processed: {waited.ready} ready, {waited.failed} failed, {waited.superseded} superseded")
    if waited.timed_out:
        err.print(f"[yellow]still pending after {timeout:.0f}s: {len(waited.pending or [])}[/yellow]")


def hint_and_exit(waited: WaitResult | None, spec_version: str, *, item_errors: bool) -> None:
    """Warn when the function runs another spec; exit 1 if items failed, 3 if the wait timed out."""
    if waited is not None and (hint := waited.hint(spec_version)):
        err.print(f"[yellow]{safe_text(hint)}[/yellow]", highlight=False)
    if item_errors:
        raise typer.Exit(EXIT_FAILED)
    if waited is not None and waited.timed_out:
        raise typer.Exit(EXIT_TIMEOUT)
