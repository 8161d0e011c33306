"""Side-by-side rendition benchmark on real photos: `make bench` (or `.venv/bin/python bench/run.py --help`).

Methods, all with the same widths, WebP quality and effort, one libvips thread each, in one run:

- engine: `gallery.engine.render`, exactly what the function runs (one decode, widths derived in memory);
- floor: the engine's unavoidable work measured piece by piece (decode with the best shrink-on-load to the
  largest width, the resizes, the encodes); the engine should stay within ~1.15x of it;
- per-width processes: one fresh process per width doing libvips thumbnail + webpsave from the original file,
  through the same libvips as the engine (pyvips-binary). This is the reference design's "one vipsthumbnail per
  width" method; the Python start-up and `import pyvips` cost is measured separately and subtracted, so the
  figure is what a `vipsthumbnail` run costs without its (small) process start-up;
- vipsthumbnail: Debian's `vipsthumbnail` (libvips-tools, its own older libvips) per width, only if installed;
- Pillow: `Image.thumbnail(..., LANCZOS)` per width from the original, saved as WebP;
- sharp: one sharp pipeline per width from the original buffer (bench/package.json; skipped without node).

Then bytes at equal visual quality (bench/quality.py): the default rendition set (AVIF encoded to the SSIMULACRA2
target, a JPEG fallback) and the fixed WebP Q80 set against sharp WebP Q80 and sharp AVIF defaults, scored per
width class, with the cost per million photos.

CPU and wall are the best of `--repeat` runs; peak MB is the peak RSS (VmHWM / maxrss) of the process that did
the work, measured in a fresh process per method. Results go to bench/results.json and bench/results.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sharp import sharp_per_width  # bench/sharp.py, beside this file

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DEFAULT_FILES = (
    "samples/large/landscape_20mp.jpg",
    "samples/large/landscape_20mp_progressive.jpg",
    "samples/large/dragonfly_13mp_4x3_progressive.jpg",
    "samples/large/portrait_10mp_progressive.jpg",
)
HUGE = 10_000_000
FULL = 16384  # a width no photo reaches: collapses into the photo's own width (a full-size rendition)

Result = dict[str, Any]


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- measuring processes -----------------------------------------------------------------------------------


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM restarts from the current RSS


def _best(repeat: int, work: Callable[[], int]) -> tuple[float, float, int]:
    best_cpu = best_wall = math.inf
    size = 0
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        size = work()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu, best_wall, size


def _widths(job: Result) -> list[int]:
    return [*job["widths"], FULL] if job.get("full") else list(job["widths"])


def worker_engine(job: Result) -> Result:
    from gallery.engine import render
    from gallery.engine.vips import pyvips
    from gallery.model import RenditionSpec

    data = Path(job["file"]).read_bytes()
    spec = RenditionSpec(tuple(_widths(job)), ("webp",), quality=job["quality"], webp_effort=job["effort"])
    render(bytes(pyvips.Image.black(64, 48, bands=3).jpegsave_buffer()), spec)
    _reset_peak()
    baseline = _status_mib("VmRSS")
    cpu, wall, size = _best(job["repeat"], lambda: sum(len(r.data) for r in render(data, spec).renditions))
    outputs = len(render(data, spec).renditions)
    return {"cpu_s": cpu, "wall_s": wall, "peak_mib": _status_mib("VmHWM"), "baseline_mib": baseline} | {
        "bytes": size,
        "outputs": outputs,
    }


def worker_floor(job: Result) -> Result:
    """Decode (best shrink-on-load to the largest width), resizes, encodes: each timed on its own."""
    from gallery.engine.vips import ensure_malloc_tuned, pyvips

    ensure_malloc_tuned()  # as the engine's first render does

    data = Path(job["file"]).read_bytes()
    widths = sorted(_widths(job), reverse=True)
    repeat = job["repeat"]
    decode_cpu = math.inf
    largest = None
    for _ in range(repeat):
        cpu = time.process_time()
        largest = pyvips.Image.thumbnail_buffer(data, widths[0], height=HUGE, size="down").copy_memory()
        decode_cpu = min(decode_cpu, time.process_time() - cpu)
    assert largest is not None
    resize_cpu = math.inf
    images: list[Any] = []
    for _ in range(repeat):
        cpu = time.process_time()
        current, images = largest, []
        for width in widths:
            if width < current.width:
                current = current.thumbnail_image(width, height=HUGE).copy_memory()
            images.append(current)
        resize_cpu = min(resize_cpu, time.process_time() - cpu)
    encode_cpu, _, size = _best(
        repeat,
        lambda: sum(len(im.webpsave_buffer(Q=job["quality"], effort=job["effort"], keep="none")) for im in images),
    )
    total = decode_cpu + resize_cpu + encode_cpu
    return {
        "cpu_s": total,
        "wall_s": math.nan,
        "peak_mib": math.nan,
        "baseline_mib": math.nan,
        "bytes": size,
        "outputs": len(images),
        "decode_cpu_s": decode_cpu,
        "resize_cpu_s": resize_cpu,
        "encode_cpu_s": encode_cpu,
    }


def worker_effort_sweep(job: Result) -> Result:
    """Bytes, encode CPU and PSNR (against the unencoded pixels) of the width set for every WebP effort."""
    from gallery.engine.vips import ensure_malloc_tuned, pyvips

    ensure_malloc_tuned()  # as the engine's first render does

    data = Path(job["file"]).read_bytes()
    widths = sorted(job["widths"], reverse=True)
    current = pyvips.Image.thumbnail_buffer(data, widths[0], height=HUGE, size="down").copy_memory()
    images = []
    for width in widths:
        if width < current.width:
            current = current.thumbnail_image(width, height=HUGE).copy_memory()
        images.append(current)
    rows = []
    for effort in range(7):
        encoded: list[bytes] = []

        def encode(effort: int = effort, encoded: list[bytes] = encoded) -> int:
            encoded[:] = [bytes(im.webpsave_buffer(Q=job["quality"], effort=effort, keep="none")) for im in images]
            return sum(len(b) for b in encoded)

        cpu, _, size = _best(job["repeat"], encode)
        psnrs = []
        for buf, ref in zip(encoded, images, strict=True):
            diff = pyvips.Image.new_from_buffer(buf, "").cast("float") - ref.cast("float")
            psnrs.append(10 * math.log10(255**2 / max((diff * diff).avg(), 1e-9)))
        rows.append({"effort": effort, "encode_cpu_s": cpu, "bytes": size, "psnr_mean_db": sum(psnrs) / len(psnrs)})
    return {"rows": rows}


def worker_pillow(job: Result) -> Result:
    from PIL import Image

    data = Path(job["file"]).read_bytes()

    def once() -> int:
        size = 0
        for width in _widths(job):
            with Image.open(io.BytesIO(data)) as im:
                im.thumbnail((width, HUGE), Image.Resampling.LANCZOS)
                buf = io.BytesIO()
                im.save(buf, "WEBP", quality=job["quality"], method=job["effort"])
                size += buf.tell()
        return size

    with Image.open(io.BytesIO(bytes(_tiny_jpeg()))) as im:
        im.thumbnail((32, 32))
    _reset_peak()
    baseline = _status_mib("VmRSS")
    cpu, wall, size = _best(job["repeat"], once)
    return {"cpu_s": cpu, "wall_s": wall, "peak_mib": _status_mib("VmHWM"), "baseline_mib": baseline} | {
        "bytes": size,
        "outputs": len(_widths(job)),
    }


def _tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (128, 128, 128)).save(buf, "JPEG")
    return buf.getvalue()


def worker_throughput(job: Result) -> Result:
    """`threads` renders at once, each thread rendering the photo `per_thread` times."""
    from gallery.engine import render
    from gallery.engine.vips import pyvips
    from gallery.model import RenditionSpec

    data = Path(job["file"]).read_bytes()
    spec = RenditionSpec(tuple(_widths(job)), ("webp",), quality=job["quality"], webp_effort=job["effort"])
    render(bytes(pyvips.Image.black(64, 48, bands=3).jpegsave_buffer()), spec)
    threads, per_thread = job["threads"], job["per_thread"]
    barrier = threading.Barrier(threads)

    def run() -> None:
        barrier.wait()
        for _ in range(per_thread):
            render(data, spec)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    wall = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - wall
    return {
        "threads": threads,
        "photos": threads * per_thread,
        "wall_s": wall,
        "photos_per_s": threads * per_thread / wall,
    }


def worker_mix(job: Result) -> Result:
    """One instance rendering every heavy file at once in `threads` threads, admitted by estimate (as the service
    does, gallery.admission) or not at all; peak RSS above the warmed-up idle process."""
    from concurrent.futures import ThreadPoolExecutor

    from gallery.admission import MemoryBudget
    from gallery.engine import estimate_render_mib, render
    from gallery.engine.vips import pyvips
    from gallery.model import Limits, RenditionSpec

    spec = RenditionSpec(tuple(job["widths"]), ("webp",), quality=job["quality"], webp_effort=job["effort"])
    render(bytes(pyvips.Image.black(64, 48, bands=3).jpegsave_buffer()), spec)
    budget = MemoryBudget(job["budget_mib"])
    refused: list[str] = []
    _reset_peak()
    baseline = _status_mib("VmRSS")

    def one(path: str) -> None:
        data = Path(path).read_bytes()
        needed = estimate_render_mib(data, spec, Limits())
        if not job["admitted"]:
            render(data, spec)
        elif needed > budget.budget_mib:
            refused.append(Path(path).name)
        else:
            with budget.hold(needed):
                render(data, spec)

    wall = time.perf_counter()
    with ThreadPoolExecutor(max_workers=job["threads"]) as pool:
        list(pool.map(one, job["files"]))
    return {
        "peak_above_idle_mib": round(_status_mib("VmHWM") - baseline, 1),
        "idle_mib": round(baseline, 1),
        "wall_s": round(time.perf_counter() - wall, 2),
        "refused": refused,
    }


WORKERS: dict[str, Callable[[Result], Result]] = {
    "mix": worker_mix,
    "engine": worker_engine,
    "floor": worker_floor,
    "effort_sweep": worker_effort_sweep,
    "pillow": worker_pillow,
    "throughput": worker_throughput,
}


def run_worker(kind: str, job: Result, env: dict[str, str] | None = None) -> Result:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(job)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "VIPS_CONCURRENCY": "1", **(env or {})},
        cwd=ROOT,
    )
    result: Result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- one process per width -----------------------------------------------------------------------------------

_PER_WIDTH = """
import sys
import pyvips
path, width, quality, effort, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
if width:
    pyvips.Image.thumbnail(path, width, height=10_000_000, size="down").webpsave(
        target, Q=int(quality), effort=int(effort), keep="none")
"""


def _run_children(commands: Sequence[Sequence[str]]) -> tuple[float, float, float]:
    """Run commands one after another; (CPU s, wall s, largest maxrss MiB) of the children."""
    cpu = peak = 0.0
    wall = time.perf_counter()
    for command in commands:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, env={**os.environ, "VIPS_CONCURRENCY": "1"})
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise RuntimeError(f"{command} failed with status {status}")
        cpu += usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss / 1024)
    return cpu, time.perf_counter() - wall, peak


def _encode_args(job: Result) -> list[str]:
    return [str(job["quality"]), str(job["effort"])]


def per_width_processes(job: Result) -> Result:
    """One fresh process per width through the same libvips; the interpreter's start-up is subtracted."""
    best_cpu = best_wall = math.inf
    peak = size = 0.0
    widths = _widths(job)
    with tempfile.TemporaryDirectory() as tmp:
        targets = [str(Path(tmp) / f"{w}.webp") for w in widths]

        def commands(blank: bool) -> list[list[str]]:
            return [
                [sys.executable, "-c", _PER_WIDTH, job["file"], "0" if blank else str(w), *_encode_args(job), t]
                for w, t in zip(widths, targets, strict=True)
            ]

        startup_cpu = startup_wall = math.inf
        for _ in range(job["repeat"]):
            cpu, wall, _ = _run_children(commands(blank=True))
            startup_cpu, startup_wall = min(startup_cpu, cpu), min(startup_wall, wall)
            cpu, wall, peak = _run_children(commands(blank=False))
            best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
        size = sum(Path(t).stat().st_size for t in targets)
    return {
        "cpu_s": best_cpu - startup_cpu,
        "wall_s": best_wall - startup_wall,
        "peak_mib": peak,
        "baseline_mib": math.nan,
        "bytes": size,
        "outputs": len(widths),
        "raw_cpu_s": best_cpu,
        "startup_cpu_s": startup_cpu,
    }


def vipsthumbnail_processes(job: Result) -> Result | None:
    exe = shutil.which("vipsthumbnail")
    if exe is None:
        return None
    widths = _widths(job)
    best_cpu = best_wall = math.inf
    peak = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        commands = [
            [
                exe,
                job["file"],
                "--size",
                f"{w}x>",
                "-o",
                f"{tmp}/%s_{w}.webp[Q={job['quality']},effort={job['effort']},strip]",
            ]
            for w in widths
        ]
        for _ in range(job["repeat"]):
            cpu, wall, peak = _run_children(commands)
            best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    return {"cpu_s": best_cpu, "wall_s": best_wall, "peak_mib": peak, "baseline_mib": math.nan} | {
        "bytes": size,
        "outputs": len(widths),
    }


# --- the run -------------------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def compare(file: str, job: Result, *, floor: bool = True) -> list[Result]:
    rows: list[Result] = []

    def add(method: str, result: Result | None) -> None:
        if result is not None:
            rows.append({"file": Path(file).name, "method": method, "effort": job["effort"], **result})
            r = rows[-1]
            out(
                f"  {method:<26} CPU {_fmt(r['cpu_s'])} s  wall {_fmt(r['wall_s'])} s  "
                f"peak {_fmt(r['peak_mib'], 0)} MB  {r['bytes']:,} bytes"
            )

    add("engine", run_worker("engine", job))
    if floor:
        add("floor (decode+resize+encode)", run_worker("floor", job))
    add("per-width processes", per_width_processes(job))
    add("vipsthumbnail per width", vipsthumbnail_processes(job))
    add("sharp per width", sharp_per_width(job))
    add("Pillow per width", run_worker("pillow", job))
    engine_cpu = rows[0]["cpu_s"]
    for row in rows:
        row["method_over_engine"] = row["cpu_s"] / engine_cpu
        row["engine_over_method"] = engine_cpu / row["cpu_s"]
    return rows


def _load(results: Result, when: str) -> str:
    return " / ".join(f"{x:.1f}" for x in results.get(f"load_average_{when}") or ())


def markdown(results: Result) -> str:
    lines = [
        "# Rendition benchmark",
        "",
        f"{results['machine']}. Widths {', '.join(map(str, results['widths']))}, WebP Q{results['quality']}. "
        "CPU and wall: best of "
        f"{results['repeat']}; peak: peak RSS of the process doing the work (MB = MiB). "
        f"Load average (1/5/15 min) at start {_load(results, 'start')}, at end {_load(results, 'end')}: wall "
        "times and throughput suffer when other work shares the CPUs; CPU times much less. "
        "`engine ÷ method` is the project engine's CPU over the method's (the issue's targets: ≤ 0.42 vs "
        "per-width processes and ≤ 0.60 vs sharp on the baseline JPEG, ≤ 0.38 vs sharp on the progressive one).",
        "",
        *([f"Function {results['cold_start_line']}.", ""] if results.get("cold_start_line") else []),
        "| photo | set | effort | method | CPU s | wall s | peak MB | bytes | method ÷ engine | engine ÷ method |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["comparisons"]:
        lines.append(
            f"| {row['file']} | {'8 widths + full' if row.get('full') else '8 widths'} | {row['effort']} | "
            f"{row['method']} | {_fmt(row['cpu_s'])} | {_fmt(row['wall_s'])} | {_fmt(row['peak_mib'], 0)} | "
            f"{row['bytes']:,} | {row['method_over_engine']:.2f}x | {row['engine_over_method']:.2f} |"
        )
    floor = [r for r in results["comparisons"] if r["method"].startswith("floor")]
    if floor:
        lines += ["", "## Engine vs floor", "", "| photo | effort | decode s | resizes s | encodes s | floor s |"]
        lines[-1] += " engine s | engine ÷ floor |"
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in floor:
            engine = next(
                r
                for r in results["comparisons"]
                if r["file"] == row["file"]
                and r["method"] == "engine"
                and r["effort"] == row["effort"]
                and r.get("full") == row.get("full")
            )
            lines.append(
                f"| {row['file']} | {row['effort']} | {row['decode_cpu_s']:.3f} | {row['resize_cpu_s']:.3f} | "
                f"{row['encode_cpu_s']:.3f} | {row['cpu_s']:.3f} | {engine['cpu_s']:.3f} | "
                f"{engine['cpu_s'] / row['cpu_s']:.2f} |"
            )
    if results.get("throughput"):
        lines += ["", "## Throughput (engine, threads in one process)", ""]
        lines += [
            "| photo | threads | photos | wall s | photos/s | vs 1 thread |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in results["throughput"]:
            lines.append(
                f"| {row['file']} | {row['threads']} | {row['photos']} | {row['wall_s']:.2f} | "
                f"{row['photos_per_s']:.3f} | {row['speedup']:.2f}x |"
            )
    if results.get("memory"):
        lines += ["", "## Peak memory per task (fresh process, 1/2/4 renders at once, each twice; slope)", ""]
        lines += [
            "malloc `engine`: what `gallery.engine.vips` sets (mmap threshold 128 KiB, 2 arenas); `glibc-like`: "
            "MALLOC_MMAP_THRESHOLD_=32 MiB (where glibc's dynamic threshold ends up) and MALLOC_ARENA_MAX=8.",
            "",
        ]
        lines += [
            "| photo | set | malloc | peak MiB at 1 / 2 / 4 tasks | idle MiB | per task MiB | wall s at 1 / 2 / 4 |",
            "| --- | --- | --- | --- | ---: | ---: | --- |",
        ]
        for row in results["memory"]:
            peaks = " / ".join(f"{s['peak_mib']:.0f}" for s in row["samples"])
            walls = " / ".join(f"{s['wall_s']:.2f}" for s in row["samples"])
            lines.append(
                f"| {row['file']} | {row['set']} | {row['malloc']} | {peaks} | "
                f"{row['samples'][0]['baseline_mib']:.0f} | {row['per_task_mib']:.1f} | {walls} |"
            )
    if results.get("effort_sweep"):
        sweep = results["effort_sweep"]
        lines += ["", f"## WebP effort (encodes of the width set of {sweep['file']}, Q{results['quality']})", ""]
        lines += [
            "| effort | encode CPU s | bytes | bytes vs effort 4 | mean PSNR dB |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        ref = next(r for r in sweep["rows"] if r["effort"] == 4)
        for row in sweep["rows"]:
            lines.append(
                f"| {row['effort']} | {row['encode_cpu_s']:.3f} | {row['bytes']:,} | "
                f"{(row['bytes'] / ref['bytes'] - 1) * 100:+.1f} % | {row['psnr_mean_db']:.2f} |"
            )
    lines += heavy_markdown(results)
    text = "\n".join(lines) + "\n"
    if results.get("equal_quality"):
        import quality  # bench/quality.py, beside this file

        text += "\n" + quality.markdown(results["equal_quality"])
    return text


HEAVY_DIR = ROOT / "build" / "heavy"
MIX_THREADS = 4
MIX_BUDGET_MIB = 2048 - 200  # the default deployment: 2 GiB instance, 200 MiB baseline


def heavy(base: Result) -> Result:
    """Estimate vs measured peak per heavy file (fresh process each), and one instance under the heavy mix."""
    sys.path.insert(0, str(ROOT))
    from gallery.engine import estimate_render
    from gallery.model import Limits, RenditionSpec
    from gallery_cli.peak import measure_render
    from tests.heavy import write_heavy_set

    out(f"heavy inputs (generated once into {HEAVY_DIR.relative_to(ROOT)}):")
    paths = write_heavy_set(HEAVY_DIR)
    spec = RenditionSpec(tuple(base["widths"]), ("webp",), quality=base["quality"], webp_effort=base["effort"])
    rows = []
    for path in paths:
        estimate = estimate_render(path.read_bytes(), spec, Limits())
        measured = measure_render(path, spec, Limits())
        row = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "estimate_mib": estimate.total_mib,
            "peak_mib": measured.peak_mib,
            "parts": estimate.as_dict(),
        }
        out(f"  {path.name}: estimate {estimate.total_mib} MiB, measured {measured.peak_mib:.0f} MiB")
        rows.append(row)
    mix = []
    for admitted in (True, False):
        job = {**base, "files": [str(p) for p in paths], "threads": MIX_THREADS, "budget_mib": MIX_BUDGET_MIB}
        result = run_worker("mix", {**job, "admitted": admitted})
        mix.append({"admitted": admitted, "threads": MIX_THREADS, "budget_mib": MIX_BUDGET_MIB, **result})
        out(f"  mix, {'admitted by estimate' if admitted else 'no admission'}: {result['peak_above_idle_mib']} MiB")
    return {"files": rows, "mix": mix}


def heavy_markdown(results: Result) -> list[str]:
    heavy_ = results.get("heavy")
    if not heavy_:
        return []
    lines = ["", "## Heavy inputs: estimated vs measured peak (one render per fresh process)", ""]
    lines += [
        "Generated by tests/heavy.py (legal under the default limits). Measured: VmHWM above the warmed-up engine; "
        "estimate: gallery.engine.memory from the header, what the function admits the render for.",
        "",
        "| file | bytes | estimate MiB | measured MiB | estimate ÷ measured |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in heavy_["files"]:
        ratio = row["estimate_mib"] / max(row["peak_mib"], 1.0)
        lines.append(
            f"| {row['file']} | {row['bytes']:,} | {row['estimate_mib']} | {row['peak_mib']:.0f} | {ratio:.2f} |"
        )
    lines += ["", "## One instance under the heavy mix (every file above, submitted at once)", ""]
    lines += [
        "| admission | threads | budget MiB | peak above idle MiB | wall s | refused (estimate over budget) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in heavy_["mix"]:
        lines.append(
            f"| {'by estimate' if row['admitted'] else 'none'} | {row['threads']} | {row['budget_mib']} | "
            f"{row['peak_above_idle_mib']:.0f} | {row['wall_s']:.1f} | {', '.join(row['refused']) or '-'} |"
        )
    return lines


def _write_markdown(path: Path, text: str) -> None:
    """Write the results, keeping the sections bench/lanes.py, crash.py and latency.py add (their own runs)."""
    import crash  # bench/crash.py, beside this script
    import lanes  # bench/lanes.py, beside this script
    import latency  # bench/latency.py, beside this script

    kept = [(m.SECTION_START, m.SECTION_END) for m in (lanes, crash, latency)]
    previous = [(lanes.read_section(path, start, end), start, end) for start, end in kept]
    path.write_text(text)
    for section, start, end in previous:
        if section:
            lanes.write_section(path, section, start, end)


def main(argv: Sequence[str] | None = None) -> int:
    import coldstart  # bench/coldstart.py, beside this script

    from gallery.model import RenditionSpec
    from gallery.settings import Settings
    from gallery_cli.measure import calibrate

    defaults = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", default=list(DEFAULT_FILES), help="photos (default: samples/large)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best is kept")
    parser.add_argument("--quality", type=int, default=defaults.rendition_quality)
    parser.add_argument("--effort", type=int, default=defaults.webp_effort, help="WebP effort of the headline")
    parser.add_argument("--also-effort", type=int, default=4, help="second effort, on the first photo (-1: none)")
    parser.add_argument("--quick", action="store_true", help="first photo only, 1 repeat, no extras")
    parser.add_argument(
        "--heavy-only", action="store_true", help="only the heavy-input tables (updates the existing results)"
    )
    parser.add_argument("--no-quality", action="store_true", help="skip the bytes-at-equal-quality comparison")
    parser.add_argument("--json", type=Path, default=BENCH / "results.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "results.md")
    args = parser.parse_args(argv)
    files = [str(Path(f).resolve()) for f in args.files]
    repeat = 1 if args.quick else args.repeat
    if args.quick:
        files = files[:1]
    widths = list(defaults.rendition_widths)
    cpus = os.cpu_count() or 1
    machine = f"{platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"
    results: Result = {
        "machine": machine,
        "widths": widths,
        "quality": args.quality,
        "effort": args.effort,
        "repeat": repeat,
        "load_average_start": os.getloadavg(),
        "comparisons": [],
        "throughput": [],
        "memory": [],
    }
    base = {"widths": widths, "quality": args.quality, "repeat": repeat}
    if args.heavy_only:
        previous = json.loads(args.json.read_text()) if args.json.is_file() else results
        previous["heavy"] = heavy({**base, "effort": args.effort})
        args.json.write_text(json.dumps(previous, indent=2, default=str) + "\n")
        _write_markdown(args.markdown, markdown(previous))
        out("\n".join(heavy_markdown(previous)))
        return 0
    out(f"# {machine}; widths {widths}; WebP Q{args.quality}; best of {repeat}")
    cold = coldstart.measure(runs=3 if args.quick else 7)
    results["cold_start"] = {**asdict(cold), "ratio": cold.ratio, "rss_delta_mib": cold.rss_delta_mib}
    results["cold_start_line"] = cold.line()
    out(cold.line())
    for file in files:
        out(f"{Path(file).name}, effort {args.effort}:")
        results["comparisons"] += compare(file, {**base, "file": file, "effort": args.effort})
    if not args.quick:
        if args.also_effort >= 0 and args.also_effort != args.effort:
            for file in files[:1]:
                out(f"{Path(file).name}, effort {args.also_effort}:")
                results["comparisons"] += compare(file, {**base, "file": file, "effort": args.also_effort})
        out(f"{Path(files[0]).name}, effort {args.effort}, with a full-size rendition:")
        for row in compare(files[0], {**base, "file": files[0], "effort": args.effort, "full": True}, floor=False):
            results["comparisons"].append({**row, "full": True})
        # Throughput: 1, 2 and 2 x CPUs renders at once.
        for file in files[:1]:
            one = None
            for threads in sorted({1, 2, 2 * cpus}):
                job = {**base, "file": file, "effort": args.effort, "threads": threads, "per_thread": 3}
                runs = [run_worker("throughput", job) for _ in range(repeat)]
                row = {"file": Path(file).name, **max(runs, key=lambda r: float(r["photos_per_s"]))}
                one = one or row["photos_per_s"]
                row["speedup"] = row["photos_per_s"] / one
                out(f"  throughput {threads} threads: {row['photos_per_s']:.3f} photos/s ({row['speedup']:.2f}x)")
                results["throughput"].append(row)
        # Peak memory per task on the 12-24 MP photos, default set and with the full-size rendition.
        spec = RenditionSpec(tuple(widths), ("webp",), quality=args.quality, webp_effort=args.effort)
        full = RenditionSpec((*widths, FULL), ("webp",), quality=args.quality, webp_effort=args.effort)
        mem_files = [f for f in files if "20mp" in f or "13mp" in f] or files[:1]
        untuned = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_ARENA_MAX": "8"}
        configs: list[tuple[str, RenditionSpec, str, dict[str, str]]] = [
            ("8 widths", spec, "engine", {}),
            ("8 widths + full", full, "engine", {}),
        ]
        configs.append(("8 widths", spec, "glibc-like", untuned))
        for file in mem_files:
            for name, sp, malloc, env in configs:
                if malloc != "engine" and file != mem_files[0]:
                    continue
                cal = calibrate([Path(file)], sp, env=env)
                row = {"file": Path(file).name, "set": name, "malloc": malloc} | cal.as_dict()
                out(f"  memory {row['file']} {name} malloc {malloc}: {cal.per_task_mib} MiB per task")
                results["memory"].append(row)
        sweep = run_worker("effort_sweep", {**base, "file": files[0], "repeat": 2})
        results["effort_sweep"] = {"file": Path(files[0]).name, **sweep}
        results["heavy"] = heavy({**base, "effort": args.effort})
    if not args.quick and not args.no_quality:
        import quality  # bench/quality.py, beside this file

        out("bytes at equal visual quality:")
        results["equal_quality"] = quality.run([str(ROOT / f) for f in quality.DEFAULT_FILES], repeat)
    results["load_average_end"] = os.getloadavg()
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    _write_markdown(args.markdown, markdown(results))
    out()
    out(markdown(results))
    out(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json} and {args.markdown}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(ROOT))
        result = WORKERS[sys.argv[2]](json.loads(sys.argv[3]))
        out(json.dumps(result))
    else:
        sys.exit(main())
