"""A backfill of many photos on the bulk lane does not hold up live uploads, and loses nothing.

The photos are put in the bucket before the push subscriptions exist (as before a deployment: the notifications
reach nobody), then `gallery backfill` queues them all on the bulk lane. Live uploads made while that backlog
drains must be ready while bulk work is still queued (they wait behind nothing but other live uploads); in the
end every backfilled photo is ready, both backlogs are empty and nothing was dead-lettered. No timing: the
latency figures are bench/lanes.py's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from gallery.model import PhotoStatus
from gallery_devstack.stack import DevStack
from tests.cli import run_gallery
from tests.e2e.conftest import Harness, build_harness, settled
from tests.paths import LARGE, SAMPLES

BACKFILL = 80
LIVE = 3
PHOTOS = [*sorted(LARGE.glob("*.jpg")), SAMPLES / "gps_DSCN0010.jpg"]


def _unsettled(h: Harness, names: list[str]) -> int:
    return sum(1 for name in names if not settled(h.doc(name)))


def test_live_uploads_are_ready_while_a_backfill_drains_and_nothing_is_lost(
    devstack_factory: Callable[..., DevStack], tmp_path: Path
) -> None:
    stack = devstack_factory(
        pubsub_in_process=True,
        create_push_subscription=False,
        max_delivery_attempts=5,
        function_env={"LOG_LEVEL": "WARNING"},
    )
    h = build_harness(stack)
    emulator = stack.pubsub_emulator
    assert emulator is not None
    photos = [p.read_bytes() for p in PHOTOS]
    names = [f"archive/{i:03d}.jpg" for i in range(BACKFILL)]
    stack.upload_before_deployment({name: photos[i % len(photos)] for i, name in enumerate(names)})
    stack.create_push_subscriptions()
    assert _unsettled(h, names) == BACKFILL  # nobody was listening: this is backfill's work

    done = run_gallery(stack, tmp_path, "backfill", "--rate", "0", "--json")
    assert json.loads(done.stdout)["queued"] == BACKFILL

    live_names = []
    for i in range(LIVE):
        name = f"live/{i}.jpg"
        h.upload(name, (SAMPLES / "gps_DSCN0010.jpg").read_bytes())
        doc = h.wait_doc(name, settled, timeout=300)
        assert PhotoStatus.of(doc) is PhotoStatus.READY
        live_names.append(name)
        if i == 0:
            # Ready while most of the backfill is still to do: it did not wait behind it (on one shared lane it
            # would be ready only once the backlog in front of it had been pushed, with at most the last pushes'
            # worth of photos unsettled).
            assert _unsettled(h, names) > BACKFILL // 2

    for name in names:
        assert PhotoStatus.of(h.wait_doc(name, settled, timeout=600)) is PhotoStatus.READY, name
    lanes = (stack.push_subscription_path, stack.bulk_push_subscription_path)
    deadline = time.monotonic() + 30  # the last acks follow the last documents by a moment
    while any(emulator.backlog_size(p) for p in lanes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [emulator.backlog_size(p) for p in lanes] == [0, 0]
    assert emulator.backlog_size(stack.dead_letter_subscription_path) == 0
    assert all(PhotoStatus.of(h.doc(name)) is PhotoStatus.READY for name in live_names)
