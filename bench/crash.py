"""Crash recovery on the local stack: how long photos in flight wait when the function dies or a service freezes.

`make bench` runs it after bench/lanes.py (or `.venv/bin/python bench/crash.py --help`). It starts the whole local
stack with `make run`'s settings (retry backoff 1-30 s, 10 deliveries before a dead letter, the default 30 s lease,
MAX_ATTEMPTS 5) on free ports and runs `tests/crash_scenario.py`:

1. a burst of `--first` camera photos; while they render, the live function's gunicorn worker is SIGKILLed, and
   once a new worker renders again the whole function process, which the local stack restarts;
2. a burst of `--second` photos; the Pub/Sub emulator's push loop is restarted, then the Firestore emulator and
   Cloud Storage are frozen with SIGSTOP for `--freeze` seconds each;
3. one fresh upload once everything has settled.

It reports how many photos ended ready / failed, how long after the last fault the last photo was ready (the target
is 180 s), how long each burst took to settle after its own faults, and the fresh upload's latency. The result goes
to bench/crash.json and into the crash section of bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lanes import out, write_section

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
FILES = (
    "samples/large/landscape_20mp.jpg",
    "samples/orientation/landscape_1.jpg",
    "samples/large/dragonfly_13mp_4x3_progressive.jpg",
    "samples/gps_DSCN0010.jpg",
    "samples/large/portrait_10mp_progressive.jpg",
    "samples/orientation/portrait_1.jpg",
    "samples/large/landscape_20mp_progressive.jpg",
    "samples/cmyk.jpg",
)
SECTION_START, SECTION_END = "<!-- crash:start -->", "<!-- crash:end -->"
TARGET_SECONDS = 180.0


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from gallery_devstack.stack import DevStack, DevStackConfig
    from tests.crash_scenario import run_crash_scenario

    photos = [(ROOT / f).read_bytes() for f in FILES]
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        # The optimize pass off: this measures how the live path recovers, and an optimize swap landing while the
        # scenario lists the bucket would count its new files as strays.
        env = {"LOG_LEVEL": "WARNING", "OPTIMIZE": "false"}
        stack = DevStack(DevStackConfig(log_dir=Path(tmp) / "logs", function_env=env))
        stack.start()
        try:
            started = time.monotonic()
            run = run_crash_scenario(
                stack, photos, first_burst=args.first, second_burst=args.second, freeze_seconds=args.freeze
            )
        finally:
            stack.stop()
    first = [n for n in run.names if "/a-" in n]
    second = [n for n in run.names if "/b-" in n]
    kills_end = max(f.ended for f in run.faults if f.what.startswith("SIGKILL"))
    statuses = run.statuses()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "photos": len(run.names),
        "first_burst": len(first),
        "second_burst": len(second),
        "freeze_s": args.freeze,
        "faults": [{"what": f.what, "at_s": round(f.started - started, 1)} for f in run.faults],
        "ready": statuses.get("ready", 0),
        "failed": statuses.get("failed", 0),
        "other": {k: v for k, v in statuses.items() if k not in ("ready", "failed")},
        "failures": {n: (d or {}).get("error") for n, d in run.docs.items() if (d or {}).get("status") != "ready"},
        "attempts_max": max(int((d or {}).get("attempts") or 0) for d in run.docs.values()),
        "requeued": sum(1 for d in run.docs.values() if (d or {}).get("dead_letters")),
        "renditions_exact": all(
            run.renditions[n] == {r["path"] for r in (d or {}).get("renditions", [])} for n, d in run.docs.items()
        ),
        "last_ready_after_last_fault_s": run.last_settled - run.last_fault_end,
        "first_burst_settled_after_kills_s": max(run.settled_at[n] for n in first) - kills_end,
        "second_burst_settled_after_freezes_s": max(run.settled_at[n] for n in second) - run.last_fault_end,
        "fresh_upload_s": run.fresh_upload_seconds,
        "fresh_status": run.fresh_status,
        "function_restarts": run.function_restarts,
    }


def markdown(r: dict[str, Any]) -> str:
    faults = "; ".join(f"{f['what']} at {f['at_s']:.0f} s" for f in r["faults"])
    lines = [
        SECTION_START,
        "## Crash recovery: photos in flight while the function dies and services freeze (`bench/crash.py`)",
        "",
        f"{r['machine']}. The local stack with `make run`'s settings (backoff 1-30 s, 10 deliveries, lease 30 s), "
        "the optimize pass off. "
        f"{r['first_burst']} camera photos uploaded in a burst, then {r['second_burst']} more; faults: {faults}.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| photos ready / failed / other | {r['ready']} / {r['failed']} / {sum(r['other'].values())} of "
        f"{r['photos']} |",
        f"| last photo ready after the last fault (target ≤ {TARGET_SECONDS:.0f} s) | "
        f"{r['last_ready_after_last_fault_s']:.0f} s |",
        f"| first burst all ready after the kills | {r['first_burst_settled_after_kills_s']:.0f} s |",
        f"| second burst all ready after the freezes | {r['second_burst_settled_after_freezes_s']:.0f} s |",
        f"| most attempts one photo used (MAX_ATTEMPTS 5) | {r['attempts_max']} |",
        f"| photos re-queued after a dead letter | {r['requeued']} |",
        f"| each photo's renditions exactly its own generation's set | {'yes' if r['renditions_exact'] else 'no'} |",
        f"| fresh upload afterwards | {r['fresh_status']} in {r['fresh_upload_s']:.2f} s |",
        f"| function main process restarts by the local stack | {r['function_restarts']} |",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=int, default=30, help="photos in the first burst (default 30)")
    parser.add_argument("--second", type=int, default=15, help="photos in the second burst (default 15)")
    parser.add_argument("--freeze", type=float, default=10.0, help="seconds Firestore and Cloud Storage freeze")
    parser.add_argument("--json", type=Path, default=BENCH / "crash.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "results.md")
    args = parser.parse_args(argv)
    result = measure(args)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    section = markdown(result)
    write_section(args.markdown, section, SECTION_START, SECTION_END)
    out(section)
    recovered = result["ready"] == result["photos"] and result["fresh_status"] == "ready"
    if not recovered or result["last_ready_after_last_fault_s"] > TARGET_SECONDS:
        out("NOT RECOVERED in time: see bench/crash.json")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
