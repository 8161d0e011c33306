"""Measure what one render costs (peak memory, CPU) and turn it into per-instance concurrency.

Native memory (libvips, libjpeg, libwebp) is invisible to tracemalloc, so every measurement runs in a fresh
Python process: it loads the engine, warms it up on a tiny image, resets the kernel's peak-RSS counter, then
renders the photos in N threads at once (one libvips thread each, as the function does) and reports its peak
RSS (VmHWM) above the warmed-up baseline. Doing that for 1, 2 and 4 threads and fitting a line gives the
memory one more concurrent render costs, to compare with the estimate (gallery.engine.memory) the function
admits renders by.

The request concurrency formula is the one `infra/terraform/locals.tf` uses, with the estimate of an ordinary
photo (Terraform's `light_render_mib`):

    concurrency = max(1, min(floor((memory_mib - baseline_mib) / light_render_mib), tasks_per_vcpu * vcpu))
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from gallery.model import RenditionSpec

logger = logging.getLogger(__name__)

FULL_SIZE_WIDTH = 16384  # a width no accepted photo reaches: collapses into the photo's own width
INSTANCE_BASELINE_MIB = 200  # Terraform's instance_baseline_mib default
TASKS_PER_VCPU = 2  # Terraform's tasks_per_vcpu default
MEMORIES_MIB = (1024, 2048, 4096)
VCPUS = (1, 2, 4)
# Cloud Run's bounds on memory per vCPU count (infra/terraform/locals.tf): outside them a deploy is refused.
_MIN_MEMORY_MIB = {1: 128, 2: 128, 4: 2048, 6: 4096, 8: 4096}
_MAX_MEMORY_MIB = {1: 4096, 2: 8192, 4: 16384, 6: 24576, 8: 32768}


@dataclass(frozen=True)
class PeakSample:
    """One fresh process rendering every photo in `tasks` threads at once."""

    tasks: int
    baseline_mib: float  # RSS after imports and a warm-up render, before the measured renders
    peak_mib: float  # peak RSS of the process during the measured renders
    cpu_s: float  # process CPU time of the measured renders
    wall_s: float
    renders: int

    @property
    def above_baseline_mib(self) -> float:
        return self.peak_mib - self.baseline_mib


@dataclass(frozen=True)
class Calibration:
    files: tuple[str, ...]
    widths: tuple[int, ...]
    formats: tuple[str, ...]
    quality: int
    webp_effort: int
    samples: tuple[PeakSample, ...]
    per_task_mib: float  # slope of peak RSS over concurrent tasks
    intercept_mib: float  # the line's value at 0 tasks
    cpu_s_per_photo: float  # from the one-task run
    env: dict[str, str] = field(default_factory=dict)
    quality_target: float = 0.0  # SSIMULACRA2 target of the search; 0: every rendition at `quality`

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["samples"] = [{**asdict(s), "above_baseline_mib": round(s.above_baseline_mib, 1)} for s in self.samples]
        return out


@dataclass(frozen=True)
class CapacityRow:
    memory_mib: int
    vcpu: int
    concurrency: int | None  # None: Cloud Run refuses this memory for this vCPU count
    photos_per_hour: int | None
    instances_for_load: int | None


def concurrency(
    memory_mib: int,
    vcpu: int,
    light_render_mib: float,
    baseline_mib: float = INSTANCE_BASELINE_MIB,
    tasks_per_vcpu: int = TASKS_PER_VCPU,
) -> int:
    """Requests one instance takes at once: the Terraform formula (memory itself is bounded by admission)."""
    return max(1, min(math.floor((memory_mib - baseline_mib) / light_render_mib), tasks_per_vcpu * vcpu))


def photos_per_hour(conc: int, vcpu: int, cpu_s_per_photo: float) -> int:
    """Renders per hour of one busy instance: each render keeps one vCPU busy (VIPS_CONCURRENCY=1)."""
    return math.floor(3600 * min(conc, vcpu) / cpu_s_per_photo)


def capacity_table(
    light_render_mib: float,
    cpu_s_per_photo: float,
    *,
    load_per_hour: int = 10_000,
    memories_mib: Sequence[int] = MEMORIES_MIB,
    vcpus: Sequence[int] = VCPUS,
    baseline_mib: float = INSTANCE_BASELINE_MIB,
    tasks_per_vcpu: int = TASKS_PER_VCPU,
) -> list[CapacityRow]:
    rows: list[CapacityRow] = []
    for memory in memories_mib:
        for vcpu in vcpus:
            if not _MIN_MEMORY_MIB.get(vcpu, 0) <= memory <= _MAX_MEMORY_MIB.get(vcpu, 1 << 30):
                rows.append(CapacityRow(memory, vcpu, None, None, None))
                continue
            conc = concurrency(memory, vcpu, light_render_mib, baseline_mib, tasks_per_vcpu)
            per_hour = photos_per_hour(conc, vcpu, cpu_s_per_photo)
            rows.append(CapacityRow(memory, vcpu, conc, per_hour, math.ceil(load_per_hour / per_hour)))
    return rows


def fit_line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0, mean_y
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
    return slope, mean_y - slope * mean_x


def full_size(spec: RenditionSpec) -> RenditionSpec:
    """`spec` plus a full-size rendition, rendered from the same decode."""
    return replace(spec, widths=(*spec.widths, FULL_SIZE_WIDTH))


def measure_once(
    files: Sequence[Path], spec: RenditionSpec, tasks: int, env: Mapping[str, str] | None = None, rounds: int = 2
) -> PeakSample:
    """Run `tasks` threads, each rendering every file `rounds` times, in a fresh process; return its peak.

    More than one round, because the sustained peak (after the allocator has recycled a render's buffers) is
    what bounds a long-lived instance, not the first render's.
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        job = {
            "files": [str(f) for f in files],
            "widths": list(spec.widths),
            "formats": list(spec.formats),
            "quality": spec.quality,
            "webp_effort": spec.webp_effort,
            "avif_effort": spec.avif_effort,
            "keep_wide_gamut": spec.keep_wide_gamut,
            "quality_target": spec.quality_target,
            "quality_min": spec.quality_min,
            "quality_max": spec.quality_max,
            "tasks": tasks,
            "rounds": rounds,
            "result": str(result),
        }
        subprocess.run(
            [sys.executable, "-m", "gallery_cli.measure", json.dumps(job)],
            check=True,
            env={**os.environ, **(env or {})},
        )
        data = json.loads(result.read_text())
    return PeakSample(**data)


def calibrate(
    files: Sequence[Path],
    spec: RenditionSpec,
    *,
    task_counts: Sequence[int] = (1, 2, 4),
    env: Mapping[str, str] | None = None,
    rounds: int = 2,
) -> Calibration:
    """Peak memory per concurrent render (the slope over `task_counts`) and CPU per photo."""
    samples = []
    for tasks in task_counts:
        sample = measure_once(files, spec, tasks, env, rounds)
        logger.info("calibration sample", extra={"sample": asdict(sample)})
        samples.append(sample)
    slope, intercept = fit_line([(s.tasks, s.peak_mib) for s in samples])
    one = min(samples, key=lambda s: s.tasks)
    return Calibration(
        files=tuple(str(f) for f in files),
        widths=spec.widths,
        formats=tuple(spec.formats),
        quality=spec.quality,
        webp_effort=spec.webp_effort,
        samples=tuple(samples),
        per_task_mib=round(slope, 1),
        intercept_mib=round(intercept, 1),
        cpu_s_per_photo=round(one.cpu_s / one.renders, 3),
        env=dict(env or {}),
        quality_target=spec.quality_target,
    )


# --- the measuring process ---------------------------------------------------------------------------------


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def _reset_peak() -> None:
    """Make VmHWM start again from the current RSS (Linux >= 4.0); harmless where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        logger.warning("could not reset the peak RSS counter; the peak includes the warm-up")


def _worker(job: dict[str, object]) -> None:
    from gallery.engine import render
    from gallery.engine.vips import pyvips

    files = [Path(str(f)).read_bytes() for f in job["files"]]  # type: ignore[attr-defined]
    spec = RenditionSpec(
        widths=tuple(job["widths"]),  # type: ignore[arg-type]
        formats=tuple(job["formats"]),  # type: ignore[arg-type]
        quality=int(job["quality"]),  # type: ignore[call-overload]
        webp_effort=int(job["webp_effort"]),  # type: ignore[call-overload]
        avif_effort=int(job["avif_effort"]),  # type: ignore[call-overload]
        keep_wide_gamut=bool(job.get("keep_wide_gamut", False)),
        quality_target=float(job.get("quality_target", 0.0)),  # type: ignore[arg-type]
        quality_min=int(job.get("quality_min", 30)),  # type: ignore[call-overload]
        quality_max=int(job.get("quality_max", 90)),  # type: ignore[call-overload]
    )
    tasks = int(job["tasks"])  # type: ignore[call-overload]
    rounds = int(job["rounds"])  # type: ignore[call-overload]
    # Warm up every code path (loaders, encoders, thread pools) on a tiny photo so that one-off
    # initialisation does not count as a render's memory.
    tiny = bytes(pyvips.Image.black(64, 48, bands=3).jpegsave_buffer())
    render(tiny, spec)
    _reset_peak()
    baseline = _status_kib("VmRSS")
    barrier = threading.Barrier(tasks)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            for _ in range(rounds):
                for data in files:
                    render(data, spec)
        except BaseException as exc:  # reported by the parent
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(tasks)]
    cpu, wall = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if errors:
        raise errors[0]
    sample = PeakSample(
        tasks=tasks,
        baseline_mib=round(baseline / 1024, 1),
        peak_mib=round(_status_kib("VmHWM") / 1024, 1),
        cpu_s=round(cpu, 3),
        wall_s=round(wall, 3),
        renders=tasks * rounds * len(files),
    )
    Path(str(job["result"])).write_text(json.dumps(asdict(sample)))


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
