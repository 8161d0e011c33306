"""Read photo documents in bulk and decide whether an object generation is done, pending or in progress.

Pure rules (`classify`, on top of `gallery.registry_rules.is_done`) plus the polling `backfill`, `import` and
`retry` share, reading through the `PhotoCatalog` port.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gallery.model import PhotoStatus
from gallery.ports import PhotoCatalog
from gallery.registry_rules import DEAD_LETTERED, is_done, lease_expired, over_cap, stored_generation

State = Literal[
    "done",
    "newer",
    "in_progress",
    "unregistered",
    "older_generation",
    "spec_outdated",
    "stuck",
    "dead_lettered",
    "over_cap",
    "unoptimized",
]
PENDING_STATES: frozenset[State] = frozenset(
    {"unregistered", "older_generation", "spec_outdated", "stuck", "dead_lettered"}
)
FORCED_STATES: frozenset[State] = frozenset({"over_cap"})
"""Re-queued only with --force (which also restarts the photo's delivery count)."""
OPTIMIZE_STATES: frozenset[State] = frozenset({"unoptimized"})
"""Ready with the current spec, not optimized at the current optimize settings: their optimize task is queued
with --optimize."""


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def classify(
    doc: Mapping[str, Any] | None,
    generation: int,
    spec_version: str,
    *,
    now: datetime,
    stale_after_seconds: float,
    max_attempts: int,
) -> State:
    """What the object generation `generation` needs, given its photo document.

    - ``done``: the document is ``ready`` or ``failed`` for this generation with the current spec;
    - ``newer``: the document already belongs to a newer generation (the listing is out of date);
    - ``in_progress``: ``processing`` this generation and its delivery's lease has not run out (documents
      without a lease, and ``retrying`` ones: touched less than `stale_after_seconds` ago);
    - ``unregistered`` / ``older_generation`` / ``spec_outdated`` / ``stuck`` / ``dead_lettered``: needs a
      (re)delivery (a dead letter is no verdict on the photo);
    - ``over_cap``: would need one, but `max_attempts` deliveries already began: only with --force.
    """
    if doc is None:
        return "unregistered"
    stored = stored_generation(doc)
    if stored is not None and stored > generation:
        return "newer"
    if stored is None or stored < generation:
        return "older_generation"
    if is_done(doc, generation, spec_version):
        return "done"
    status = PhotoStatus.of(doc)
    if status is PhotoStatus.READY:
        return "spec_outdated"
    if status is PhotoStatus.FAILED:
        dead = (doc.get("error") or {}).get("code") == DEAD_LETTERED
        if over_cap(doc, max_attempts):
            return "over_cap"
        return "dead_lettered" if dead else "spec_outdated"
    if status is PhotoStatus.PROCESSING and doc.get("lease_expires_at") is not None:
        if not lease_expired(doc, now):
            return "in_progress"
    else:
        touched = _as_datetime(doc.get("updated_at"))
        if touched is not None and (now - touched).total_seconds() < stale_after_seconds:
            return "in_progress"
    return "over_cap" if over_cap(doc, max_attempts) else "stuck"


def is_settled(doc: Mapping[str, Any] | None, generation: int, spec_version: str) -> bool:
    """Whether waiting for this generation is over (done, or superseded by a newer generation)."""
    state = classify(
        doc, generation, spec_version, now=datetime.now(UTC), stale_after_seconds=float("inf"), max_attempts=1 << 30
    )
    return state in ("done", "newer")


@dataclass(frozen=True)
class Pending:
    photo_id: str
    generation: int
    name: str


@dataclass
class WaitResult:
    ready: int = 0
    failed: int = 0
    superseded: int = 0
    pending: list[Pending] | None = None
    other_spec: dict[str, int] = field(default_factory=dict)
    """Spec versions of still-pending documents that are settled for their generation with another spec."""

    @property
    def timed_out(self) -> bool:
        return bool(self.pending)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "failed": self.failed,
            "superseded": self.superseded,
            "still_pending": [p.name for p in self.pending or []],
            "other_spec_versions": self.other_spec,
        }

    def hint(self, spec_version: str) -> str | None:
        """Why documents may never reach `spec_version`, if that is what the pending ones show."""
        if not self.other_spec:
            return None
        seen = ", ".join(f"{v} ({n})" for v, n in sorted(self.other_spec.items()))
        return (
            f"{sum(self.other_spec.values())} pending photo(s) are settled with spec version {seen}, not "
            f"{spec_version}: the function probably runs other rendition settings (RENDITION_*, *_EFFORT) or "
            "another engine version than this command; give the command the function's settings (or --spec-version)"
        )


def wait_settled(
    catalog: PhotoCatalog,
    items: Iterable[Pending],
    spec_version: str,
    *,
    timeout: float,
    on_progress: Callable[[int], None] = lambda _n: None,
    poll_seconds: float = 0.5,
) -> WaitResult:
    """Poll until every item's document is ready/failed for its generation (or newer), or `timeout` passes."""
    waiting = {item.photo_id: item for item in items}
    result = WaitResult()
    deadline = time.monotonic() + timeout
    while waiting:
        docs = catalog.get_many(list(waiting))
        settled = 0
        for pid, item in list(waiting.items()):
            doc = docs.get(pid)
            if not is_settled(doc, item.generation, spec_version):
                continue
            del waiting[pid]
            settled += 1
            assert doc is not None
            if stored_generation(doc) != item.generation:
                result.superseded += 1
            elif PhotoStatus.of(doc) is PhotoStatus.READY:
                result.ready += 1
            else:
                result.failed += 1
        if settled:
            on_progress(settled)
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(poll_seconds)
    result.pending = sorted(waiting.values(), key=lambda p: p.name)
    if result.pending:
        docs = catalog.get_many([p.photo_id for p in result.pending])
        for item in result.pending:
            doc = docs.get(item.photo_id) or {}
            status = PhotoStatus.of(doc)
            if stored_generation(doc) == item.generation and status is not None and status.settled:
                version = str(doc.get("spec_version"))
                result.other_spec[version] = result.other_spec.get(version, 0) + 1
    return result
