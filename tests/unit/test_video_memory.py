"""A video's render stays within its memory estimate: each clip rendered in a fresh process (gallery_cli.peak),
its measured peak RSS above the warmed-up engine against the estimate made from its headers before decoding.

The warm-up renders a tiny photo, not a video, so FFmpeg's libraries are loaded inside the measured render: the
estimate bounds the first video an instance renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery.engine import estimate_render
from gallery.model import Limits, RenditionSpec
from gallery.settings import DEFAULT_WIDTHS
from gallery_cli.peak import measure_render
from tests.video_files import Clip, make_video

SPEC = RenditionSpec(DEFAULT_WIDTHS, ("jpeg",))
CLIPS = {
    "1080p_h264_audio": Clip(width=1920, height=1080, seconds=3.5, fps=30, audio=True),
    "2160p_hevc_10bit_hlg_portrait": Clip(codec="hevc", container="mov", hdr="hlg", seconds=0.5, rotation=90),
    "2160p_hevc_portrait": Clip(codec="hevc", container="mov", width=2160, height=3840, seconds=1.2, rotation=-90),
}


@pytest.mark.parametrize("name", list(CLIPS))
def test_a_video_render_stays_within_its_estimate(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.mov"
    path.write_bytes(make_video(CLIPS[name]))
    estimate = estimate_render(path.read_bytes(), SPEC, Limits()).total_mib
    measured = measure_render(path, SPEC, Limits())
    assert "error" not in measured.result, measured.result
    assert measured.result["renditions"], measured.result
    assert estimate >= measured.peak_mib, f"{name}: estimated {estimate} MiB, measured {measured.peak_mib} MiB"
    print(f"\n{name}: estimate {estimate} MiB, measured {measured.peak_mib:.0f} MiB")
