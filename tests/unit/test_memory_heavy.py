"""Every heavy-but-legal input renders within its estimate: each in a fresh process, its measured peak RSS above
the warmed-up engine (gallery_cli.peak) against the estimate made from its header before decoding."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gallery.engine import estimate_render
from gallery.model import Limits, RenditionSpec
from gallery.settings import DEFAULT_WIDTHS
from gallery_cli.peak import measure_render
from tests.heavy import HEAVY

WEBP = RenditionSpec(DEFAULT_WIDTHS, ("webp",))
WITH_AVIF = RenditionSpec(DEFAULT_WIDTHS, ("webp", "avif"))
# AVIF at effort 3 searched to an SSIMULACRA2 target, with a WebP fallback (the default set's search, with the
# slowest AVIF encoder the settings describe).
SEARCHED = RenditionSpec(DEFAULT_WIDTHS, ("avif", "webp"), avif_effort=3, quality_target=77)
LIMITS = Limits()  # the defaults: 100 MP, 30000 px, 64 MiB, 500 frames


def _check(path: Path, spec: RenditionSpec) -> tuple[int, float]:
    estimate = estimate_render(path.read_bytes(), spec, LIMITS).total_mib
    measured = measure_render(path, spec, LIMITS)
    assert "error" not in measured.result, measured.result  # legal inputs: every one renders
    assert measured.result["renditions"], measured.result
    assert estimate >= measured.peak_mib, f"{path.name}: estimated {estimate} MiB, measured {measured.peak_mib} MiB"
    return estimate, measured.peak_mib


@pytest.mark.parametrize("name", list(HEAVY))
def test_heavy_input_stays_within_its_estimate(name: str, heavy_files: dict[str, Path]) -> None:
    estimate, peak = _check(heavy_files[name], WEBP)
    print(f"\n{name}: estimate {estimate} MiB, measured {peak:.0f} MiB")


@pytest.mark.parametrize("spec", [WITH_AVIF, SEARCHED], ids=["avif", "avif-searched"])
@pytest.mark.parametrize("name", ["avif_8k.avif", "jpeg_progressive_100mp.jpg", "jpeg_panorama_30000px.jpg"])
def test_with_avif_output_too(name: str, spec: RenditionSpec, heavy_files: dict[str, Path]) -> None:
    _check(heavy_files[name], spec)


def test_the_estimate_separates_heavy_from_light(heavy_files: dict[str, Path]) -> None:
    def mib(name: str) -> int:
        return estimate_render(heavy_files[name].read_bytes(), WEBP, LIMITS).total_mib

    # 100 MP streamed with shrink-on-load costs little; the same pixels decoded whole cost an order more.
    assert mib("jpeg_baseline_100mp.jpg") * 3 < mib("jpeg_progressive_100mp.jpg")
    assert mib("jpeg_progressive_100mp.jpg") < mib("jpeg_progressive_cmyk_100mp.jpg")
    assert mib("jpeg_baseline_100mp.jpg") * 8 < mib("png_rgba16_interlaced_100mp.png")


def test_gallery_render_json_reports_estimate_and_peak(heavy_files: dict[str, Path], tmp_path: Path) -> None:
    files = [str(heavy_files[n]) for n in ("jpeg_progressive_100mp.jpg", "jpeg_panorama_30000px.jpg")]
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "gallery"),
            "render",
            "--json",
            "--measure-peak",
            "--out",
            str(tmp_path),
            *files,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(proc.stdout)
    assert [r["file"] for r in results] == files
    for result in results:
        assert 0 < result["peak_mib"] <= result["estimate_mib"], result
        assert result["estimate"]["total_mib"] == result["estimate_mib"]
        assert result["renditions"] and (tmp_path / Path(result["file"]).stem / "2560.jpg").is_file()
    progressive, panorama = results
    assert progressive["peak_mib"] > 4 * panorama["peak_mib"]  # the coefficients of 100 MP are held
