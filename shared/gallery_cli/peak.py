"""Render one photo in a fresh process and measure its peak memory: what `gallery render --json` reports.

Native memory (libvips, libjpeg, libheif) is invisible to tracemalloc, so each render runs in its own Python
process that imports the engine and warms it up on a tiny photo, restarts the kernel's peak-RSS counter (VmHWM,
via /proc/self/clear_refs), reads the file and renders. Its peak RSS minus its RSS just before is the render's
peak: the memory one more render needs on a warm instance, the figure the estimate (gallery.engine.memory) must
bound. (`ru_maxrss` of a child is no use here: Linux carries the parent's peak across fork and exec.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gallery.model import Limits, RenditionSpec


@dataclass(frozen=True)
class MeasuredRender:
    peak_mib: float  # peak RSS of the render's process above the warmed-up baseline
    result: dict[str, Any]  # the child's summary: dimensions and renditions, or {"error": {code, reason}}


def _job(path: Path, spec: RenditionSpec, limits: Limits, out_dir: Path | None) -> str:
    return json.dumps(
        {
            "file": str(path),
            "out": str(out_dir) if out_dir else None,
            "spec": asdict(spec),
            "limits": asdict(limits),
        }
    )


def _run(job: str, env: Mapping[str, str] | None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "gallery_cli.peak", job],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "VIPS_CONCURRENCY": "1", **(env or {})},
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure_render(
    path: Path, spec: RenditionSpec, limits: Limits, out_dir: Path | None = None, env: Mapping[str, str] | None = None
) -> MeasuredRender:
    """Render `path` in a fresh process (writing the renditions under `out_dir` if given); its peak above idle."""
    result = _run(_job(path, spec, limits, out_dir), env)
    peak = result.pop("peak_kib") - result.pop("baseline_kib")
    return MeasuredRender(peak_mib=round(peak / 1024, 1), result=result)


# --- the measured process ------------------------------------------------------------------------------------


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def _peak(baseline_kib: int) -> dict[str, int]:
    return {"baseline_kib": baseline_kib, "peak_kib": _status_kib("VmHWM")}


def _child(job: dict[str, Any]) -> dict[str, Any]:
    from gallery.engine import render
    from gallery.engine.vips import pyvips
    from gallery.errors import GalleryError

    spec = RenditionSpec.from_dict(job["spec"])
    limits = Limits.from_dict(job["limits"])
    # The same warm-up in the baseline and the measured process: loaders, encoders and thread pools initialised.
    render(bytes(pyvips.Image.black(64, 48, bands=3).jpegsave_buffer()), spec, limits)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM restarts from the current RSS
    baseline = _status_kib("VmRSS")
    path = Path(job["file"])
    try:
        result = render(path.read_bytes(), spec, limits)
    except GalleryError as exc:
        return {"error": {"code": exc.code, "reason": exc.reason}, **_peak(baseline)}
    if job["out"]:
        for rendition in result.renditions:
            target = Path(job["out"]) / path.stem / f"{rendition.width}.{rendition.extension}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rendition.data)
    return {
        **_peak(baseline),
        "width": result.width,
        "height": result.height,
        "render_ms": result.render_ms,
        "renditions": [
            {"width": r.width, "height": r.height, "format": r.format, "bytes": len(r.data)} for r in result.renditions
        ],
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_child(json.loads(sys.argv[1]))) + "\n")
