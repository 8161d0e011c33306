"""Upload latency on the idle local stack: when a photo becomes paintable (paint first) and when it is ready.

`make bench` runs it (or `.venv/bin/python bench/latency.py --help`). It starts the local stack as `make run` does,
warms the function up, then uploads each photo `--repeat` times, one at a time, and measures from the upload's
return:

- paintable: the document carries the dimensions, placeholder and a rendition that exists (`preview`, for photos
  of at least PAINT_FIRST_MEGAPIXELS; for smaller ones, `ready`);
- ready: the whole set is stored and listed;

and reports the function's own timings from the document (`paint_ms`, `render_ms`, `total_ms`). Medians go to
bench/latency.json and into the latency section of bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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
    "samples/large/dragonfly_13mp_4x3_progressive.jpg",
    "samples/orientation/landscape_1.jpg",
    "samples/iphone_13_pro_max.heic",
)
SECTION_START, SECTION_END = "<!-- latency:start -->", "<!-- latency:end -->"


def _upload_and_watch(db: Any, stack: Any, bucket: Any, name: str, data: bytes) -> dict[str, Any]:
    from gallery.ids import photo_id

    ref = db.collection(stack.config.photos_collection).document(photo_id(bucket.name, name))
    content_type = "image/heic" if name.endswith(".heic") else "image/jpeg"
    bucket.blob(name).upload_from_string(data, content_type=content_type)
    started = time.monotonic()
    paintable: float | None = None
    while time.monotonic() - started < 300:
        snap = ref.get()
        doc = snap.to_dict() if snap.exists else None
        status = (doc or {}).get("status")
        if paintable is None and (status == "ready" or (doc or {}).get("preview")):
            paintable = time.monotonic() - started
        if status in ("ready", "failed"):
            assert doc is not None
            if status != "ready":
                raise RuntimeError(f"{name} failed: {doc.get('error')}")
            return {"paintable_s": paintable, "ready_s": time.monotonic() - started, **doc["timings"]}
        time.sleep(0.005)
    raise TimeoutError(f"{name} not ready after 300 s")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from gallery_devstack.stack import DevStack, DevStackConfig
    from tests.crash_scenario import firestore_client

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        stack = DevStack(DevStackConfig(log_dir=Path(tmp) / "logs", function_env={"LOG_LEVEL": "WARNING"}))
        stack.start()
        try:
            db = firestore_client(stack)
            bucket = stack.storage_client().bucket(stack.config.uploads_bucket)
            for file in args.files:
                data = (ROOT / file).read_bytes()
                _upload_and_watch(db, stack, bucket, f"warm/{Path(file).name}", data)  # first render of its kind
                runs = [
                    _upload_and_watch(db, stack, bucket, f"latency/{i}-{Path(file).name}", data)
                    for i in range(args.repeat)
                ]
                row = {"file": Path(file).name, "runs": runs}
                for key in ("paintable_s", "ready_s", "paint_ms", "render_ms", "total_ms"):
                    values = [r[key] for r in runs if r.get(key) is not None]
                    row[key] = statistics.median(values) if values else None
                rows.append(row)
                out(
                    f"{row['file']}: paintable {row['paintable_s']:.3f} s, ready {row['ready_s']:.3f} s "
                    f"(median of {args.repeat})"
                )
        finally:
            stack.stop()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "repeat": args.repeat,
        "rows": rows,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        SECTION_START,
        "## Upload latency on the idle local stack (`bench/latency.py`)",
        "",
        f"{result['machine']}. The default settings; each photo uploaded {result['repeat']} times, one at a time, "
        "after a warm-up upload; medians, from the upload's return. Paintable: the document carries a preview "
        "(photos of 4 MP or more) or is ready.",
        "",
        "| photo | paintable (ms) | ready (ms) | function: paint_ms | render_ms | total_ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['file']} | {_ms(row['paintable_s'] * 1000)} | {_ms(row['ready_s'] * 1000)} | "
            f"{_ms(row['paint_ms'])} | {_ms(row['render_ms'])} | {_ms(row['total_ms'])} |"
        )
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="uploads per photo (default 5)")
    parser.add_argument("--files", nargs="+", default=list(FILES), help="photos, relative to the repository")
    parser.add_argument("--json", type=Path, default=BENCH / "latency.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "results.md")
    args = parser.parse_args(argv)
    result = measure(args)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    section = markdown(result)
    write_section(args.markdown, section, SECTION_START, SECTION_END)
    out(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
