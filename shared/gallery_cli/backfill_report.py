"""What `gallery backfill` prints: a summary table and notes, or one JSON object (`--json`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from gallery_cli.backfill_cursor import Tally
from gallery_cli.backfill_scan import Candidate
from gallery_cli.base import err, out
from gallery_cli.terminal import safe_text

STATE_LABELS: tuple[tuple[str, str], ...] = (
    ("unregistered", "no document"),
    ("older_generation", "document of an older generation"),
    ("spec_outdated", "older spec version"),
    ("stuck", "stuck in processing (lease expired)"),
    ("dead_lettered", "dead-lettered"),
    ("unoptimized", "ready, not optimized with the current settings (--optimize)"),
    ("over_cap", "reached MAX_ATTEMPTS deliveries (--force re-queues)"),
    ("in_progress", "processing right now (left alone)"),
    ("newer", "newer generation registered (left alone)"),
)

RESUME_HINT = "run the same command again to resume"


@dataclass(frozen=True)
class Report:
    """What a backfill run found and did. Counters are over the whole backfill, resumed runs included; `this_run`
    is this run's share."""

    bucket: str
    prefix: str
    topic: str
    spec_version: str
    dry_run: bool
    limit: int | None
    totals: Tally
    this_run: Tally
    items: list[Candidate]
    items_more: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    left_for_next_run: int | None = 0
    """None: not counted, the run stopped before the end of the listing (the next run resumes)."""
    resumed_after: str | None = None
    checkpoint: dict[str, Any] | None = None
    stopped: str | None = None
    signal: str | None = None
    detail: str | None = None
    start_offset: str | None = None
    end_offset: str | None = None

    @property
    def complete(self) -> bool:
        return self.left_for_next_run is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "topic": self.topic or None,
            "spec_version": self.spec_version,
            "dry_run": self.dry_run,
            "found": self.totals.found,
            "already_done": self.totals.states["done"],
            "states": {k: v for k, v in self.totals.states.items() if v},
            "queued": self.totals.queued,
            "this_run": {"found": self.this_run.found, "queued": self.this_run.queued},
            "resumed_after": self.resumed_after,
            "complete": self.complete,
            "stopped": self.stopped,
            "signal": self.signal,
            "left_for_next_run": self.left_for_next_run,
            "checkpoint": self.checkpoint,
            "errors": self.errors,
            "items": [
                {"name": c.name, "generation": c.generation, "photo_id": c.photo_id, "state": c.state}
                for c in self.items
            ],
            "items_truncated": self.items_more,
        }

    def _table(self) -> Table:
        states = self.totals.states
        table = Table("", "objects", show_header=False, box=None)
        table.add_row("found in the bucket", str(self.totals.found))
        table.add_row("already done (ready/failed, current spec)", str(states["done"]))
        for state, label in STATE_LABELS:
            if states[state]:
                table.add_row(label, str(states[state]))
        table.add_row("would queue" if self.dry_run else "queued", str(self.totals.queued))
        if self.errors:
            table.add_row("[red]publish errors[/red]", str(len(self.errors)))
        return table

    def print(self) -> None:
        if self.dry_run:
            for c in self.items:
                out.print(f"would queue {safe_text(c.name)} (generation {c.generation}): {c.state.replace('_', ' ')}")
            if self.items_more:
                out.print(f"… and {self.items_more} more")
        out.print(self._table())
        if self.resumed_after is not None:
            out.print(
                f"this run: {self.this_run.found} found, {self.this_run.queued} queued, after "
                f"{safe_text(self.resumed_after)}",
                highlight=False,
            )
        if self.dry_run and self.left_for_next_run:
            out.print(f"{self.left_for_next_run} more left for the next run (--limit {self.limit})")
        self.print_stop(json_output=False)

    def print_stop(self, *, json_output: bool) -> None:
        """Why the run stopped before the end of the listing and what the next run does (on stderr, but the
        --limit note on stdout with the table), and each publish error."""
        where = safe_text(self.checkpoint["after"]) if self.checkpoint and self.checkpoint.get("after") else None
        if self.stopped == "limit":
            (err if json_output else out).print(
                f"--limit {self.limit} reached: the next run resumes"
                + (f" after {where}" if where else " from the start"),
                highlight=False,
                soft_wrap=True,
            )
        elif self.stopped is not None:
            why = f"stopped by {self.signal}" if self.stopped == "signal" else f"stopped: {safe_text(self.detail)}"
            err.print(
                f"[yellow]{why}"
                + (f"; everything up to {where} is done" if where else "")
                + f": {RESUME_HINT}[/yellow]",
                highlight=False,
                soft_wrap=True,
            )
        for name, reason in sorted(self.errors.items()):
            err.print(f"[red]could not queue {safe_text(name)}:[/red] {safe_text(reason)}", highlight=False)

    def print_spec_note(self) -> None:
        outdated = self.totals.states["spec_outdated"]
        if outdated:
            out.print(
                f"note: {outdated} photo(s) carry another spec version than "
                f"{self.spec_version}; if the function runs other rendition settings than this command sees, they "
                "are acked as duplicates (pass the function's settings through --env-file, or --spec-version)",
                highlight=False,
            )


__all__ = ["RESUME_HINT", "Report"]
