"""A crash is not a failure: photos in flight when the function dies, or while a service freezes, end ready.

The stack runs with the local defaults (`make run`'s retry schedule, lease and delivery caps); the faults come
from `tests/crash_scenario.py`. No timing is asserted: `bench/crash.py` measures how long recovery takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from gallery_devstack.stack import DevStack, DevStackConfig
from tests.crash_scenario import run_crash_scenario
from tests.e2e.conftest import build_harness
from tests.paths import LARGE, ORIENTATION, SAMPLES

DEFAULTS = DevStackConfig()


def _photos() -> list[bytes]:
    """Camera photos, large ones first so renders are in flight when the faults strike."""
    large = [p.read_bytes() for p in sorted(LARGE.glob("*.jpg"))]
    small = [p.read_bytes() for p in sorted(ORIENTATION.glob("*.jpg"))[:6]] + [
        (SAMPLES / "gps_DSCN0010.jpg").read_bytes()
    ]
    return [photo for pair in zip(large * 2, small, strict=False) for photo in pair]


@pytest.mark.timeout(900)
def test_every_photo_in_flight_through_crashes_and_freezes_ends_ready_exactly_once(
    devstack_factory: Callable[..., DevStack],
) -> None:
    stack = devstack_factory(
        min_backoff_seconds=DEFAULTS.min_backoff_seconds,  # the local stack's own schedule, not the tests' faster one
        max_backoff_seconds=DEFAULTS.max_backoff_seconds,
        function_env={"LOG_LEVEL": "INFO"},
    )
    run = run_crash_scenario(stack, _photos(), first_burst=20, second_burst=10)

    assert run.statuses() == {"ready": 30}, {n: d for n, d in run.docs.items() if (d or {}).get("status") != "ready"}
    for name, doc in run.docs.items():
        assert doc is not None and doc["source"]["generation"] == run.generations[name]
        # exactly this generation's renditions: nothing half-written, nothing twice under another name
        assert run.renditions[name] == {r["path"] for r in doc["renditions"]}, name
        assert doc["lease_holder"] is None and doc["error"] is None
    assert run.fresh_status == "ready"
    assert run.function_restarts == 1  # the killed main process was replaced, like a Cloud Run instance
    with stack.pubsub_admin() as (_, subscriber):
        dead = subscriber.pull(
            request={"subscription": stack.dead_letter_subscription_path, "max_messages": 50}, timeout=10
        )
    assert list(dead.received_messages) == []  # nothing was dead-lettered on the way


def test_photos_dead_lettered_while_the_function_was_down_come_back_ready_on_the_bulk_lane(
    devstack_factory: Callable[..., DevStack],
) -> None:
    stack = devstack_factory(start_function=False, max_delivery_attempts=5)
    h = build_harness(stack)
    names = [f"outage/{p.name}" for p in sorted(ORIENTATION.glob("portrait_*.jpg"))[:3]]
    generations = {name: h.upload(name, (ORIENTATION / name.split("/")[-1]).read_bytes()) for name in names}
    # Nothing answers: each notification uses up its deliveries and is dead-lettered.
    deadline = time.monotonic() + 60
    dead: set[str] = set()
    while dead != set(names) and time.monotonic() < deadline:
        dead |= {m.message.attributes["objectId"] for m in h.dead_letters()}
    assert dead == set(names)
    stack.start_function()  # the dead-letter recorder reaches /dead-letters now, which re-queues them on the bulk lane
    for name in names:
        doc = h.wait_doc(name, lambda d: d is not None and d.get("status") == "ready", timeout=120)
        assert doc is not None and doc["source"]["generation"] == generations[name]
        assert doc["dead_letters"] == 1 and doc["attempts"] == 1 and doc["requeued"]["reason"]
        assert h.rendition_names(name) == {r["path"] for r in doc["renditions"]}
    assert "dead letter re-queued on the bulk lane" in (stack.log_dir / "function.log").read_text()
    assert "photo registered" in (stack.log_dir / "function-bulk.log").read_text()
