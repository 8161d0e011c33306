"""`gallery backfill`: process photos that are in the uploads bucket but not (or not currently) registered.

It lists the uploads bucket page by page, reads each page's photo documents in one batch, and for every object
whose current generation has no ``ready``/``failed`` document with the current spec version it publishes exactly
the ``OBJECT_FINALIZE`` notification Cloud Storage would have published, to the bulk lane's topic (``--lane live``
sends it to the uploads topic instead; gallery_cli.lanes). The function then does the work with its normal
generation-aware idempotency, so:

- it never re-triggers itself: it only reads the uploads bucket and Firestore and publishes;
- cost is bounded by ``--rate`` (messages per second), ``--concurrency`` (publishes in flight) and ``--limit``;
- a ``processing`` photo is re-sent only once its delivery's lease has run out, and a photo whose deliveries
  reached MAX_ATTEMPTS only with ``--force`` (which restarts its count first), so a photo that crashes the
  function is not fed to it again;
- it streams: memory does not grow with the bucket (backfill_run), and it keeps a checkpoint (backfill_checkpoint):
  a run that stops (``--limit``, Ctrl-C, SIGTERM, a publish error) is resumed by the next run of the same command
  after the last object up to which every notification was confirmed, so each pending object is published once
  (after a kill, those confirmed since the last checkpoint write go out again; docs/operations.md).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from gallery.events import finalize_notification
from gallery.service import ServiceConfig
from gallery.settings import Settings, topic_path
from gallery_cli.backfill_checkpoint import (
    CheckpointBusyError,
    CheckpointStore,
    CheckpointWriter,
    Claimed,
    Holder,
    Status,
    claim,
    gone,
    this_process,
)
from gallery_cli.backfill_cursor import CheckpointKey, Cursor, Tally
from gallery_cli.backfill_publish import Publisher, PublishResult, RateLimiter, publish_with_progress, publisher_client
from gallery_cli.backfill_report import Report
from gallery_cli.backfill_run import Outcome, Stop, StreamingRun, dry_run, stop_on_signals
from gallery_cli.backfill_scan import SCAN_PAGE, Candidate, Scan, prefetched, scan_pages
from gallery_cli.base import EXIT_FAILED, EnvFileOption, JsonOption, app, err, fail, load_settings, out, preflight
from gallery_cli.base import progress as progress_bar
from gallery_cli.lanes import Lane, LaneOption, NoTopicError, TopicOption, publish_target
from gallery_cli.terminal import safe_text
from gallery_cli.waiting import hint_and_exit, report_wait, wait_for_function

logger = logging.getLogger(__name__)


@app.command()
def backfill(
    prefix: Annotated[str, typer.Option(help="Only objects whose name starts with this")] = "",
    dry_run_: Annotated[bool, typer.Option("--dry-run", help="Only report what would be queued")] = False,
    rate: Annotated[float, typer.Option(min=0, help="Notifications per second (0 = unlimited)")] = 20.0,
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Publishes in flight at once")] = 16,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Queue at most this many (cost cap per run; the next run continues)")
    ] = None,
    lane: LaneOption = "bulk",
    topic: TopicOption = None,
    stale_after: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds after which a 'retrying' document, or one written without a lease, counts as stuck"
        ),
    ] = 600.0,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Also re-queue photos that reached MAX_ATTEMPTS deliveries (restarting their count)"
        ),
    ] = False,
    optimize: Annotated[
        bool,
        typer.Option(
            "--optimize",
            help="Also queue the optimize task of ready photos not optimized at the current OPTIMIZE_* settings",
        ),
    ] = False,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Start from the beginning, ignoring where an unfinished run stopped"),
    ] = False,
    start_offset: Annotated[
        str | None, typer.Option(help="Only objects whose name sorts at or after this (one shard of the bucket)")
    ] = None,
    end_offset: Annotated[str | None, typer.Option(help="Only objects whose name sorts before this")] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait until the queued photos are ready or failed (keeps them all: small runs)"),
    ] = False,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds --wait waits at most")] = 600.0,
    spec_version: Annotated[
        str | None,
        typer.Option(help="Spec version the function runs (default: computed from the RENDITION_* settings seen here)"),
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, max=1000, hidden=True, help="Objects per listing page")] = SCAN_PAGE,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Process photos in the uploads bucket with no ready/failed document for their generation or spec.

    Publishes the same OBJECT_FINALIZE notification Cloud Storage would, so the function does the work: to the
    bulk lane by default, so live uploads never wait behind a backfill (`--lane live` to override). An unfinished
    run (--limit, Ctrl-C, SIGTERM, an error) is resumed by the next run of the same command.
    """
    from gallery.adapters.firestore_checkpoints import FirestoreCheckpoints
    from gallery.wiring import build_catalog, firestore_client, storage_client

    settings = load_settings(env_file)
    try:
        target = publish_target(settings, lane, topic)
    except NoTopicError as exc:
        if not dry_run_:
            fail(str(exc))
        target = ""
    if start_offset is not None and end_offset is not None and end_offset <= start_offset:
        raise typer.BadParameter("must sort after --start-offset", param_hint="--end-offset")
    preflight("storage", "firestore", *(() if dry_run_ else ("pubsub",)))
    config = ServiceConfig.from_settings(settings)
    spec_version = spec_version or config.spec.version
    if optimize and config.optimize is None:
        fail("--optimize needs the optimize pass on (OPTIMIZE=true)")
    optimize_version = config.optimize.version if optimize and config.optimize is not None else None
    scan = Scan(
        bucket=settings.uploads_bucket,
        spec_version=spec_version,
        stale_after_seconds=stale_after,
        max_attempts=settings.max_attempts,
        prefix=prefix,
        force=force,
        optimize_version=optimize_version,
        start_offset=start_offset or None,
        end_offset=end_offset or None,
        page_size=page_size,
    )
    job = Job(settings, scan, target, lane, rate, concurrency, limit, wait)
    catalog = build_catalog(settings)
    storage = storage_client(settings)
    checkpoints = FirestoreCheckpoints(firestore_client(settings))
    if dry_run_:
        report = _dry_run(job, storage, catalog, checkpoints)
        _print(report, None, timeout, as_json)
        return

    me = this_process()
    claimed = _claim(checkpoints, job.key, me, restart)
    outcome, status, saved = _run(job, storage, catalog, checkpoints, me, claimed)
    waited = None
    if wait and outcome.pending:
        waited = wait_for_function(catalog, outcome.pending, spec_version, timeout)
    report = Report(
        **job.header(),
        dry_run=False,
        totals=outcome.totals,
        this_run=outcome.this_run,
        items=outcome.items,
        items_more=outcome.items_more,
        errors=outcome.errors,
        left_for_next_run=0 if outcome.complete else None,
        resumed_after=outcome.resumed_after,
        checkpoint={"id": job.key.id, "status": status if saved else "unsaved", "after": outcome.after},
        stopped=outcome.stopped,
        signal=outcome.signal,
        detail=outcome.detail,
    )
    _print(report, waited, timeout, as_json)
    if outcome.stopped == "signal" and outcome.signal is not None:
        raise typer.Exit(128 + _signal_number(outcome.signal))
    if outcome.stopped == "error" and not outcome.errors:
        raise typer.Exit(EXIT_FAILED)
    hint_and_exit(waited, spec_version, item_errors=bool(outcome.errors))


@dataclass(frozen=True)
class Job:
    """One backfill as the command line asked for it."""

    settings: Settings
    scan: Scan
    target: str
    lane: Lane
    rate: float
    concurrency: int
    limit: int | None
    wait: bool

    @property
    def key(self) -> CheckpointKey:
        s = self.scan
        return CheckpointKey(
            s.bucket, s.prefix, self.target, s.spec_version, s.optimize_version, s.force, s.start_offset, s.end_offset
        )

    def header(self) -> dict[str, Any]:
        """The report's fields that describe the backfill rather than its outcome."""
        s = self.scan
        return {
            "bucket": s.bucket,
            "prefix": s.prefix,
            "topic": self.target,
            "spec_version": s.spec_version,
            "limit": self.limit,
            "start_offset": s.start_offset,
            "end_offset": s.end_offset,
        }


def _signal_number(name: str) -> int:
    import signal

    return int(signal.Signals[name])


def _print(report: Report, waited: Any, timeout: float, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps({**report.as_dict(), **({"wait": waited.as_dict()} if waited else {})}))
        report.print_stop(json_output=True)
        return
    report.print()
    report_wait(waited, timeout, as_json=False)
    report.print_spec_note()


def _claim(checkpoints: CheckpointStore, key: CheckpointKey, me: Holder, restart: bool) -> Claimed:
    """Take the backfill's checkpoint for this run (exit 2 if another run holds it) and say where it starts."""
    holder: list[Claimed] = []

    def change(doc: dict[str, Any] | None) -> dict[str, Any]:
        holder[:] = [claim(doc, key, me, datetime.now(UTC), restart=restart, is_gone=lambda h: gone(h, me))]
        return holder[0].document

    try:
        checkpoints.update(key.id, change)
    except CheckpointBusyError as exc:
        fail(f"{exc}; wait for it to finish, or stop it (Ctrl-C / SIGTERM) and run this again")
    except Exception as exc:
        fail(f"cannot write the backfill checkpoint ({key.id}): {type(exc).__name__}: {exc}")
    claimed = holder[0]
    if claimed.took_over is not None:
        gone_run = safe_text(claimed.took_over.describe())
        err.print(f"the previous run ({gone_run}) is gone; taking its checkpoint over", highlight=False)
    if claimed.resumed and claimed.after is not None:
        err.print(
            f"resuming after {safe_text(claimed.after)}: {claimed.counters.found} found, "
            f"{claimed.counters.queued} queued so far (--restart starts over)",
            highlight=False,
            soft_wrap=True,
        )
    return claimed


def _run(
    job: Job, storage: Any, catalog: Any, checkpoints: CheckpointStore, me: Holder, claimed: Claimed
) -> tuple[Outcome, Status, bool]:
    """Scan and publish until the listing ends or the run is stopped; write the checkpoint's final state."""
    scan = job.scan
    reset = None
    if scan.force:
        from gallery.wiring import build_registry

        registry = build_registry(job.settings)

        def reset(c: Candidate) -> bool:
            return registry.reset_attempts(c.photo_id, c.generation)

    client = publisher_client(job.concurrency)
    stop = Stop()
    publisher = Publisher(
        client, job.target, lane=job.lane, rate=job.rate, concurrency=job.concurrency, stop=stop.event
    )
    try:
        with stop_on_signals(stop), progress_bar() as bar:
            scanned = bar.add_task("scanned", total=None)
            queued = bar.add_task("queued", total=job.limit)
            run = StreamingRun(
                scan,
                Cursor(claimed.after, claimed.counters),
                publisher,
                stop,
                limit=job.limit,
                reset=reset,
                keep_pending=job.wait,
                on_page=lambda n: bar.advance(scanned, n),
                on_queued=lambda: bar.advance(queued),
            )
            writer = CheckpointWriter(checkpoints, job.key.id, me, run.snapshot)
            writer.start(claimed.after)
            pages = prefetched(scan_pages(storage, catalog, scan, after=claimed.after), stop=stop.event)
            outcome = run.run(pages, writer)
            status: Status = "done" if outcome.complete else "stopped"
            saved = writer.close(status)
    finally:
        client.stop()
    if not saved:
        problem = f"could not write the checkpoint: {writer.error}"
        if outcome.stopped is None:
            outcome.stopped, outcome.detail = "error", problem
        else:
            err.print(f"[yellow]{safe_text(problem)}[/yellow]", highlight=False)
    logger.info("backfill %s: %s, checkpoint %s after %r", job.key.id, outcome.totals.as_dict(), status, outcome.after)
    return outcome, status, saved


def _dry_run(job: Job, storage: Any, catalog: Any, checkpoints: CheckpointStore) -> Report:
    """Classify everything and count what would be queued; reads (never writes) the checkpoint to mention it."""
    found = _peek(checkpoints, job.key if job.target else None)
    scan = job.scan
    with progress_bar(transient=True) as bar:
        task = bar.add_task("scanning", total=None)
        try:
            result = dry_run(
                scan_pages(storage, catalog, scan), scan, limit=job.limit, on_page=lambda n: bar.advance(task, n)
            )
        except Exception as exc:
            fail(f"could not scan gs://{scan.bucket}: {type(exc).__name__}: {exc}")
    totals = result.totals.copy()
    totals.queued = result.would_queue
    return Report(
        **job.header(),
        dry_run=True,
        totals=totals,
        this_run=totals,
        items=result.items,
        items_more=result.items_more,
        left_for_next_run=result.left_for_next_run,
        checkpoint=found,
    )


def _peek(checkpoints: CheckpointStore, key: CheckpointKey | None) -> dict[str, Any] | None:
    """The checkpoint of this backfill as a dry run reports it, with a note on stderr when a run is unfinished."""
    if key is None:
        return None
    try:
        doc = checkpoints.get(key.id)
    except Exception as exc:
        logger.debug("could not read the backfill checkpoint: %s", exc)
        return None
    if doc is None:
        return None
    status, after = doc.get("status"), doc.get("after")
    counters = Tally.from_dict(doc.get("counters"))
    if status != "done" and after:
        err.print(
            f"an unfinished run of this backfill would resume after {safe_text(after)} ({counters.found} found, "
            f"{counters.queued} queued so far); this dry run lists everything",
            highlight=False,
            soft_wrap=True,
        )
    return {"id": key.id, "status": status, "after": after}


__all__ = [
    "Candidate",
    "PublishResult",
    "RateLimiter",
    "backfill",
    "finalize_notification",
    "publish_with_progress",
    "topic_path",
]
