"""Cold start of the function: `import main` against what any such function imports anyway.

The baseline is `import functions_framework; from google.cloud import storage, firestore; import pyvips`: the
server, the two clients and libvips, which the thumbnailer cannot avoid. Each import runs in a fresh Python
process with the bundle's layout (main.py beside the `gallery` package), alternating baseline and function,
several times. The import's CPU time is what is compared (wall time swings with whatever else the machine is
running; CPU time much less): the ratio is the median over back-to-back pairs, so both sides of a pair ran
under the same load; the times shown are the minimums, wall time beside them, and resident memory the median.
`python bench/coldstart.py` prints one line; `make bench` includes it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import functions_framework; from google.cloud import storage, firestore; import pyvips"
FUNCTION = "import main"

_PROBE = """
import json, sys, time
started, cpu_started = time.perf_counter(), time.process_time()
exec(sys.argv[1])
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
status = open("/proc/self/status").read()
rss_kib = int(status.split("VmRSS:")[1].split()[0])
result = {"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "rss_mib": rss_kib / 1024}
print(json.dumps({**result, "modules": sorted(sys.modules)}))
"""


@dataclass(frozen=True)
class ColdStart:
    runs: int
    baseline_ms: float
    function_ms: float
    baseline_wall_ms: float
    function_wall_ms: float
    baseline_rss_mib: float
    function_rss_mib: float
    baseline_modules: int
    function_modules: int
    extra_modules: tuple[str, ...]
    paired_ratios: tuple[float, ...] = ()

    @property
    def ratio(self) -> float:
        """The median over runs of function CPU / baseline CPU, each pair measured back to back (so under the
        same load); without pairs, the ratio of the minimums."""
        if self.paired_ratios:
            return statistics.median(self.paired_ratios)
        return self.function_ms / self.baseline_ms

    @property
    def rss_delta_mib(self) -> float:
        return self.function_rss_mib - self.baseline_rss_mib

    def line(self) -> str:
        return (
            f"cold import: main {self.function_ms:.0f} ms CPU ({self.function_wall_ms:.0f} ms wall) / "
            f"{self.function_modules} modules / {self.function_rss_mib:.1f} MiB vs functions-framework + storage + "
            f"firestore + pyvips {self.baseline_ms:.0f} ms CPU ({self.baseline_wall_ms:.0f} ms wall) / "
            f"{self.baseline_modules} modules / {self.baseline_rss_mib:.1f} MiB: {self.ratio:.2f}x CPU, "
            f"{self.rss_delta_mib:+.1f} MiB (times: min of {self.runs} runs; ratio: median of back-to-back pairs; "
            "RSS median)"
        )


def _probe(statement: str, python: str, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [python, "-c", _PROBE, statement], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def measure(runs: int = 7, python: str = sys.executable) -> ColdStart:
    """Import the baseline and the function `runs` times each, alternating, in fresh processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "functions" / "thumbnailer"), str(ROOT / "shared")])
    _probe(BASELINE, python, env)  # warm-up: compiled bytecode in place, as a deployed function has it
    _probe(FUNCTION, python, env)
    base: list[dict[str, object]] = []
    func: list[dict[str, object]] = []
    for _ in range(runs):
        base.append(_probe(BASELINE, python, env))
        func.append(_probe(FUNCTION, python, env))

    def ms(rows: list[dict[str, object]], key: str = "cpu_ms") -> float:
        return min(float(str(r[key])) for r in rows)

    def rss(rows: list[dict[str, object]]) -> float:
        return statistics.median(float(str(r["rss_mib"])) for r in rows)

    base_modules, func_modules = set(base[0]["modules"]), set(func[0]["modules"])  # type: ignore[call-overload]
    return ColdStart(
        runs=runs,
        baseline_ms=ms(base),
        function_ms=ms(func),
        baseline_wall_ms=ms(base, "ms"),
        function_wall_ms=ms(func, "ms"),
        baseline_rss_mib=rss(base),
        function_rss_mib=rss(func),
        baseline_modules=len(base_modules),
        function_modules=len(func_modules),
        extra_modules=tuple(sorted(func_modules - base_modules)),
        paired_ratios=tuple(float(str(f["cpu_ms"])) / float(str(b["cpu_ms"])) for f, b in zip(func, base, strict=True)),
    )


if __name__ == "__main__":
    result = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
    sys.stdout.write(result.line() + "\n")
    if "--json" in sys.argv:
        sys.stdout.write(json.dumps({**asdict(result), "ratio": result.ratio}) + "\n")
