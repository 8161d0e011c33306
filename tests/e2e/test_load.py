"""200 photos dropped at once into the local stack: all settle, none lost or duplicated, memory stays bounded."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gallery.ids import photo_id
from gallery_devstack.stack import DevStack
from tests.corpus import Case, Failed, Ready, case
from tests.e2e.conftest import Harness, build_harness
from tests.paths import LARGE, ORIENTATION, SAMPLES

COUNT = 200
CONCURRENCY = 2  # request concurrency (gunicorn threads), as deployed with 1 vCPU
SLACK_MIB = 64  # HTTP buffers of the queued requests, allocator slack


def _mix() -> list[Case]:
    """Mostly small camera JPEGs, some medium and unusual inputs, a handful of large photos, some broken."""
    small = [Case(p.name, p.read_bytes(), "image/jpeg", Ready("jpeg", 0, 0)) for p in sorted(ORIENTATION.glob("*.jpg"))]
    medium = [
        Case("gps.jpg", (SAMPLES / "gps_DSCN0010.jpg").read_bytes(), "image/jpeg", Ready("jpeg", 0, 0)),
        Case("alpha.png", (SAMPLES / "alpha.png").read_bytes(), "image/png", Ready("png", 0, 0)),
        case("jpeg_cmyk.jpg"),
        case("avif.avif"),
        case("png_rgb16.png"),
        case("gif_animated.gif"),
    ]
    large = [
        Case(p.name, p.read_bytes(), "image/jpeg", Ready("jpeg", 0, 0))
        for p in (LARGE / "dragonfly_13mp_4x3_progressive.jpg", LARGE / "portrait_10mp_progressive.jpg")
    ] + [Case("20mp.jpg", (LARGE / "landscape_20mp.jpg").read_bytes(), "image/jpeg", Ready("jpeg", 0, 0))]
    names = ("jpeg_truncated.jpg", "text_named.jpg", "zero_bytes.jpg", "png_absurd_header.png", "png_truncated.png")
    broken = [case(n) for n in names]
    mix: list[Case] = []
    mix += large * 2  # 6 large (10-20 MP)
    mix += broken * 4  # 20 broken
    mix += medium * 4  # 24 medium
    while len(mix) < COUNT:
        mix.append(small[len(mix) % len(small)])
    return mix


def _worker_pid(master: int) -> int:
    """The gunicorn worker (functions-framework runs one) that serves the requests."""
    deadline = time.monotonic() + 20
    while not (children := Path(f"/proc/{master}/task/{master}/children").read_text().split()):
        assert time.monotonic() < deadline, "no gunicorn worker"
        time.sleep(0.05)
    assert len(children) == 1, children
    return int(children[0])


def _status_mib(pid: int, key: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    assert match, key
    return int(match.group(1)) / 1024


def _settled(doc: dict[str, object] | None) -> bool:
    return doc is not None and doc.get("status") in ("ready", "failed")


def test_two_hundred_photos_at_once(devstack_factory: Callable[..., DevStack]) -> None:
    stack = devstack_factory(
        # As deployed (infra/terraform/locals.tf): request concurrency 2 with 1 vCPU, 2 malloc arenas.
        function_env={
            "LOG_LEVEL": "WARNING",
            "THREADS": str(CONCURRENCY),
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
        # Per-task peak: the largest photos of the mix rendered alone, one after the other, on a warm worker (the
        # portrait's 2560 x 3837 rendition is the largest AVIF encode).
        per_task = 1.0
        for round_ in range(2):  # the first round warms the worker up
            for large in ("landscape_20mp.jpg", "dragonfly_13mp_4x3_progressive.jpg", "portrait_10mp_progressive.jpg"):
                before = _status_mib(worker, "VmRSS")
                Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM restarts from the current RSS
                name = f"load-warmup-{uuid.uuid4().hex[:6]}.jpg"
                h.upload(name, (LARGE / large).read_bytes())
                h.wait_doc(name, _settled, timeout=60)
                if round_:
                    per_task = max(per_task, _status_mib(worker, "VmHWM") - before)
        baseline = _status_mib(worker, "VmRSS")
        Path(f"/proc/{worker}/clear_refs").write_text("5")

        prefix = f"load-{uuid.uuid4().hex[:8]}/"
        items = [(f"{prefix}{i:03d}-{c.name}", c) for i, c in enumerate(_mix())]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda item: h.upload(item[0], item[1].data, item[1].content_type), items))
        uploaded = time.monotonic() - started
        collection = h.db.collection(stack.config.photos_collection)
        expected = {photo_id(h.uploads.name, name): (name, c) for name, c in items}
        docs: dict[str, dict[str, object]] = {}
        deadline = started + 300  # the default set searches each photo's AVIF quality: 0.3-0.5 s of a small one
        while len(docs) < len(expected) and time.monotonic() < deadline:
            for snap in collection.stream():
                doc = snap.to_dict()
                if snap.id in expected and _settled(doc):
                    docs[snap.id] = doc
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        peak = _status_mib(worker, "VmHWM")

        missing = [expected[pid][0] for pid in expected if pid not in docs]
        assert missing == [], f"{len(missing)} photos never settled: {missing[:5]}"
        wrong = []
        for pid, (name, c) in expected.items():
            doc = docs[pid]
            error = doc.get("error") or {}
            if isinstance(c.expect, Failed):
                ok = doc["status"] == "failed" and error.get("code") == c.expect.code  # type: ignore[union-attr]
            else:
                ok = doc["status"] == "ready" and doc.get("format") == c.expect.format
            if not ok:
                wrong.append((name, doc["status"], error))
        assert wrong == []
        attempts = Counter(int(doc.get("attempts") or 0) for doc in docs.values())  # type: ignore[call-overload]
        assert set(attempts) == {1}, attempts  # every photo processed once: nothing duplicated or retried
        outcomes = Counter(str(doc["status"]) for doc in docs.values())
        assert h.dead_letters() == []
        bound = baseline + CONCURRENCY * per_task + SLACK_MIB
        print(  # the figures for the closing note (pytest -s)
            f"\nload: {COUNT} photos ({dict(outcomes)}), uploads {uploaded:.1f}s, all settled after {elapsed:.1f}s "
            f"= {COUNT / elapsed:.1f} photos/s; render concurrency {CONCURRENCY}; worker RSS baseline "
            f"{baseline:.0f} MiB, per-task peak {per_task:.0f} MiB, peak during load {peak:.0f} MiB, "
            f"bound {bound:.0f} MiB"
        )
        assert peak <= bound, (peak, baseline, per_task)
    finally:
        stack.stop()
