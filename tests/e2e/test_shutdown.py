"""SIGTERM mid-render: the function stops taking work, running renders finish, the rest is redelivered.

After the restart every photo is ready, and at no point does a manifest name a rendition that is not stored.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

from gallery_devstack.stack import DevStack
from tests.e2e.conftest import Harness, build_harness
from tests.paths import LARGE

PHOTOS = 6
# A render budget that fits two of these photos (estimated ~110 MiB each) at once: the others wait for memory.
BUDGET_ENV = {"INSTANCE_MEMORY_MIB": "450", "INSTANCE_BASELINE_MIB": "200"}


def _manifest_is_complete(h: Harness, name: str, doc: dict[str, Any] | None) -> bool:
    if doc is None or doc.get("status") != "ready":
        return not (doc or {}).get("renditions")  # nothing listed before the photo is complete
    return {r["path"] for r in doc["renditions"]} <= h.rendition_names(name)


def test_sigterm_mid_render_finishes_or_abandons_cleanly(devstack_factory: Callable[..., DevStack]) -> None:
    # Enough delivery attempts to outlast the restart below without dead-lettering.
    stack = devstack_factory(
        function_env=BUDGET_ENV, max_delivery_attempts=100, min_backoff_seconds=0.2, max_backoff_seconds=1.0
    )
    try:
        h = build_harness(stack)
        data = (LARGE / "landscape_20mp.jpg").read_bytes()
        names = [f"shutdown-{uuid.uuid4().hex[:8]}/{i}.jpg" for i in range(PHOTOS)]
        for name in names:
            h.upload(name, data)
        h.wait_doc(names[0], lambda d: d is not None)
        time.sleep(0.5)  # renders are running (two at once), the others wait for memory
        process = stack.process("function")
        assert process is not None and process.pid is not None
        os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while process.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process.running, "the function did not exit after SIGTERM"
        log = process.log_path.read_text()
        assert "draining" in log
        stopped = {name: h.doc(name) for name in names}
        for name, doc in stopped.items():
            assert _manifest_is_complete(h, name, doc), (name, doc)
        finished = [n for n, d in stopped.items() if d and d["status"] == "ready"]
        abandoned = [n for n, d in stopped.items() if not d or d["status"] != "ready"]
        assert abandoned, f"SIGTERM came too late to abandon anything (finished: {finished})"
        stack.stop_service("function")
        stack.start_service("function")
        for name in names:
            doc = h.wait_doc(name, lambda d: d is not None and d.get("status") == "ready", timeout=90)
            assert doc is not None
            assert h.rendition_names(name) == {r["path"] for r in doc["renditions"]}, name
        restarted = {name: h.doc(name) for name in names}
        for name in finished:  # finished before SIGTERM, acknowledged: not rendered again
            assert restarted[name] == stopped[name]
        assert h.dead_letters() == []
    finally:
        stack.stop()
