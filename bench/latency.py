"""Upload latency on the idle local stack: when a photo becomes paintable (paint first) and when it is ready.

`make bench` runs it (or `.venv/bin/python bench/latency.py --help`). It starts the local stack as `make run` does,
warms the function up, then uploads each photo `--repeat` times, one at a time, and measures from the upload's
return:

- paintable: the document carries the dimensions, placeholder and a rendition that exists (`preview`, for photos
  of at least PAINT_FIRST_MEGAPIXELS; for smaller ones, `ready`);
- ready: the whole live set is stored and listed;
- optimized: the optimize pass (bulk lane) swapped the document to its AVIF set; the next upload waits for it, so
  every upload meets an idle stack;

and reports the function's own timings from the document (`paint_ms`, `render_ms`, `total_ms`). Medians go to
bench/latency.json and into the latency section of bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
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
    "samples/large/landscape_20mp.jpg@18",  # the same photo resized to 18 and 1 megapixels (JPEG Q92)
    "samples/large/landscape_20mp.jpg@1",
    "samples/large/dragonfly_13mp_4x3_progressive.jpg",
    "samples/orientation/landscape_1.jpg",
    "samples/iphone_13_pro_max.heic",
    "clip:1080p_h264_audio",  # videos made by bench/video.py from the 20 MP photo (4 s, 30 fps)
    "clip:2160p_hevc_hlg_portrait",
)
STAGE_KEYS = ("paint_ms", "begin_ms", "download_ms", "decode_ms", "render_ms", "store_ms", "total_ms")
OPTIMIZE_KEYS = ("optimized_s", "optimize_render_ms", "served_bytes_before", "served_bytes_after")
SECTION_START, SECTION_END = "<!-- latency:start -->", "<!-- latency:end -->"


def _photo(spec: str) -> tuple[str, bytes]:
    """The name and bytes of `spec`: a file, ``FILE@MP``: the file resized to MP megapixels (JPEG Q92), or
    ``clip:KIND``: a video bench/video.py makes."""
    if spec.startswith("clip:"):
        from video import make_clip  # bench/video.py, beside this file

        clip = make_clip(spec.removeprefix("clip:"))
        return clip.name, clip.read_bytes()
    path, _, megapixels = spec.partition("@")
    data = (ROOT / path).read_bytes()
    if not megapixels:
        return Path(path).name, data
    from gallery.engine.vips import pyvips

    image = pyvips.Image.new_from_buffer(data, "")
    scale = (float(megapixels) * 1e6 / (image.width * image.height)) ** 0.5
    resized = image.resize(scale, kernel="lanczos3")
    return f"{Path(path).stem}_{megapixels}mp.jpg", bytes(resized.jpegsave_buffer(Q=92))


def _upload_and_watch(db: Any, stack: Any, bucket: Any, name: str, data: bytes) -> dict[str, Any]:
    from gallery.ids import photo_id

    ref = db.collection(stack.config.photos_collection).document(photo_id(bucket.name, name))
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
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
            ready = time.monotonic() - started
            return {"paintable_s": paintable, "ready_s": ready, **doc["timings"], **_optimized(ref, started)}
        time.sleep(0.005)
    raise TimeoutError(f"{name} not ready after 300 s")


def _optimized(ref: Any, started: float) -> dict[str, Any]:
    """When the optimize pass finished, and its own timings (nothing when the pass is off)."""
    while time.monotonic() - started < 600:
        snap = ref.get()
        state = (snap.to_dict() or {}).get("optimization")
        if state is None:
            return {}
        if state.get("status") in ("done", "failed"):
            return {
                "optimized_s": time.monotonic() - started,
                "optimize_render_ms": state.get("render_ms"),
                "served_bytes_before": state.get("served_bytes_before"),
                "served_bytes_after": state.get("served_bytes_after"),
            }
        time.sleep(0.05)
    raise TimeoutError("not optimized after 600 s")


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
                name, data = _photo(file)
                _upload_and_watch(db, stack, bucket, f"warm/{name}", data)  # first render of its kind
                runs = [_upload_and_watch(db, stack, bucket, f"latency/{i}-{name}", data) for i in range(args.repeat)]
                row = {"file": name, "runs": runs}
                for key in ("paintable_s", "ready_s", *STAGE_KEYS, *OPTIMIZE_KEYS):
                    values = [r[key] for r in runs if r.get(key) is not None]
                    row[key] = statistics.median(values) if values else None
                rows.append(row)
                out(
                    f"{row['file']}: paintable {row['paintable_s']:.3f} s, ready {row['ready_s']:.3f} s, "
                    f"optimized {row['optimized_s'] or 0:.3f} s (median of {args.repeat})"
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
        "after a warm-up upload; medians in ms, from the upload's return. Paintable: the document carries a preview "
        "(photos of 4 MP or more) or is ready. The function's stages come from the document's `timings`; optimized: "
        "the bulk lane's optimize pass has swapped the AVIF set in (the next upload waits for it).",
        "",
        "| photo | paintable | ready | function: paint | begin | download | decode | render (decode incl.) | store | "
        "total | optimized | optimize render | served bytes live → optimized |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        optimized = row.get("optimized_s")
        before, after = row.get("served_bytes_before"), row.get("served_bytes_after")
        served = f"{before:,.0f} → {after:,.0f}" if before and after else "-"
        stages = " | ".join(_ms(row.get(key)) for key in STAGE_KEYS)
        lines.append(
            f"| {row['file']} | {_ms(row['paintable_s'] * 1000)} | {_ms(row['ready_s'] * 1000)} | {stages} | "
            f"{_ms(optimized * 1000 if optimized else None)} | {_ms(row.get('optimize_render_ms'))} | {served} |"
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
