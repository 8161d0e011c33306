"""`gallery backfill`: process photos that are in the uploads bucket but not (or not currently) registered.

It lists the uploads bucket, reads the photo documents in batches, and for every object whose current
generation has no ``ready``/``failed`` document with the current spec version it publishes exactly the
``OBJECT_FINALIZE`` notification Cloud Storage would have published, to the bulk lane's topic (``--lane live``
sends it to the uploads topic instead; gallery_cli.lanes). The function then does the work with its normal
generation-aware idempotency, so:

- re-running only re-sends what is still not done (resumable, idempotent);
- it never re-triggers itself: it only reads the uploads bucket and Firestore and publishes;
- cost is bounded by ``--rate`` (messages per second), ``--concurrency`` (publishes in flight) and ``--limit``;
- a ``processing`` photo is re-sent only once its delivery's lease has run out, and a photo whose deliveries
  reached MAX_ATTEMPTS only with ``--force`` (which restarts its count first), so a photo that crashes the
  function is not fed to it again.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from gallery.events import finalize_notification
from gallery.ids import photo_id
from gallery.model import OPTIMIZE_TASK, TASK_ATTRIBUTE
from gallery.optimize_plan import OptimizeDecision, optimize_decision
from gallery.ports import PhotoCatalog
from gallery.service import ServiceConfig
from gallery.settings import Settings, topic_path
from gallery_cli.base import (
    EnvFileOption,
    JsonOption,
    app,
    err,
    fail,
    load_settings,
    out,
    preflight,
    progress,
)
from gallery_cli.lanes import Lane, LaneOption, NoTopicError, TopicOption, publish_target
from gallery_cli.status import FORCED_STATES, OPTIMIZE_STATES, PENDING_STATES, Pending, State, classify
from gallery_cli.terminal import safe_text
from gallery_cli.waiting import hint_and_exit, report_wait, wait_for_function

SCAN_PAGE = 500


class RateLimiter:
    """Paces calls to at most `rate` per second (no bursts); `rate` <= 0 means unlimited."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._next = clock()

    def delay(self) -> float:
        """Seconds to wait before the next call is allowed, reserving its slot."""
        now = self._clock()
        wait = max(0.0, self._next - now)
        self._next = max(self._next, now) + self._interval
        return wait

    def wait(self) -> None:
        pause = self.delay()
        if pause > 0:
            time.sleep(pause)


@dataclass(frozen=True)
class Candidate:
    name: str
    generation: int
    photo_id: str
    state: State
    resource: dict[str, Any] = field(repr=False, compare=False)

    @property
    def task(self) -> str | None:
        """The follow-up task its message asks for (the optimize task of an unoptimized photo), or None."""
        return OPTIMIZE_TASK if self.state in OPTIMIZE_STATES else None


@dataclass
class Plan:
    found: int = 0
    states: Counter[str] = field(default_factory=Counter)
    todo: list[Candidate] = field(default_factory=list)


def _resource(blob: Any) -> dict[str, Any]:
    props = getattr(blob, "_properties", None)
    if isinstance(props, dict) and props.get("generation"):
        return dict(props)
    return {
        "kind": "storage#object",
        "bucket": blob.bucket.name,
        "name": blob.name,
        "generation": str(blob.generation),
        "contentType": blob.content_type,
        "size": str(blob.size),
        "metadata": dict(getattr(blob, "metadata", None) or {}),  # presets may be chosen by custom metadata
    }


def scan(
    storage: Any,
    catalog: PhotoCatalog,
    settings: Settings,
    spec_version: str,
    *,
    prefix: str,
    stale_after_seconds: float,
    force: bool = False,
    optimize_version: str | None = None,
    on_page: Callable[[int], None] = lambda _n: None,
) -> Plan:
    """List the uploads bucket under `prefix` and classify every object against its document; with
    `optimize_version`, a ready photo not optimized at that version is `unoptimized` (its optimize task is queued)."""
    plan = Plan()
    wanted = PENDING_STATES | FORCED_STATES if force else PENDING_STATES
    if optimize_version is not None:
        wanted = wanted | OPTIMIZE_STATES
    now = datetime.now(UTC)
    blobs = storage.list_blobs(settings.uploads_bucket, prefix=prefix or None, page_size=SCAN_PAGE)
    for page in blobs.pages:
        listed = [b for b in page if b.generation is not None]
        ids = [photo_id(settings.uploads_bucket, b.name) for b in listed]
        docs = catalog.get_many(ids)
        for blob, pid in zip(listed, ids, strict=True):
            generation = int(blob.generation)
            state = classify(
                docs.get(pid),
                generation,
                spec_version,
                now=now,
                stale_after_seconds=stale_after_seconds,
                max_attempts=settings.max_attempts,
            )
            if state == "done" and optimize_version is not None:
                doc = docs.get(pid)
                if optimize_decision(doc, generation, optimize_version) is OptimizeDecision.PROCEED:
                    state = "unoptimized"
            plan.states[state] += 1
            if state in wanted:
                plan.todo.append(Candidate(blob.name, generation, pid, state, _resource(blob)))
        plan.found += len(listed)
        on_page(len(listed))
    return plan


@dataclass
class PublishResult:
    queued: list[Candidate] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def publish_all(
    publisher: Any,
    topic: str,
    candidates: list[Candidate],
    *,
    lane: Lane,
    rate: float,
    concurrency: int,
    on_done: Callable[[], None] = lambda: None,
) -> PublishResult:
    """Publish one finalize notification per candidate, paced by `rate` with at most `concurrency` in flight."""
    limiter = RateLimiter(rate)
    slots = threading.BoundedSemaphore(concurrency)
    lock = threading.Lock()
    result = PublishResult()
    futures = []
    for candidate in candidates:
        limiter.wait()
        slots.acquire()
        task = {TASK_ATTRIBUTE: candidate.task} if candidate.task else {}
        data, attributes = finalize_notification(candidate.resource, lane, **task)
        try:
            future = publisher.publish(topic, data, **attributes)
        except Exception as exc:
            slots.release()
            result.errors[candidate.name] = str(exc)
            on_done()
            continue

        def settle(fut: Any, candidate: Candidate = candidate) -> None:
            try:
                fut.result()
            except Exception as exc:
                with lock:
                    result.errors[candidate.name] = f"{type(exc).__name__}: {exc}"
            else:
                with lock:
                    result.queued.append(candidate)
            finally:
                slots.release()
                on_done()

        future.add_done_callback(settle)
        futures.append(future)
    for future in futures:
        try:
            future.result(timeout=120)
        except Exception:  # recorded by the callback
            continue
    return result


def _reset_counts(settings: Settings, todo: list[Candidate], result: PublishResult) -> list[Candidate]:
    """Restart the delivery count of the photos past their cap (--force); the rest go as they are."""
    from gallery.wiring import build_registry

    registry = build_registry(settings)
    kept: list[Candidate] = []
    for candidate in todo:
        if candidate.state in FORCED_STATES and not registry.reset_attempts(candidate.photo_id, candidate.generation):
            result.errors[candidate.name] = "the document changed meanwhile; run again"
            continue
        kept.append(candidate)
    return kept


def _summary_table(plan: Plan, queued: int, dry_run: bool, errors: int) -> Table:
    table = Table("", "objects", show_header=False, box=None)
    table.add_row("found in the bucket", str(plan.found))
    table.add_row("already done (ready/failed, current spec)", str(plan.states["done"]))
    for state, label in (
        ("unregistered", "no document"),
        ("older_generation", "document of an older generation"),
        ("spec_outdated", "older spec version"),
        ("stuck", "stuck in processing (lease expired)"),
        ("dead_lettered", "dead-lettered"),
        ("unoptimized", "ready, not optimized with the current settings (--optimize)"),
        ("over_cap", "reached MAX_ATTEMPTS deliveries (--force re-queues)"),
        ("in_progress", "processing right now (left alone)"),
        ("newer", "newer generation registered (left alone)"),
    ):
        if plan.states[state]:
            table.add_row(label, str(plan.states[state]))
    table.add_row("would queue" if dry_run else "queued", str(queued))
    if errors:
        table.add_row("[red]publish errors[/red]", str(errors))
    return table


@app.command()
def backfill(
    prefix: Annotated[str, typer.Option(help="Only objects whose name starts with this")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be queued")] = False,
    rate: Annotated[float, typer.Option(min=0, help="Notifications per second (0 = unlimited)")] = 20.0,
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Publishes in flight at once")] = 16,
    limit: Annotated[int | None, typer.Option(min=1, help="Queue at most this many (cost cap per run)")] = None,
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
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the queued photos are ready or failed")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds --wait waits at most")] = 600.0,
    spec_version: Annotated[
        str | None,
        typer.Option(help="Spec version the function runs (default: computed from the RENDITION_* settings seen here)"),
    ] = None,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Process photos in the uploads bucket with no ready/failed document for their generation or spec.

    Publishes the same OBJECT_FINALIZE notification Cloud Storage would, so the function does the work: to the
    bulk lane by default, so live uploads never wait behind a backfill (`--lane live` to override).
    """
    from gallery.wiring import build_catalog, storage_client

    settings = load_settings(env_file)
    try:
        target = publish_target(settings, lane, topic)
    except NoTopicError as exc:
        if not dry_run:
            fail(str(exc))
        target = ""
    preflight("storage", "firestore", *(() if dry_run else ("pubsub",)))
    config = ServiceConfig.from_settings(settings)
    spec_version = spec_version or config.spec.version
    if optimize and config.optimize is None:
        fail("--optimize needs the optimize pass on (OPTIMIZE=true)")
    optimize_version = config.optimize.version if optimize and config.optimize is not None else None
    catalog = build_catalog(settings)
    storage = storage_client(settings)
    plan = _scan(storage, catalog, settings, spec_version, prefix, stale_after, force, optimize_version)
    todo = plan.todo[:limit] if limit else plan.todo
    result = PublishResult()
    if not dry_run and force:
        todo = _reset_counts(settings, todo, result)
    if not dry_run and todo:
        result = publish_with_progress(target, lane, todo, rate, concurrency, result)
    waited = None
    if wait and result.queued:
        pending = [Pending(c.photo_id, c.generation, c.name) for c in result.queued]
        waited = wait_for_function(catalog, pending, spec_version, timeout)
    report = Report(settings.uploads_bucket, prefix, target, spec_version, dry_run, limit, plan, todo, result)
    if as_json:
        out.print_json(json.dumps({**report.as_dict(), **({"wait": waited.as_dict()} if waited else {})}))
    else:
        report.print()
        report_wait(waited, timeout, as_json=False)
        report.print_spec_note()
    hint_and_exit(waited, spec_version, item_errors=bool(result.errors))


def _scan(
    storage: Any,
    catalog: PhotoCatalog,
    settings: Settings,
    spec_version: str,
    prefix: str,
    stale_after: float,
    force: bool,
    optimize_version: str | None = None,
) -> Plan:
    with progress(transient=True) as bar:
        task = bar.add_task("scanning", total=None)
        try:
            return scan(
                storage,
                catalog,
                settings,
                spec_version,
                prefix=prefix,
                stale_after_seconds=stale_after,
                force=force,
                optimize_version=optimize_version,
                on_page=lambda n: bar.advance(task, n),
            )
        except Exception as exc:
            fail(f"could not scan gs://{settings.uploads_bucket}: {type(exc).__name__}: {exc}")


def publish_with_progress(
    target: str, lane: Lane, todo: list[Candidate], rate: float, concurrency: int, before: PublishResult
) -> PublishResult:
    """Publish `todo` to `target` (marked as queued on `lane`) with a progress bar; errors already in `before`
    (from resetting counts) are kept."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    try:
        with progress() as bar:
            task = bar.add_task("queueing", total=len(todo))
            result = publish_all(
                publisher,
                target,
                todo,
                lane=lane,
                rate=rate,
                concurrency=concurrency,
                on_done=lambda: bar.advance(task),
            )
            result.errors = {**before.errors, **result.errors}
            return result
    finally:
        publisher.stop()


@dataclass(frozen=True)
class Report:
    """What a backfill run found and did, as a table and notes or as JSON."""

    bucket: str
    prefix: str
    topic: str
    spec_version: str
    dry_run: bool
    limit: int | None
    plan: Plan
    todo: list[Candidate]
    result: PublishResult

    @property
    def queued(self) -> int:
        return len(self.todo) if self.dry_run else len(self.result.queued)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "topic": self.topic or None,
            "spec_version": self.spec_version,
            "dry_run": self.dry_run,
            "found": self.plan.found,
            "already_done": self.plan.states["done"],
            "states": dict(self.plan.states),
            "queued": self.queued,
            "left_for_next_run": len(self.plan.todo) - len(self.todo),
            "errors": self.result.errors,
            "items": [
                {"name": c.name, "generation": c.generation, "photo_id": c.photo_id, "state": c.state}
                for c in (self.todo if self.dry_run else self.result.queued)
            ],
        }

    def print(self) -> None:
        if self.dry_run:
            for c in self.todo:
                out.print(f"would queue {safe_text(c.name)} (generation {c.generation}): {c.state.replace('_', ' ')}")
        out.print(_summary_table(self.plan, self.queued, self.dry_run, len(self.result.errors)))
        if len(self.plan.todo) > len(self.todo):
            out.print(f"{len(self.plan.todo) - len(self.todo)} more left for the next run (--limit {self.limit})")
        for name, reason in sorted(self.result.errors.items()):
            err.print(f"[red]could not queue {safe_text(name)}:[/red] {safe_text(reason)}", highlight=False)

    def print_spec_note(self) -> None:
        if self.plan.states["spec_outdated"]:
            out.print(
                f"note: {self.plan.states['spec_outdated']} photo(s) carry another spec version than "
                f"{self.spec_version}; if the function runs other rendition settings than this command sees, they "
                "are acked as duplicates (pass the function's settings through --env-file, or --spec-version)",
                highlight=False,
            )


__all__ = ["Candidate", "Plan", "RateLimiter", "backfill", "finalize_notification", "scan", "topic_path"]
