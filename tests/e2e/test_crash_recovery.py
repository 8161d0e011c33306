"""A crash is not a failure: photos in flight when the function dies, or while a service freezes, end ready.

The stack runs with the local defaults (`make run`'s retry schedule, lease and delivery caps); the faults come
from `tests/crash_scenario.py`. No timing is asserted: `bench/crash.py` measures how long recovery takes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gallery_devstack.stack import DevStack, DevStackConfig
from tests.crash_scenario import run_crash_scenario
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
        dead = subscriber.pull(request={"subscription": stack.dead_letter_subscription_path, "max_messages": 50})
    assert list(dead.received_messages) == []  # nothing was dead-lettered on the way
