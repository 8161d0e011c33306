"""`gallery status --json` against the real local stack: each lane's backlog is what the emulator really holds and
falls to 0 once the functions run, and the photo figures are what Firestore holds.

The functions start late, so the uploads' notifications wait in the live lane's subscription and a backfill of
the same photos waits in the bulk lane's first.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gallery_devstack.stack import DevStack
from tests.cli import run_gallery
from tests.e2e.conftest import build_harness
from tests.paths import ORIENTATION

GOOD = sorted(ORIENTATION.glob("portrait_*.jpg"))[:3]


def _poll(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status = read()
    while not done(status) and time.monotonic() < deadline:
        time.sleep(0.5)
        status = read()
    return status


def test_status_reports_each_lanes_backlog_falling_to_zero_and_the_firestore_counts(
    devstack_factory: Callable[..., DevStack], tmp_path: Path
) -> None:
    # Slow, even retries while nothing listens: no notification reaches the dead-letter topic meanwhile.
    backoff = {"min_backoff_seconds": 3.0, "max_backoff_seconds": 3.0}
    backoff |= {f"bulk_{key}": value for key, value in backoff.items()}
    stack = devstack_factory(start_function=False, max_delivery_attempts=30, **backoff)

    def status() -> dict[str, Any]:
        return dict(json.loads(run_gallery(stack, tmp_path, "status", "--json").stdout))

    def backlog(report: dict[str, Any]) -> int:
        return sum(lane["backlog"] or 0 for lane in report["lanes"])

    uploads = stack.storage_client().bucket(stack.config.uploads_bucket)
    for path in GOOD:
        uploads.blob(f"status/{path.name}").upload_from_filename(str(path), content_type="image/jpeg")
    uploads.blob("status/broken.jpg").upload_from_string(b"not an image", content_type="image/jpeg")

    def lane(report: dict[str, Any], name: str) -> dict[str, Any]:
        return next(entry for entry in report["lanes"] if entry["name"] == name)

    waiting = _poll(status, lambda s: backlog(s) == 4, timeout=30)
    assert waiting["queue_source"] == "emulator"
    assert waiting["queue_error"] is None
    assert [entry["name"] for entry in waiting["lanes"]] == ["live", "bulk"]
    assert lane(waiting, "live")["subscription"] == stack.push_subscription_path
    assert lane(waiting, "bulk")["subscription"] == stack.bulk_push_subscription_path
    assert (lane(waiting, "live")["backlog"], lane(waiting, "bulk")["backlog"]) == (4, 0)
    assert waiting["dead_letters"]["count"] == 0
    assert waiting["photos"]["total"] == 0

    # Nothing is registered yet: a backfill queues the same four photos on the bulk lane.
    backfill = run_gallery(stack, tmp_path, "backfill", "--prefix", "status/", "--json")
    assert json.loads(backfill.stdout)["queued"] == 4
    time.sleep(1.5)
    queued = status()
    assert (lane(queued, "live")["backlog"], lane(queued, "bulk")["backlog"]) == (4, 4)
    live_age = lane(queued, "live")["oldest_unacked_age_seconds"]
    assert live_age >= lane(waiting, "live")["oldest_unacked_age_seconds"] + 1.0
    assert 1.0 <= lane(queued, "bulk")["oldest_unacked_age_seconds"] <= live_age

    stack.start_function()
    db = build_harness(stack).db

    def settled(report: dict[str, Any]) -> bool:
        by_status = report["photos"]["by_status"]
        return backlog(report) == 0 and by_status["ready"] + by_status["failed"] == 4

    final = _poll(status, settled, timeout=120)
    assert [entry["backlog"] for entry in final["lanes"]] == [0, 0], final["lanes"]
    assert all(lane["oldest_unacked_age_seconds"] == 0 for lane in final["lanes"])
    docs = [snap.to_dict() or {} for snap in db.collection(stack.config.photos_collection).stream()]
    truth = Counter(str(doc.get("status")) for doc in docs)
    assert final["photos"]["total"] == len(docs) == 4
    assert final["photos"]["by_status"] == {s: truth.get(s, 0) for s in ("processing", "ready", "failed", "retrying")}
    assert (truth["ready"], truth["failed"]) == (3, 1)
    broken = next(doc for doc in docs if doc.get("status") == "failed")
    assert final["failures"]["by_code"] == {broken["error"]["code"]: 1}
    assert final["failures"]["recent_by_code"] == {broken["error"]["code"]: 1}
    assert final["throughput"] | {"per_minute": None} == {
        "window_minutes": 15,
        "settled": 4,
        "ready": 3,
        "failed": 1,
        "per_minute": None,
        "capped": False,
    }
    render_times = sorted(doc["timings"]["render_ms"] for doc in docs if doc.get("status") == "ready")
    assert final["render_ms"]["samples"] == 3
    assert final["render_ms"]["p50"] == round(render_times[1], 1)
    assert render_times[1] <= final["render_ms"]["p95"] <= render_times[2] + 0.05
    assert final["dead_letters"]["count"] == 0

    table = run_gallery(stack, tmp_path, "status", COLUMNS="120")
    for name, subscription in (("live", stack.config.push_subscription), ("bulk", stack.config.bulk_push_subscription)):
        assert re.search(rf"│ {name}\s+│ {subscription}\s+│ 0\s+│ 0s\s+│", table.stdout), table.stdout
    assert "3 ready" in table.stdout
    assert broken["error"]["code"] in table.stdout
