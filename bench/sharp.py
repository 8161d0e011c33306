"""sharp (Node, libvips) as the baseline both benchmarks measure against: one pipeline per width, in a child process.

bench/run.py times it against the engine; bench/quality.py scores its renditions. Skipped (None) without node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def sharp_per_width(job: dict[str, Any]) -> dict[str, Any] | None:
    """Run bench/sharp_worker.mjs on `job` (installing bench/node_modules once); its JSON result, or None."""
    script = BENCH / "sharp_worker.mjs"
    if shutil.which("node") is None:
        return None
    if not (BENCH / "node_modules" / "sharp").is_dir():
        if shutil.which("npm") is None:
            return None
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH, check=True)
    proc = subprocess.run(["node", str(script), json.dumps(job)], check=True, capture_output=True, text=True, cwd=BENCH)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
