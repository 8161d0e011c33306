"""Heavy photos uploaded all at once: the function stays within its configured instance memory, and every photo
ends ready or failed with a reason (one estimated above the whole budget fails as too_large_for_instance)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gallery_devstack.stack import DevStack
from tests.e2e.conftest import Harness, build_harness
from tests.e2e.test_load import _status_mib, _worker_pid
from tests.paths import ORIENTATION

INSTANCE_MEMORY_MIB = 1280
INSTANCE_BASELINE_MIB = 256  # checked below against the worker's measured idle RSS
REQUESTS = 6  # request concurrency: more than memory lets render at once, so admission decides
# Estimated ~1.1, ~1.1 and ~1.7 GiB with the default AVIF + JPEG set, over the 1024 MiB budget (each would run
# alone in the default 2 GiB instance).
TOO_LARGE = ("png_rgba16_interlaced_100mp.png", "jpeg_progressive_cmyk_100mp.jpg", "avif_100mp.avif")


def _settled(doc: dict[str, object] | None) -> bool:
    return doc is not None and doc.get("status") in ("ready", "failed")


def test_concurrent_heavy_uploads_stay_within_the_instance_memory(
    devstack_factory: Callable[..., DevStack], heavy_files: dict[str, Path]
) -> None:
    stack = devstack_factory(
        function_env={
            "LOG_LEVEL": "WARNING",
            "INSTANCE_MEMORY_MIB": str(INSTANCE_MEMORY_MIB),
            "INSTANCE_BASELINE_MIB": str(INSTANCE_BASELINE_MIB),
            "THREADS": str(REQUESTS),
            "MALLOC_ARENA_MAX": "2",
        },
        max_delivery_attempts=5,
        min_backoff_seconds=0.2,
        max_backoff_seconds=2.0,
    )
    try:
        h: Harness = build_harness(stack)
        process = stack.process("function")
        assert process is not None and process.pid is not None
        worker = _worker_pid(process.pid)
        warm = f"mem-warmup-{uuid.uuid4().hex[:6]}.jpg"
        h.upload(warm, (ORIENTATION / "landscape_1.jpg").read_bytes())
        h.wait_doc(warm, _settled, timeout=60)
        idle = _status_mib(worker, "VmRSS")
        assert idle <= INSTANCE_BASELINE_MIB, f"the idle worker holds {idle:.0f} MiB, above the configured baseline"
        Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM restarts from the current RSS

        prefix = f"mem-{uuid.uuid4().hex[:8]}/"
        items = [(prefix + name, path) for name, path in heavy_files.items()]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(items)) as pool:
            list(pool.map(lambda item: h.upload(item[0], item[1].read_bytes(), "application/octet-stream"), items))
        docs = {name: h.wait_doc(name, _settled, timeout=300) for name, _ in items}
        elapsed = time.monotonic() - started
        peak = _status_mib(worker, "VmHWM")

        for name, doc in docs.items():
            assert doc is not None
            if name.endswith(TOO_LARGE):
                assert doc["status"] == "failed", doc
                assert doc["error"]["code"] == "too_large_for_instance", doc["error"]
                assert "MiB" in doc["error"]["reason"] and "1024 MiB" in doc["error"]["reason"], doc["error"]
            else:
                assert doc["status"] == "ready", (name, doc.get("error"))
                assert int(doc.get("attempts") or 0) == 1, (name, doc.get("attempts"))
        assert h.dead_letters() == []
        print(  # the figures for the closing note (pytest -s)
            f"\nheavy mix: {len(items)} photos settled in {elapsed:.1f}s; worker idle {idle:.0f} MiB, "
            f"peak {peak:.0f} MiB, instance memory {INSTANCE_MEMORY_MIB} MiB "
            f"(render budget {INSTANCE_MEMORY_MIB - INSTANCE_BASELINE_MIB} MiB)"
        )
        assert peak <= INSTANCE_MEMORY_MIB, f"worker peaked at {peak:.0f} MiB, over {INSTANCE_MEMORY_MIB} MiB"
        budget = INSTANCE_MEMORY_MIB - INSTANCE_BASELINE_MIB
        assert peak - idle <= budget, f"renders took {peak - idle:.0f} MiB above idle, over the {budget} MiB budget"
    finally:
        stack.stop()
