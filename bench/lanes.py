"""Priority lanes on the local stack: live upload latency when idle, and while a backfill of ~150 photos drains.

`make bench` runs it after bench/run.py (or `.venv/bin/python bench/lanes.py --help`). It starts the whole local
stack (both lanes' function processes, as `make run` does) on free ports, then:

1. puts `--count` camera photos (samples/large and samples/gps_DSCN0010.jpg, cycled) in the uploads bucket before
   the push subscriptions exist, so no notification reaches the function: photos that are in the bucket and not
   registered, which is what `gallery backfill` is for;
2. measures the idle latency of a live upload (upload returns → document `ready`) over `--live` uploads
   (and as many again once the backfill has drained; the idle figure is the median of both);
3. runs `gallery backfill` (the bulk lane by default, or `--lane live` to see what the lanes prevent) and,
   while the bulk backlog drains, uploads one live photo at a time and measures each one's latency;
4. checks that nothing was lost (every backfilled photo `ready`, both lanes' backlogs 0, no dead letter) and
   prints the live latency under the backfill against the idle one (target ≤ 3x) and the drain time.

The result goes to bench/lanes.json and into the lanes section of bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BULK_FILES = (
    "samples/large/landscape_20mp.jpg",
    "samples/large/dragonfly_13mp_4x3_progressive.jpg",
    "samples/large/portrait_10mp_progressive.jpg",
    "samples/large/landscape_20mp_progressive.jpg",
    "samples/gps_DSCN0010.jpg",
)
LIVE_FILE = "samples/large/portrait_10mp_progressive.jpg"  # a camera photo
SECTION_START, SECTION_END = "<!-- lanes:start -->", "<!-- lanes:end -->"
TARGET_RATIO = 3.0


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Stack:
    """The local stack with clients for the bench: uploads, documents, backlogs."""

    def __init__(self, log_dir: Path, bulk_concurrency: int, bulk_nice: int) -> None:
        from gallery_devstack.stack import DevStack, DevStackConfig

        config = DevStackConfig(
            log_dir=log_dir,
            pubsub_in_process=True,  # for the subscriptions' backlogs
            create_push_subscription=False,
            function_env={"LOG_LEVEL": "WARNING"},
            bulk_request_concurrency=bulk_concurrency,
            bulk_nice=bulk_nice,
        )
        self.stack = DevStack(config)

    def __enter__(self) -> Stack:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore

        self.stack.start()
        env = self.stack.env()
        os.environ["FIRESTORE_EMULATOR_HOST"] = env["FIRESTORE_EMULATOR_HOST"]
        self.db = firestore.Client(project=env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials())
        self.bucket = self.stack.storage_client().bucket(self.stack.config.uploads_bucket)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.stop()

    def upload(self, name: str, data: bytes) -> None:  # a live upload: notified, processed
        self.bucket.blob(name).upload_from_string(data, content_type="image/jpeg")

    def statuses(self, names: list[str]) -> dict[str, str | None]:
        from gallery.ids import photo_id

        collection = self.db.collection(self.stack.config.photos_collection)
        refs = [collection.document(photo_id(self.bucket.name, n)) for n in names]
        found: dict[str, str | None] = dict.fromkeys(names)
        by_id = {photo_id(self.bucket.name, n): n for n in names}
        for snap in self.db.get_all(refs):
            if snap.exists:
                found[by_id[snap.id]] = (snap.to_dict() or {}).get("status")
        return found

    def wait_ready(self, name: str, timeout: float = 600.0) -> float:
        """Upload-to-ready seconds of one live photo (the upload has just returned)."""
        started = time.monotonic()
        while self.statuses([name])[name] not in ("ready", "failed"):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{name} not ready after {timeout:.0f} s")
            time.sleep(0.02)
        if self.statuses([name])[name] != "ready":
            raise RuntimeError(f"{name} failed")
        return time.monotonic() - started

    def backlog(self, path: str) -> int:
        emulator = self.stack.pubsub_emulator
        assert emulator is not None
        return emulator.backlog_size(path)


def live_upload(stack: Stack, data: bytes, label: str) -> float:
    name = f"live/{label}-{time.monotonic_ns()}.jpg"
    stack.upload(name, data)
    return stack.wait_ready(name)


def run_backfill(stack: Stack, env_file: Path, lane: str) -> subprocess.Popen[bytes]:
    gallery = Path(sys.executable).with_name("gallery")
    argv = [str(gallery), "backfill", "--env-file", str(env_file), "--prefix", "bulk/", "--lane", lane, "--json"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())


def measure(args: argparse.Namespace) -> dict[str, Any]:
    live_data = (ROOT / args.live_file).read_bytes()
    sources = [(ROOT / f).read_bytes() for f in BULK_FILES]
    with (
        tempfile.TemporaryDirectory(prefix="bench-lanes-") as tmp,
        Stack(Path(tmp) / "logs", args.bulk_concurrency, args.bulk_nice) as stack,
    ):
        names = [f"bulk/{i:04d}.jpg" for i in range(args.count)]
        stack.stack.upload_before_deployment({name: sources[i % len(sources)] for i, name in enumerate(names)})
        stack.stack.create_push_subscriptions()
        env_file = stack.stack.write_env_file(Path(tmp) / ".devstack.env")
        for _ in range(2):  # warm both the function and the clients
            live_upload(stack, live_data, "warm")
        idle = [live_upload(stack, live_data, "idle") for _ in range(args.live)]
        out(f"idle live latency: median {statistics.median(idle):.2f} s over {len(idle)} ({_fmt(idle)})")
        started = time.monotonic()
        backfill = run_backfill(stack, env_file, args.lane)
        busy: list[float] = []
        settled_at: float | None = None
        subs = {"live": stack.stack.push_subscription_path, "bulk": stack.stack.bulk_push_subscription_path}
        deadline = started + args.timeout

        def done() -> bool:
            return all(s in ("ready", "failed") for s in stack.statuses(names).values())

        while settled_at is None and time.monotonic() < deadline:
            time.sleep(args.gap)
            if backfill.poll() is not None and done():
                settled_at = time.monotonic()
                break
            busy.append(live_upload(stack, live_data, "busy"))
            out(f"  live upload under the backfill: {busy[-1]:.2f} s (bulk backlog {stack.backlog(subs['bulk'])})")
        backfill_out, _ = backfill.communicate(timeout=60)
        queued = json.loads(backfill_out or b"{}").get("queued")
        if settled_at is None:
            raise SystemExit(f"the backfill did not drain within {args.timeout:.0f} s")
        # Then the optimize tasks the photos queued drain from the bulk lane too; the idle figures come after.
        _wait(lambda: all(stack.backlog(p) == 0 for p in subs.values()), max(30.0, deadline - time.monotonic()))
        quiet_at = time.monotonic()
        # Read now: the idle uploads below queue optimize tasks of their own on the bulk lane.
        backlogs = {lane: stack.backlog(p) for lane, p in subs.items()}
        idle_after = [live_upload(stack, live_data, "idle-after") for _ in range(args.live)]
        out(f"idle live latency after the drain: {_fmt(idle_after)}")
        idle += idle_after
        statuses = stack.statuses(names)
        dead = stack.backlog(stack.stack.dead_letter_subscription_path)
        result = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "lane": args.lane,
            "count": args.count,
            "queued": queued,
            "bulk_concurrency": args.bulk_concurrency,
            "bulk_nice": args.bulk_nice,
            "live_file": Path(args.live_file).name,
            "idle_s": idle,
            "busy_s": busy,
            "idle_median_s": statistics.median(idle),
            "busy_median_s": statistics.median(busy) if busy else None,
            "busy_max_s": max(busy) if busy else None,
            "drain_s": settled_at - started,
            "quiet_s": quiet_at - started,
            "ready": sum(1 for s in statuses.values() if s == "ready"),
            "not_ready": sorted(n for n, s in statuses.items() if s != "ready"),
            "backlogs": backlogs,
            "dead_letters": dead,
        }
    if busy:
        result["ratio_median"] = result["busy_median_s"] / result["idle_median_s"]
        result["ratio_max"] = result["busy_max_s"] / result["idle_median_s"]
    return result


def _wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def markdown(result: dict[str, Any]) -> str:
    r = result
    lost = r["count"] - r["ready"]
    lines = [
        SECTION_START,
        "## Priority lanes: live uploads while a backfill drains (`bench/lanes.py`)",
        "",
        f"{r['machine']}. The local stack as `make run` starts it: the live function process, and the bulk one "
        f"with {r['bulk_concurrency']} request threads at nice {r['bulk_nice']}. A backfill of {r['count']} camera "
        f"photos (10-20 MP JPEGs and one 0.3 MP, cycled) on the **{r['lane']}** lane; meanwhile one live upload "
        f"({r['live_file']}) at a time, upload returned → document `ready`.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| live latency, idle (median of {len(r['idle_s'])}, before and after the backfill) | "
        f"{r['idle_median_s']:.2f} s |",
    ]
    if r["busy_s"]:
        lines += [
            f"| live latency under the backfill (median of {len(r['busy_s'])}) | {r['busy_median_s']:.2f} s |",
            f"| live latency under the backfill (worst) | {r['busy_max_s']:.2f} s |",
            f"| ratio to idle, median / worst (target ≤ {TARGET_RATIO:.0f}x) | "
            f"{r['ratio_median']:.2f}x / {r['ratio_max']:.2f}x |",
        ]
    lines += [
        f"| backfill drained (published → every photo settled) | {r['drain_s']:.0f} s |",
        f"| bulk lane quiet (the photos' optimize tasks done too) | {r.get('quiet_s', r['drain_s']):.0f} s |",
        f"| backfilled photos ready | {r['ready']} of {r['count']} ({lost} not ready) |",
        f"| backlogs once the bulk lane was quiet (live, bulk), dead letters | {r['backlogs']['live']}, "
        f"{r['backlogs']['bulk']}, "
        f"{r['dead_letters']} |",
        "",
        f"Queued by `gallery backfill`: {r['queued']}. Idle latencies: {_fmt(r['idle_s'])} s. "
        "Each live latency under the backfill: " + _fmt(r["busy_s"]) + " s.",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def read_section(path: Path, start: str = SECTION_START, end: str = SECTION_END) -> str:
    """The section of `path` between the markers (markers included; the lanes section by default), or ""."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if start not in text or end not in text:
        return ""
    return start + text.split(start, 1)[1].split(end, 1)[0] + end + "\n"


def write_section(path: Path, section: str, start: str = SECTION_START, end: str = SECTION_END) -> None:
    """Replace the section between the markers in `path` (or append it), leaving the rest of the file as it is."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=150, help="photos the backfill queues (default 150)")
    parser.add_argument("--live", type=int, default=5, help="idle live uploads measured (default 5)")
    parser.add_argument("--live-file", default=LIVE_FILE, help=f"the live photo (default {LIVE_FILE})")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between live uploads under the backfill")
    parser.add_argument("--lane", choices=("bulk", "live"), default="bulk", help="lane the backfill publishes to")
    parser.add_argument("--bulk-concurrency", type=int, default=4, help="request threads of the bulk function")
    parser.add_argument("--bulk-nice", type=int, default=10, help="nice value of the bulk function")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds the backfill may take to drain")
    parser.add_argument("--json", type=Path, default=BENCH / "lanes.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "results.md")
    args = parser.parse_args(argv)
    result = measure(args)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    section = markdown(result)
    write_section(args.markdown, section)
    out(section)
    if result["ready"] != result["count"] or any(result["backlogs"].values()) or result["dead_letters"]:
        out("LOST WORK: see not_ready / backlogs / dead_letters in " + str(args.json))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
