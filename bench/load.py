"""Load run: the highest upload rate this machine sustains on the local stack, and nothing lost.

`make bench` runs it (or `.venv/bin/python bench/load.py --help`). It starts the local stack as `make run` does
(live and bulk lanes, the optimize pass on), then uploads 1 MP camera JPEGs (the 20 MP sample resized, JPEG Q92)
at a rate that steps up (`--rates`, photos per second, `--step-seconds` each) until the live lane falls behind
(its backlog at the end of a step is more than `--behind` seconds of uploads) or the steps run out. For each
step it reports the rate offered, the rate the live lane made photos `ready`, the upload-to-ready latency
(median and 95th percentile, from a Firestore listener), both lanes' backlogs at the end of the step, and the
documents written to Firestore per second (the emulator counts them). Then it waits (bounded) for every photo to
be ready and optimized and checks that none was lost: every upload `ready`, both backlogs empty, no dead letter.
Results go to bench/load.json and the load section of bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lanes import Stack, out, write_section

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SOURCE = ROOT / "samples/large/landscape_20mp.jpg"
SECTION_START, SECTION_END = "<!-- load:start -->", "<!-- load:end -->"


def one_megapixel() -> bytes:
    from gallery.engine.vips import pyvips

    image = pyvips.Image.new_from_file(str(SOURCE))
    scale = (1e6 / (image.width * image.height)) ** 0.5
    return bytes(image.resize(scale, kernel="lanczos3").jpegsave_buffer(Q=92))


class Readiness:
    """When each photo became ready (and optimized), from a listener on the photos collection."""

    def __init__(self) -> None:
        self.ready: dict[str, float] = {}
        self.optimized: dict[str, float] = {}
        self.failed: set[str] = set()
        self._lock = threading.Lock()

    def on_change(self, docs: dict[str, dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._lock:
            for pid, doc in docs.items():
                status = doc.get("status")
                if status == "ready" and pid not in self.ready:
                    self.ready[pid] = now
                elif status == "failed":
                    self.failed.add(pid)
                if doc.get("optimization_status") in ("done", "failed") and pid not in self.optimized:
                    self.optimized[pid] = now


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run_step(stack: Stack, readiness: Readiness, data: bytes, rate: float, seconds: float) -> dict[str, Any]:
    from gallery.ids import photo_id

    count = int(rate * seconds)
    uploaded: dict[str, float] = {}
    writes_before = stack.stack.firestore_writes()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for index in range(count):
            due = started + index / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            name = f"load/{rate:g}/{index}.jpg"

            def upload(name: str = name) -> None:
                stack.upload(name, data)
                uploaded[photo_id(stack.bucket.name, name)] = time.monotonic()

            futures.append(pool.submit(upload))
        for future in futures:
            future.result()
    ended = time.monotonic()
    elapsed = ended - started
    writes_after = stack.stack.firestore_writes()
    ready_in_step = [pid for pid, at in readiness.ready.items() if started <= at <= ended]
    live = stack.backlog(stack.stack.push_subscription_path)
    bulk = stack.backlog(stack.stack.bulk_push_subscription_path)
    return {
        "offered_per_s": round(count / elapsed, 2),
        "uploads": count,
        "ready_per_s": round(len(ready_in_step) / elapsed, 2),
        "live_backlog": live,
        "bulk_backlog": bulk,
        "firestore_writes_per_s": round((writes_after["writes"] - writes_before["writes"]) / elapsed, 1),
        "uploaded": uploaded,
    }


def settle(readiness: Readiness, ids: set[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ids <= (set(readiness.ready) | readiness.failed) and ids <= set(readiness.optimized):
            return True
        time.sleep(0.5)
    return False


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from gallery.adapters.firestore_catalog import FirestoreCatalog

    data = one_megapixel()
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, Stack(Path(tmp) / "logs", 4, 10) as stack:
        stack.stack.create_push_subscriptions()
        readiness = Readiness()
        listener = FirestoreCatalog(stack.db, stack.stack.config.photos_collection).watch(readiness.on_change)
        stack.upload("warm/first.jpg", data)
        stack.wait_ready("warm/first.jpg")
        all_uploads: dict[str, float] = {}
        writes_at_start = stack.stack.firestore_writes()["writes"]
        try:
            for rate in args.rates:
                step = run_step(stack, readiness, data, rate, args.step_seconds)
                all_uploads.update(step.pop("uploaded"))
                steps.append(step)
                out(
                    f"offered {step['offered_per_s']}/s: ready {step['ready_per_s']}/s, live backlog "
                    f"{step['live_backlog']}, bulk backlog {step['bulk_backlog']}, Firestore "
                    f"{step['firestore_writes_per_s']} writes/s"
                )
                if step["live_backlog"] > args.behind * rate:
                    out(f"the live lane fell behind at {rate:g}/s; stepping stops")
                    break
            settled = settle(readiness, set(all_uploads), args.timeout)
            writes_per_photo = (stack.stack.firestore_writes()["writes"] - writes_at_start) / max(1, len(all_uploads))
            dead = stack.backlog(stack.stack.dead_letter_subscription_path)
            backlogs = {
                "live": stack.backlog(stack.stack.push_subscription_path),
                "bulk": stack.backlog(stack.stack.bulk_push_subscription_path),
            }
        finally:
            listener.stop()
        latencies = {pid: readiness.ready[pid] - at for pid, at in all_uploads.items() if pid in readiness.ready}
        for step, rate in zip(steps, args.rates, strict=False):
            prefix_ids = [pid for pid in latencies if pid in _ids_of(stack, rate, step["uploads"])]
            values = [latencies[pid] for pid in prefix_ids]
            step["latency_median_s"] = round(statistics.median(values), 3) if values else None
            step["latency_p95_s"] = round(_percentile(values, 0.95) or 0, 3) if values else None
    lost = [pid for pid in all_uploads if pid not in readiness.ready]
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "photo": "1 MP JPEG (the 20 MP sample resized, Q92)",
        "step_seconds": args.step_seconds,
        "steps": steps,
        "uploads": len(all_uploads),
        "ready": len(all_uploads) - len(lost),
        "failed": len(readiness.failed & set(all_uploads)),
        "optimized": len(set(readiness.optimized) & set(all_uploads)),
        "settled_in_time": settled,
        "firestore_writes_per_photo": round(writes_per_photo, 2),
        "backlogs_after": backlogs,
        "dead_letters": dead,
        "not_ready": lost,
    }


def _ids_of(stack: Stack, rate: float, count: int) -> set[str]:
    from gallery.ids import photo_id

    return {photo_id(stack.bucket.name, f"load/{rate:g}/{index}.jpg") for index in range(count)}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        SECTION_START,
        "## Load run (bench/load.py)",
        "",
        f"{result['photo']} uploaded to the local stack ({result['machine']}) at a rate stepping up, "
        f"{result['step_seconds']:g} s a step, the optimize pass on. `ready/s`: photos made ready during the step; "
        "latency: upload to `ready` of the step's photos; backlogs at the end of the step; Firestore: documents "
        "written per second (the emulator's count).",
        "",
        "| offered /s | ready /s | latency median / p95 s | live backlog | bulk backlog | Firestore writes /s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in result["steps"]:
        latency = f"{s['latency_median_s']} / {s['latency_p95_s']}" if s["latency_median_s"] is not None else "-"
        lines.append(
            f"| {s['offered_per_s']} | {s['ready_per_s']} | {latency} | {s['live_backlog']} | {s['bulk_backlog']} | "
            f"{s['firestore_writes_per_s']} |"
        )
    lines += [
        "",
        f"Afterwards: {result['ready']} of {result['uploads']} uploads ready ({result['failed']} failed), "
        f"{result['optimized']} optimized, backlogs {result['backlogs_after']}, "
        f"{result['dead_letters']} dead letters; {result['firestore_writes_per_photo']} Firestore documents "
        "written per photo over the whole run (ready and optimized).",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[2, 4, 8, 12, 16, 24], help="photos per second")
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--behind", type=float, default=5.0, help="seconds of uploads the live backlog may hold")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds everything may take to settle")
    parser.add_argument("--json", type=Path, default=BENCH / "load.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "results.md")
    args = parser.parse_args(argv)
    result = measure(args)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    section = markdown(result)
    write_section(args.markdown, section, SECTION_START, SECTION_END)
    out(section)
    lost = result["not_ready"] or any(result["backlogs_after"].values()) or result["dead_letters"]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
