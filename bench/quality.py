"""Bytes at equal visual quality: the project's rendition sets against sharp, scored with SSIMULACRA2.

Part of `make bench` (bench/run.py); alone: `.venv/bin/python bench/quality.py [PHOTO...]`.

Methods, each rendering the same widths from the same photo, one libvips thread each:

- live set: `gallery.engine.render` with the default settings, what a photo is `ready` with (JPEG at the fixed
  RENDITION_QUALITY, no search);
- optimized set: what the optimize pass leaves on the document (gallery.optimize_plan): the AVIF renditions it
  renders (OPTIMIZE_QUALITY_TARGET, OPTIMIZE_AVIF_EFFORT), which a current browser downloads, plus the live
  set's JPEG renditions up to FALLBACK_MAX_WIDTH, stored as the fallback; its CPU is the optimize pass's alone;
- previous default: the set photos were ready with before the optimize pass (AVIF effort 0 searched to
  SSIMULACRA2 75 with a JPEG fallback at every width), rendered in one pass;
- sharp WebP Q80 (effort 4, sharp's default) and sharp AVIF with sharp's defaults (quality 50, effort 4,
  4:4:4), one sharp pipeline per width (bench/sharp_worker.mjs).

Every rendition is decoded and scored with SSIMULACRA2 (gallery.metrics.ssimulacra2, checked against the
reference tool in tests/unit/test_ssimulacra2.py) against a high-quality downscale of the same size: the whole
photo, decoded at full size, resized with lanczos3. CPU is the best of `--repeat` runs of the whole set per
photo (decode, resizes, search, encodes). A HEIC photo, which sharp's prebuilt libvips cannot decode, is given to
sharp as a JPEG (Q95, 4:4:4) of the engine's full decode, and that decode is the reference. Width classes:
small 320-512, medium 768-1280, large 1600-2560.

Cost per million photos, from the same figures: CPU hours to render them; terabytes stored (every format of
the set); terabytes sent per thousand views of each photo, a view being one rendition of the format a current
browser picks (AVIF when present), its width drawn evenly from the set.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DEFAULT_FILES = (
    "samples/large/landscape_20mp.jpg",  # landscape_20mp_progressive.jpg holds the same pixels
    "samples/large/dragonfly_13mp_4x3_progressive.jpg",
    "samples/large/portrait_10mp_progressive.jpg",
)
CLASSES = {"small": (0, 512), "medium": (513, 1280), "large": (1281, 1 << 30)}
SERVED_PREFERENCE = ("avif", "webp", "jpeg")
LIVE_SET = "live set"
OPTIMIZED_SET = "optimized set"
PREVIOUS_SET = "previous default"
ENGINE_METHODS = (LIVE_SET, OPTIMIZED_SET, PREVIOUS_SET)
HEIF_SUFFIXES = (".heic", ".heif")

Result = dict[str, Any]


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- workers (fresh processes, VIPS_CONCURRENCY=1) ------------------------------------------------------------


def worker_engine(job: Result) -> Result:
    """Render `job["file"]` with the spec in the job `repeat` times; write the last run's renditions."""
    from gallery.engine import render
    from gallery.engine.vips import pyvips
    from gallery.model import RenditionSpec

    data = Path(job["file"]).read_bytes()
    spec = RenditionSpec.from_dict(job["spec"])
    render(bytes(pyvips.Image.black(64, 48, bands=3).jpegsave_buffer()), spec)
    best = math.inf
    result = None
    for _ in range(job["repeat"]):
        cpu = time.process_time()
        result = render(data, spec)
        best = min(best, time.process_time() - cpu)
    assert result is not None
    for rendition in result.renditions:
        (Path(job["out_dir"]) / f"{rendition.width}.{rendition.format}").write_bytes(rendition.data)
    return {"cpu_s": best}


def run_engine(file: str, spec: Any, repeat: int, out_dir: Path) -> Result:
    from dataclasses import asdict

    job = {"file": file, "spec": asdict(spec), "repeat": repeat, "out_dir": str(out_dir)}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "VIPS_CONCURRENCY": "1"},
        cwd=ROOT,
    )
    result: Result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_sharp(file: str, widths: Sequence[int], fmt: str, repeat: int, out_dir: Path) -> Result | None:
    """sharp's renditions of `file` written to `out_dir` (None without node); sharp's own defaults but Q80 WebP."""
    from sharp import sharp_per_width  # bench/sharp.py, beside this file

    job = {"file": file, "widths": list(widths), "quality": 80, "effort": 4, "format": fmt, "repeat": repeat}
    result = sharp_per_width({**job, "out_dir": str(out_dir)})
    return None if result is None else {"cpu_s": result["cpu_s"]}


# --- scoring ---------------------------------------------------------------------------------------------------


def full_decode(file: str) -> Any:
    """The whole photo, upright, in sRGB: libvips, or the engine's decoder for HEIC (which libvips lacks)."""
    from gallery.engine.vips import pyvips

    if Path(file).suffix.lower() in HEIF_SUFFIXES:
        from gallery.engine.decode import decode
        from gallery.model import Limits

        return decode(Path(file).read_bytes(), 1 << 16, Limits()).image.copy_memory()
    return pyvips.Image.new_from_file(file).autorot().copy_memory()


def sharp_source(file: str, tmp: Path) -> str:
    """`file`, or for HEIC a JPEG (Q95, 4:4:4) of its full decode, which sharp can read."""
    if Path(file).suffix.lower() not in HEIF_SUFFIXES:
        return file
    target = tmp / (Path(file).stem + ".jpg")
    full_decode(file).jpegsave(str(target), Q=95, subsample_mode="off")
    return str(target)


class References:
    """High-quality downscales of one photo, by exact size: full decode, lanczos3."""

    def __init__(self, file: str) -> None:
        self.full = full_decode(file)
        self.cache: dict[tuple[int, int], Any] = {}

    def get(self, width: int, height: int) -> Any:
        from gallery.engine.quality import to_array

        if (width, height) not in self.cache:
            full = self.full
            resized = full.resize(width / full.width, vscale=height / full.height, kernel="lanczos3")
            self.cache[(width, height)] = to_array(resized.cast("uchar").copy_memory())
        return self.cache[(width, height)]


def score_dir(directory: Path, fmt: str, refs: References) -> list[Result]:
    from gallery.engine.quality import to_array
    from gallery.engine.vips import pyvips
    from gallery.metrics.ssimulacra2 import ssimulacra2

    rows = []
    for path in sorted(directory.glob(f"*.{fmt}"), key=lambda p: int(p.stem)):
        data = path.read_bytes()
        image = pyvips.Image.new_from_buffer(data, "").copy_memory()
        if image.bands == 4:
            image = image.flatten(background=[255, 255, 255])
        score = ssimulacra2(refs.get(image.width, image.height), to_array(image))
        rows.append({"width": image.width, "height": image.height, "bytes": len(data), "score": score})
    return rows


def width_class(width: int) -> str:
    return next(name for name, (low, high) in CLASSES.items() if low <= width <= high)


# --- the run ---------------------------------------------------------------------------------------------------


def measure(files: Sequence[str], repeat: int) -> Result:
    from dataclasses import replace

    from gallery.service import ServiceConfig
    from gallery.settings import Settings

    config = ServiceConfig.from_settings(Settings.from_env())
    live = config.spec
    if config.optimize is None:
        raise SystemExit("bench/quality.py compares the optimized set: run it with OPTIMIZE=true")
    optimize, fallback_max = config.optimize.spec, config.optimize.fallback_max_width
    previous = replace(live, formats=("avif", "jpeg"), quality_target=75.0, avif_effort=0)
    photos: list[Result] = []
    for file in files:
        name = Path(file).name
        out(f"{name}:")
        refs = References(file)
        methods: list[Result] = []
        with tempfile.TemporaryDirectory() as tmp:
            dirs = {label: Path(tmp) / label.replace(" ", "_") for label in (*ENGINE_METHODS, "webp", "avif")}
            for directory in dirs.values():
                directory.mkdir()
            cpu = {
                label: run_engine(file, sp, repeat, dirs[label])["cpu_s"]
                for label, sp in ((LIVE_SET, live), (OPTIMIZED_SET, optimize), (PREVIOUS_SET, previous))
            }
            scored = {
                LIVE_SET: {fmt: score_dir(dirs[LIVE_SET], fmt, refs) for fmt in live.formats},
                PREVIOUS_SET: {fmt: score_dir(dirs[PREVIOUS_SET], fmt, refs) for fmt in previous.formats},
            }
            scored[OPTIMIZED_SET] = {
                "avif": score_dir(dirs[OPTIMIZED_SET], "avif", refs),
                **{
                    fmt: [r for r in rows if r["width"] <= fallback_max] or rows[:1]
                    for fmt, rows in scored[LIVE_SET].items()
                    if fmt != "avif"
                },
            }
            source = sharp_source(file, Path(tmp))
            for label, fmt, times in (("sharp WebP Q80", "webp", repeat), ("sharp AVIF defaults", "avif", 1)):
                result = run_sharp(source, live.widths, fmt, times, dirs[fmt])
                if result is not None:
                    cpu[label] = result["cpu_s"]
                    scored[label] = {fmt: score_dir(dirs[fmt], fmt, refs)}
            for label, per_format in scored.items():
                served = next(f for f in SERVED_PREFERENCE if f in per_format)
                methods.append({"method": label, "cpu_s": cpu[label], "served": served, "formats": per_format})
                scores = [r["score"] for r in per_format[served]]
                out(
                    f"  {label:<28} CPU {cpu[label]:.2f} s  served {served} "
                    f"{sum(r['bytes'] for r in per_format[served]):,} B  stored "
                    f"{sum(r['bytes'] for rows in per_format.values() for r in rows):,} B  "
                    f"SSIMULACRA2 mean {sum(scores) / len(scores):.1f} min {min(scores):.1f}"
                )
        photos.append({"file": name, "methods": methods})
    shipped = {path.name for path in (ROOT / "samples").rglob("*")}
    held_out = [Path(f).name for f in files if Path(f).name not in shipped]
    return {
        "widths": list(live.widths),
        "formats": list(live.formats),
        "live_quality": live.quality,
        "optimize_quality_target": optimize.quality_target,
        "optimize_avif_effort": optimize.avif_effort,
        "fallback_max_width": fallback_max,
        "held_out": held_out,
        "photos": photos,
    }


def summarise(results: Result) -> list[Result]:
    """Per method and width class over every photo: bytes, score mean/min (of the format served and of each)."""
    rows: list[Result] = []
    labels = list(dict.fromkeys(m["method"] for p in results["photos"] for m in p["methods"]))
    for label in labels:
        entries = [m for p in results["photos"] for m in p["methods"] if m["method"] == label]
        served = entries[0]["served"]
        formats = list(entries[0]["formats"])
        for fmt in formats:
            for cls in [*CLASSES, "all"]:
                chosen = [
                    r for m in entries for r in m["formats"][fmt] if cls == "all" or width_class(r["width"]) == cls
                ]
                if not chosen:
                    continue
                scores = [r["score"] for r in chosen]
                rows.append(
                    {
                        "method": label,
                        "format": fmt,
                        "served": fmt == served,
                        "class": cls,
                        "bytes": sum(r["bytes"] for r in chosen),
                        "renditions": len(chosen),
                        "score_mean": sum(scores) / len(scores),
                        "score_min": min(scores),
                    }
                )
        cpu = sum(m["cpu_s"] for m in entries) / len(entries)
        stored = sum(r["bytes"] for m in entries for rs in m["formats"].values() for r in rs) / len(entries)
        served_rows = [r for m in entries for r in m["formats"][served]]
        per_view = sum(r["bytes"] for r in served_rows) / len(served_rows)
        rows.append(
            {
                "method": label,
                "format": "+".join(formats),
                "class": "cost",
                "cpu_s_per_photo": cpu,
                "stored_bytes_per_photo": stored,
                "served_bytes_per_view": per_view,
            }
        )
    return rows


def headline(results: Result) -> str:
    """One row per method over every photo: what is sent per view, stored per photo, CPU, served scores."""
    rows = [r for r in results["summary"] if r["class"] == "cost"]
    served = {r["method"]: r for r in results["summary"] if r["class"] == "all" and r.get("served")}
    base = next((r for r in rows if r["method"] == "sharp WebP Q80"), None)
    lines = [
        "| set | formats | bytes per view | ÷ sharp WebP Q80 | stored per photo | CPU s per photo | "
        "CPU ÷ sharp WebP Q80 | SSIMULACRA2 mean / min (served) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        score = served[row["method"]]
        ratio = f"{row['served_bytes_per_view'] / base['served_bytes_per_view']:.2f}" if base else "-"
        cpu = f"{row['cpu_s_per_photo'] / base['cpu_s_per_photo']:.2f}" if base else "-"
        lines.append(
            f"| {row['method']} | {row['format']} | {row['served_bytes_per_view'] / 1000:,.0f} kB | {ratio} | "
            f"{row['stored_bytes_per_photo'] / 1e6:.2f} MB | {row['cpu_s_per_photo']:.2f} | {cpu} | "
            f"{score['score_mean']:.1f} / {score['score_min']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def held_out_headline(results: Result) -> list[str]:
    """The headline again over the held-out photos alone, when the run has both kinds."""
    held_out = set(results.get("held_out", []))
    photos = [p for p in results["photos"] if p["file"] in held_out]
    if not photos or len(photos) == len(results["photos"]):
        return []
    subset = {**results, "photos": photos}
    subset["summary"] = summarise(subset)
    return [f"Held-out photos only ({len(photos)}):", "", headline(subset)]


def markdown(results: Result) -> str:
    rows = results["summary"]
    reference = {
        name: {r["class"]: r["bytes"] for r in rows if r["method"] == name and r.get("served")}
        for name in ("sharp WebP Q80", "sharp AVIF defaults")
    }
    held_out = set(results.get("held_out", []))
    photos = ", ".join(p["file"] + (" (held out)" if p["file"] in held_out else "") for p in results["photos"])
    default = (
        f"live {'+'.join(results['formats'])} Q{results['live_quality']}; optimized: AVIF effort "
        f"{results['optimize_avif_effort']} to SSIMULACRA2 {results['optimize_quality_target']:g}, the live "
        f"renditions up to {results['fallback_max_width']} px kept as the fallback"
    )
    lines = [
        "## Bytes at equal visual quality (SSIMULACRA2)",
        "",
        f"Photos: {photos}; widths {', '.join(map(str, results['widths']))}; sets: {default}. `held out`: "
        "real photos the project does not ship (not in samples/). Scores against a lanczos3 downscale of the full "
        "decode. `served`: the format a current browser downloads. Bytes ratios are over sharp's bytes for the "
        "same photos and width class.",
        "",
        headline(results),
        *held_out_headline(results),
        "Per width class (small 320-512, medium 768-1280, large 1600-2560), every format:",
        "",
        "| method | format | class | bytes | ÷ sharp WebP Q80 | ÷ sharp AVIF | SSIMULACRA2 mean | min |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]

    def ratio(name: str, row: Result) -> str:
        base = reference.get(name, {}).get(row["class"])
        return f"{row['bytes'] / base:.2f}" if base else "-"

    for row in rows:
        if row["class"] == "cost":
            continue
        fmt = f"{row['format']}{' (served)' if row['served'] and row['method'] in ENGINE_METHODS else ''}"
        lines.append(
            f"| {row['method']} | {fmt} | {row['class']} | {row['bytes']:,} | "
            f"{ratio('sharp WebP Q80', row)} | {ratio('sharp AVIF defaults', row)} | "
            f"{row['score_mean']:.1f} | {row['score_min']:.1f} |"
        )
    lines += [
        "",
        "### Cost per million photos",
        "",
        "A view downloads one rendition of the served format, its width drawn evenly from the set.",
        "",
        "| method | formats | CPU s per photo | CPU hours | stored TB | TB per 1000 views of each photo |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row["class"] != "cost":
            continue
        lines.append(
            f"| {row['method']} | {row['format']} | {row['cpu_s_per_photo']:.2f} | "
            f"{row['cpu_s_per_photo'] * 1e6 / 3600:,.0f} | {row['stored_bytes_per_photo'] * 1e6 / 1e12:.2f} | "
            f"{row['served_bytes_per_view'] * 1e3 * 1e6 / 1e12:.1f} |"
        )
    return "\n".join(lines + money(results)) + "\n"


def money(results: Result) -> list[str]:
    """The cost table in money, from the list prices the run was given (they are parameters, not facts)."""
    from costs import Prices, photo_cost  # bench/costs.py, beside this file

    if not results.get("prices"):
        return []
    prices = Prices(**{k: v for k, v in results["prices"].items() if k in Prices().as_dict()})
    cost = {r["method"]: r for r in results["summary"] if r["class"] == "cost"}
    lines = [
        "",
        f"### In money, per million photos (list prices given to the run: CPU ${prices.cpu_vcpu_second:g} per "
        f"vCPU-second, storage ${prices.storage_gb_month:g} per GB-month, egress ${prices.egress_gb:g} per GB, "
        f"{prices.views:g} views per photo)",
        "",
        "The optimized photo pays the live set's CPU and then the optimize pass's; its storage is the optimized set "
        "(the superseded live renditions are deleted after the grace period).",
        "",
        "| set | CPU $ once | storage $ per month | egress $ for the views | total first month |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, row in cost.items():
        cpu_s = row["cpu_s_per_photo"] + (cost[LIVE_SET]["cpu_s_per_photo"] if label == OPTIMIZED_SET else 0.0)
        one = photo_cost(prices, cpu_s, row["stored_bytes_per_photo"], row["served_bytes_per_view"])
        cpu, storage, egress = one.cpu * 1e6, one.storage_month * 1e6, one.egress * 1e6
        lines.append(f"| {label} | {cpu:,.0f} | {storage:,.0f} | {egress:,.0f} | {cpu + storage + egress:,.0f} |")
    return lines


def run(files: Sequence[str], repeat: int) -> Result:
    results = measure(files, repeat)
    results["summary"] = summarise(results)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from costs import Prices, add_price_arguments  # bench/costs.py, beside this file

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", default=list(DEFAULT_FILES), help="photos (default: samples/large)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per CPU measurement; the best is kept")
    parser.add_argument("--json", type=Path, default=BENCH / "quality.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "quality.md")
    parser.add_argument("--from-json", action="store_true", help="only rewrite the markdown from --json")
    add_price_arguments(parser)
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.json.read_text())
    else:
        results = run([str(Path(f).resolve()) for f in args.files], args.repeat)
        results["load_average"] = os.getloadavg()
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    results["prices"] = Prices.from_args(args).as_dict()
    text = markdown(results)
    args.markdown.write_text("# Rendition quality benchmark\n\n" + text)
    out()
    out(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(ROOT))
        out(json.dumps(worker_engine(json.loads(sys.argv[2]))))
    else:
        sys.exit(main())
