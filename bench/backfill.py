"""`gallery backfill` at archive scale on the local stack: throughput, memory, and what a stop or a kill costs.

`.venv/bin/python bench/backfill.py --objects 100000` starts the emulators (Pub/Sub, fake-gcs-server without
bucket notifications, Firestore) without the function, with N tiny objects under a few prefixes in the uploads
bucket, gives ~40 % of them a ready document of the current spec (Firestore batch writes), and runs `gallery
backfill --rate 0 --json` as a subprocess over the same bucket in the scenarios below, each time counting every
message on a pull subscription of the bulk topic created before the run (and drained while it runs):

1. ``full``: one uninterrupted run (and ``full_concurrency_100``: the same with 100 publishes in flight);
2. ``sigterm``: a run sent SIGTERM once its checkpoint is about half way, then the same command again (it resumes);
3. ``sigkill``: the same with SIGKILL instead (the resumed run takes the dead holder's checkpoint over at once).

A dry run reads every document once before them (it measures a scan that publishes nothing).

Firestore is Google's emulator (the gcloud CLI's ``cloud-firestore-emulator`` component) when it is installed,
``--firestore node`` the local stack's: that one copies the whole collection (immer) for every document it writes
and for the first read of every missing document, so its time per write and per first read grows with the
collection (at 20,000 objects on a busy machine, the first read of their documents took it 149 s).

A finished backfill starts over, so each scenario publishes every pending object again (nothing processes them).

The objects are loaded by fake-gcs-server at its start (``-data``), written there as files: its memory backend
finds an object's earlier generations by scanning the whole bucket, under one lock, on every upload, so uploading
the bucket takes time quadratic in its size (about 20 ms per upload at 20,000 objects on a shared 2-CPU machine;
its load at start does the same scan without the HTTP round trips, several times faster). Its listing costs a sort
of the whole bucket per page, so at 100,000 objects a part of each run's time is the emulator's listing. The
counting subscription is drained while the backfill runs: our Pub/Sub emulator rescans every unacknowledged
message on each publish, which a growing backlog would turn into the measured cost.
Per scenario: objects listed, classified and published per second (this run's objects over its wall time,
process start included), the backfill process's peak RSS (VmHWM, read every 0.1 s) and CPU time, and per
object name the duplicates, the missing and the unexpected messages. Each run of the bench updates its entry
(by N) in bench/backfill.json and rewrites bench/backfill.md from all entries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
GALLERY = Path(sys.executable).with_name("gallery")
PROJECT = "gallery-bench"
UPLOADS = "gallery-uploads"
BULK_TOPIC = f"projects/{PROJECT}/topics/gallery-bulk-events"
PREFIXES = ("archive/2019/", "archive/2020/", "archive/2021/", "camera-roll/", "scans/")
DONE_SHARE = 0.4
GOOGLE_FIRESTORE = Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator")


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Stack:
    """The three emulators on free 127.0.0.1 ports; fake-gcs-server publishes no bucket notifications."""

    def __init__(self, log_dir: Path, data_dir: Path, firestore: str) -> None:
        from gallery_devstack import processes

        self.log_dir = log_dir
        self.pubsub_port = processes.free_port()
        self.gcs_port = processes.free_port()
        self.firestore_port = processes.free_port()
        gcs = processes.fake_gcs_server(
            port=self.gcs_port, log_dir=log_dir, extra_args=("-log-level", "warn", "-data", str(data_dir))
        )
        gcs.ready_timeout = 7200.0  # it loads the objects before it listens
        self.procs = [
            processes.pubsub_emulator(port=self.pubsub_port, log_dir=log_dir, log_level="WARNING"),
            gcs,
            google_firestore_emulator(self.firestore_port, log_dir)
            if firestore == "google"
            else processes.firestore_emulator(port=self.firestore_port, log_dir=log_dir),
        ]

    @property
    def env(self) -> dict[str, str]:
        return {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.gcs_port}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.pubsub_port}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.firestore_port}",
            "UPLOADS_BUCKET": UPLOADS,
            "RENDITIONS_BUCKET": "gallery-renditions",
            "PHOTOS_COLLECTION": "photos",
            "PUBSUB_BULK_TOPIC": BULK_TOPIC,
            "PUBSUB_TOPIC": f"projects/{PROJECT}/topics/gallery-uploads-events",
        }

    def start(self) -> None:
        for proc in self.procs:
            proc.start()
        os.environ.update(self.env)  # the Google clients of this process
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        pubsub_v1.PublisherClient().create_topic(name=BULK_TOPIC)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def http(self) -> Any:
        import requests

        return requests.Session()

    def write_env_file(self, path: Path) -> Path:
        path.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        return path


def google_firestore_emulator(port: int, log_dir: Path) -> Any:
    """Google's Firestore emulator (the gcloud CLI's component) on 127.0.0.1."""
    from gallery_devstack.processes import ManagedProcess

    return ManagedProcess("google-firestore-emulator", [str(GOOGLE_FIRESTORE), "start", "--host=127.0.0.1",
                          f"--port={port}"], port=port, log_dir=log_dir, ready_timeout=120.0)  # fmt: skip


def object_names(count: int) -> list[str]:
    return [f"{PREFIXES[i % len(PREFIXES)]}{i // len(PREFIXES):07d}.jpg" for i in range(count)]


def write_objects(data_dir: Path, count: int) -> None:
    """`count` tiny JPEG-named files spread over PREFIXES, for fake-gcs-server to load into the uploads bucket."""
    bucket = data_dir / UPLOADS
    for prefix in PREFIXES:
        (bucket / prefix).mkdir(parents=True, exist_ok=True)

    def write(name: str) -> None:
        (bucket / name).write_bytes(b"\xff\xd8\xff\xd9")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, object_names(count), chunksize=256))


def generations(stack: Stack) -> dict[str, int]:
    """Every object of the uploads bucket with its generation (one listing, pages of 1000)."""
    session, found, token = stack.http(), {}, None
    while True:
        params = {"maxResults": 1000, "fields": "items(name,generation),nextPageToken"}
        response = session.get(
            f"{stack.env['STORAGE_EMULATOR_HOST']}/storage/v1/b/{UPLOADS}/o",
            params={**params, **({"pageToken": token} if token else {})},
        )
        response.raise_for_status()
        body = response.json()
        found.update({item["name"]: int(item["generation"]) for item in body.get("items", [])})
        token = body.get("nextPageToken")
        if not token:
            return found


def mark_done(generations: dict[str, int], spec_version: str, every: float = DONE_SHARE) -> set[str]:
    """Ready documents of the current spec for about `every` of the objects (batch writes of 500)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from gallery.ids import photo_id

    db = firestore.Client(project=PROJECT, credentials=AnonymousCredentials())
    photos = db.collection("photos")
    names = sorted(generations)
    step = round(1 / every * 1000)
    done = {n for i, n in enumerate(names) if (i * 1000) % step < 1000}
    now = datetime.now(UTC)
    chunks = [sorted(done)[i : i + 500] for i in range(0, len(done), 500)]

    def write(chunk: list[str]) -> None:
        batch = db.batch()
        for name in chunk:
            pid = photo_id(UPLOADS, name)
            batch.set(
                photos.document(pid),
                {
                    "photo_id": pid,
                    "source": {"bucket": UPLOADS, "name": name, "generation": generations[name]},
                    "status": "ready",
                    "spec_version": spec_version,
                    "attempts": 1,
                    "error": None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        batch.commit()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, chunks))
    return done


def spec_version() -> str:
    from gallery.service import ServiceConfig
    from gallery_cli.settings import ToolSettings

    return ServiceConfig.from_settings(ToolSettings.from_env()).spec.version


def checkpoint_id(spec: str) -> str:
    from gallery_cli.backfill_cursor import CheckpointKey

    return CheckpointKey(UPLOADS, "", BULK_TOPIC, spec, None, False).id


def read_checkpoint(checkpoint: str) -> dict[str, Any]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    db = firestore.Client(project=PROJECT, credentials=AnonymousCredentials())
    snap = db.collection("backfills").document(checkpoint).get()
    return snap.to_dict() or {} if snap.exists else {}


@dataclass
class Run:
    """One `gallery backfill` process."""

    exit_code: int
    seconds: float
    peak_rss_mib: float
    cpu_seconds: float
    report: dict[str, Any] | None
    stderr: str

    @property
    def found(self) -> int:
        return int((self.report or {}).get("this_run", {}).get("found", 0))

    def as_dict(self) -> dict[str, Any]:
        report = self.report or {}
        return {
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "found_this_run": self.found,
            "queued_this_run": int(report.get("this_run", {}).get("queued", 0)),
            "objects_per_second": round(self.found / self.seconds, 1) if self.seconds and self.found else None,
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "resumed_after": report.get("resumed_after"),
            "stopped": report.get("stopped"),
            "complete": report.get("complete"),
        }


def high_water_kib(pid: int) -> int:
    """The process's peak resident set so far (VmHWM of its own address space; 0 once it has exited).

    Not ``ru_maxrss``: Linux carries the high-water mark of the address space a process had before its exec (here
    this bench's own, at the fork) into it, so that figure is never below the parent's size."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((ln for ln in status.splitlines() if ln.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1])


def run_backfill(
    env_file: Path,
    folder: Path,
    *args: str,
    interrupt: Callable[[], bool] | None = None,
    sig: signal.Signals = signal.SIGTERM,
) -> Run:
    """Run the command to its end, or send it `sig` once `interrupt()` holds."""
    argv = [str(GALLERY), "backfill", "--rate", "0", "--json", *args, "--env-file", str(env_file)]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST") and not k.startswith("PUBSUB_")}
    stdout_path, stderr_path = folder / "stdout.json", folder / "stderr.txt"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=stdout, stderr=stderr)
        peak_kib, sent = 0, False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, high_water_kib(proc.pid))
            if interrupt is not None and not sent and interrupt():
                proc.send_signal(sig)
                sent = True
            time.sleep(0.1)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = stdout_path.read_text()
    report = json.loads(text) if text.strip() else None
    return Run(
        exit_code=proc.returncode,
        seconds=seconds,
        peak_rss_mib=peak_kib / 1024,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        report=report,
        stderr=stderr_path.read_text(),
    )


class Counting:
    """A pull subscription on the bulk topic, drained on a thread while the backfill runs: every message counted
    by object name and acknowledged at once (its ack deadline is long enough that nothing is redelivered)."""

    def __init__(self, name: str) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        self.path = f"projects/{PROJECT}/subscriptions/{name}"
        self.client = pubsub_v1.SubscriberClient()
        self.client.create_subscription(name=self.path, topic=BULK_TOPIC, ack_deadline_seconds=600)
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _pull_once(self) -> int:
        response = self.client.pull(subscription=self.path, max_messages=1000, timeout=2)
        received = response.received_messages
        for m in received:
            self.counts[m.message.attributes["objectId"]] += 1
        if received:
            self.client.acknowledge(subscription=self.path, ack_ids=[m.ack_id for m in received])
        return len(received)

    def _drain(self) -> None:
        while not self._stop.is_set():
            self._pull_once()

    def count(self) -> Counter[str]:
        """Stop draining, pull what is left, delete the subscription."""
        self._stop.set()
        self._thread.join()
        while self._pull_once():
            pass
        self.client.delete_subscription(subscription=self.path)
        return self.counts


def compare(counts: Counter[str], pending: set[str]) -> dict[str, int]:
    return {
        "messages": sum(counts.values()),
        "pending_objects": len(pending),
        "duplicates": sum(n - 1 for name, n in counts.items() if name in pending and n > 1),
        "objects_sent_twice_or_more": sum(1 for name, n in counts.items() if name in pending and n > 1),
        "missing": len(pending - set(counts)),
        "unexpected": sum(n for name, n in counts.items() if name not in pending),
    }


def half_way(checkpoint: str, total: int) -> Callable[[], bool]:
    def reached() -> bool:
        doc = read_checkpoint(checkpoint)
        return doc.get("status") == "running" and int(doc.get("counters", {}).get("found", 0)) >= total // 2

    return reached


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "shared"))
    result: dict[str, Any] = {
        "objects": args.objects,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "firestore_emulator": args.firestore,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "page_size": 500,
        "concurrency": 16,
    }
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        folder = Path(tmp)
        (folder / "logs").mkdir()
        write_objects(folder / "data", args.objects)
        stack = Stack(folder / "logs", folder / "data", args.firestore)
        started = time.monotonic()
        stack.start()
        try:
            env_file = stack.write_env_file(folder / "stack.env")
            listed = generations(stack)
            assert len(listed) == args.objects, len(listed)
            result["stack_start_with_objects_seconds"] = round(time.monotonic() - started, 1)
            out(f"{len(listed)} objects in the bucket after {result['stack_start_with_objects_seconds']} s")
            spec = spec_version()
            started = time.monotonic()
            done = mark_done(listed, spec)
            pending = set(listed) - done
            result["done"], result["pending"] = len(done), len(pending)
            result["mark_done_seconds"] = round(time.monotonic() - started, 1)
            out(f"{len(done)} ready documents written in {result['mark_done_seconds']} s; {len(pending)} pending")
            checkpoint = checkpoint_id(spec)
            scenarios: dict[str, Any] = {}

            # A dry run reads every document once (the local stack's emulator is slow at a first read) and measures
            # a scan that publishes nothing.
            dry = run_backfill(env_file, folder, "--dry-run")
            result["dry_run"] = dry.as_dict()
            out(f"dry run: {json.dumps(result['dry_run'])}")
            for name, extra in (("full", ()), ("full_concurrency_100", ("--concurrency", "100"))):
                counting = Counting(f"bench-{name}")
                full = run_backfill(env_file, folder, *extra)
                scenarios[name] = {"runs": [full.as_dict()], **compare(counting.count(), pending)}
                out(f"{name}: {json.dumps(scenarios[name])}")

            for name, sig in (("sigterm", signal.SIGTERM), ("sigkill", signal.SIGKILL)):
                counting = Counting(f"bench-{name}")
                first = run_backfill(env_file, folder, interrupt=half_way(checkpoint, args.objects), sig=sig)
                at_stop = read_checkpoint(checkpoint)
                second = run_backfill(env_file, folder)
                scenarios[name] = {
                    "runs": [first.as_dict(), second.as_dict()],
                    "checkpoint_after_stop": {
                        "status": at_stop.get("status"),
                        "found": at_stop.get("counters", {}).get("found"),
                        "queued": at_stop.get("counters", {}).get("queued"),
                    },
                    "resume_note": next((ln for ln in second.stderr.splitlines() if "resuming after" in ln), None),
                    "took_over": "is gone; taking its checkpoint over" in second.stderr,
                    **compare(counting.count(), pending),
                }
                out(f"{name}: {json.dumps(scenarios[name])}")
            result["scenarios"] = scenarios
        finally:
            stack.stop()
    full_run = result["scenarios"]["full"]["runs"][0]
    fast_run = result["scenarios"]["full_concurrency_100"]["runs"][0]
    result["objects_per_second"] = full_run["objects_per_second"]
    result["objects_per_second_concurrency_100"] = fast_run["objects_per_second"]
    result["peak_rss_mib"] = max(r["peak_rss_mib"] for s in result["scenarios"].values() for r in s["runs"])
    result["hours_for_10m"] = round(10_000_000 / full_run["objects_per_second"] / 3600, 1)
    result["hours_for_10m_concurrency_100"] = round(10_000_000 / fast_run["objects_per_second"] / 3600, 1)
    return result


def markdown(results: dict[str, Any]) -> str:
    rows = sorted(results.values(), key=lambda r: (r["objects"], r.get("firestore_emulator", "node")))
    lines = [
        "# `gallery backfill` at archive scale (`bench/backfill.py`)",
        "",
        "The local stack without the function and without bucket notifications; tiny objects under five prefixes, "
        f"{DONE_SHARE:.0%} of them with a ready document of the current spec; `gallery backfill --rate 0 --json` "
        "(pages of 500, 16 publishes in flight) as a subprocess; every message counted on a pull subscription of "
        "the bulk topic. Throughput: this run's objects listed, classified and published, over its wall time "
        "(process start included). Peak RSS: the backfill process's VmHWM (read every 0.1 s while it runs). "
        "fake-gcs-server loads the objects at its start (`-data`), the counting subscription is drained while the "
        "backfill runs, and the Firestore emulator is the one the machine column names (see the module docstring "
        "for why). A dry run reads every object once before the measured runs; `sigterm` and `sigkill` stop the "
        "first run once its checkpoint has passed half the bucket, then run the same command again.",
        "",
        "| objects | machine, Firestore emulator (load average at start) | dry run objects/s | "
        "objects/s, 16 / 100 in flight | CPU s per 1000 objects | peak RSS MiB (any run) | "
        "10 M objects at this rate, 16 / 100 in flight |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        full = r["scenarios"]["full"]["runs"][0]
        cpu = full["cpu_seconds"] / max(1, full["found_this_run"]) * 1000
        lines.append(
            f"| {r['objects']:,} | {r['machine']}, {r.get('firestore_emulator', 'node')} Firestore emulator "
            f"({r['load_average_at_start'][0]}) | "
            f"{r['dry_run']['objects_per_second']:,.0f} | {full['objects_per_second']:,.0f} / "
            f"{r['objects_per_second_concurrency_100']:,.0f} | {cpu:.2f} | {r['peak_rss_mib']:.0f} | "
            f"{r['hours_for_10m']} h / {r['hours_for_10m_concurrency_100']} h |"
        )
    lines += [
        "",
        "| objects | scenario | runs: exit code, seconds, objects this run, peak RSS MiB | "
        "pending | messages | duplicates | missing | unexpected |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        for name, s in r["scenarios"].items():
            runs = "; ".join(
                f"{x['exit_code']}, {x['seconds']:.0f} s, {x['found_this_run']:,}, {x['peak_rss_mib']:.0f}"
                for x in s["runs"]
            )
            lines.append(
                f"| {r['objects']:,} | {name} | {runs} | {s['pending_objects']:,} | {s['messages']:,} | "
                f"{s['duplicates']} | {s['missing']} | {s['unexpected']} |"
            )
    return "\n".join(lines) + "\n"


def rewrite_markdown(json_path: Path, markdown_path: Path) -> None:
    """bench/backfill.md from the results already in bench/backfill.json."""
    markdown_path.write_text(markdown(json.loads(json_path.read_text())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=20_000, help="objects in the uploads bucket (default 20000)")
    parser.add_argument(
        "--firestore",
        choices=("google", "node"),
        default="google" if GOOGLE_FIRESTORE.exists() else "node",
        help="Firestore emulator: Google's (gcloud component; the default when installed) or the local stack's",
    )
    parser.add_argument("--json", type=Path, default=BENCH / "backfill.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "backfill.md")
    args = parser.parse_args(argv)
    result = measure(args)
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results[f"{args.objects}-{args.firestore}"] = result
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    args.markdown.write_text(markdown(results))
    out(markdown(results))
    scenarios = result["scenarios"].values()
    lost = any(s["missing"] or s["unexpected"] for s in scenarios)
    if lost or result["scenarios"]["sigterm"]["duplicates"]:
        out("a pending object was missed, a done one published, or a graceful stop re-sent one: see the JSON")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
