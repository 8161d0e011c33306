"""The delivery rules shared by the Firestore registry and the in-memory fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gallery.model import BeginOutcome
from gallery.registry_rules import (
    begin_document,
    lease_expired,
    may_deregister,
    over_cap,
    reset_document,
    retry_document,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def doc(generation: int = 5, status: str = "ready", attempts: int = 1, **extra: Any) -> dict[str, Any]:
    return {"source": {"generation": generation}, "status": status, "attempts": attempts, "spec_version": "v", **extra}


@pytest.mark.parametrize(
    ("stored", "event", "live", "expected"),
    [
        (5, 5, None, True),  # the object is gone: deregister
        (5, 5, 6, True),  # replaced by a newer generation: the one on record is not live
        (5, 5, 5, False),  # the generation on record is live: a forged or replayed DELETE
        (5, 9, 5, False),  # a DELETE naming a never-written higher generation
        (5, 4, None, False),  # an older generation's DELETE never removes a newer document
    ],
)
def test_may_deregister(stored: int, event: int, live: int | None, expected: bool) -> None:
    assert may_deregister(doc(stored), event, live) is expected
    assert may_deregister(None, event, live) is False


def test_begin_counts_until_the_cap_then_records_the_failure() -> None:
    current: dict[str, Any] | None = None
    now = NOW
    for expected in (1, 2, 3):
        outcome, current = begin_document(
            current, 5, {"source": {"generation": 5}}, "v", now, max_attempts=3, lease_seconds=60
        )
        assert outcome is BeginOutcome.PROCEED and current is not None and current["attempts"] == expected
        assert current["lease_expires_at"] == now + timedelta(seconds=60)
        # while the lease is held, another delivery waits and is not counted
        assert begin_document(current, 5, {}, "v", now + timedelta(seconds=59), max_attempts=3) == (
            BeginOutcome.BUSY,
            None,
        )
        now += timedelta(seconds=60)  # the delivery died: its lease runs out
    outcome, current = begin_document(current, 5, {"source": {"generation": 5}}, "v", now, max_attempts=3)
    assert outcome is BeginOutcome.EXHAUSTED and current is not None
    assert current["status"] == "failed" and current["error"]["code"] == "too_many_attempts"
    assert current["lease_expires_at"] is None and current["attempts"] == 3


def test_a_spec_change_re_renders_a_ready_photo_with_a_fresh_count() -> None:
    outcome, new = begin_document(doc(attempts=5), 5, {}, "v2", NOW, max_attempts=5)
    assert outcome is BeginOutcome.PROCEED and new is not None and new["attempts"] == 1


def test_lease() -> None:
    assert lease_expired(doc(status="processing", lease_expires_at=NOW + timedelta(seconds=1)), NOW) is False
    assert lease_expired(doc(status="processing", lease_expires_at=NOW), NOW) is True
    assert lease_expired(doc(status="processing"), NOW) is True  # no lease recorded


def test_retry_past_the_cap_needs_force_which_restarts_the_count() -> None:
    failed = doc(status="failed", attempts=5, error={"code": "too_many_attempts"})
    assert over_cap(failed, 5)
    assert retry_document(failed, 5, NOW, max_attempts=5) is None
    forced = retry_document(failed, 5, NOW, max_attempts=5, force=True)
    assert forced is not None and forced["status"] == "retrying" and forced["attempts"] == 0
    below = retry_document(doc(status="failed", attempts=1), 5, NOW, max_attempts=5)
    assert below is not None and below["attempts"] == 1
    assert retry_document(failed, 6, NOW, force=True) is None  # another generation


def test_reset_gives_a_stuck_or_failed_generation_a_fresh_count() -> None:
    stuck = reset_document(doc(status="processing", attempts=5), 5, NOW)
    assert stuck is not None and stuck["status"] == "processing" and stuck["attempts"] == 0
    failed = reset_document(doc(status="failed", attempts=5), 5, NOW)
    assert failed is not None and failed["status"] == "retrying"
    assert reset_document(doc(status="ready"), 5, NOW) is None
    assert reset_document(doc(status="failed"), 4, NOW) is None
