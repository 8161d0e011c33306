"""Video benchmark: what a video's render costs, and which format its moving preview should be.

`make bench` runs it (or `.venv/bin/python bench/video.py --help`). The clips are made here from a real photo
(samples/large/landscape_20mp.jpg) by panning and zooming across it, so the encoders see a photograph's texture
and real motion, at a phone's settings:

- 1080p H.264 High, 30 fps, with AAC audio (x264 `fast`, CRF 20: about the bitrate a phone records);
- 2160p HEVC 10-bit HLG (BT.2020), 30 fps, stored landscape with a -90° display rotation (an iPhone's portrait
  HDR video; x265 `ultrafast`, CRF 24);
- 1080p HEVC 8-bit, 30 fps.

For each clip: the render's estimated and measured peak memory (a fresh process, gallery_cli.peak), its CPU and wall
time, the poster's and preview's bytes. Then the preview format choice: the first 3 s of the 1080p clip at 480 px as
H.264 (the default), VP9, AV1 (SVT-AV1) and animated WebP at a few quality settings each: bytes, encode CPU and
SSIMULACRA2 of six frames against the same frames resized. Results go to bench/video.json and bench/video.md; the
clips are kept in bench/.clips/ for bench/latency.py (upload to ready on the local stack).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CLIPS = BENCH / ".clips"
SOURCE = ROOT / "samples/large/landscape_20mp.jpg"
SECONDS = 4.0
FPS = 30
PREVIEW_WIDTH = 480
PREVIEW_SECONDS = 3.0

os.environ.setdefault("SVT_LOG", "1")

Result = dict[str, Any]


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- clips -------------------------------------------------------------------------------------------------------


def _pan_frames(width: int, height: int, frames: int) -> Any:
    """Upright RGB frames panning and zooming across the photo (a slow push-in from left to right)."""
    import numpy as np

    from gallery.engine.vips import pyvips

    photo = pyvips.Image.new_from_file(str(SOURCE), access="random")
    photo = photo.thumbnail_image(int(width * 1.6), height=10_000_000)
    for index in range(frames):
        t = index / max(1, frames - 1)
        zoom = 1.0 + 0.25 * t
        crop_w = min(photo.width, int(width * 1.5 / zoom))
        crop_h = min(photo.height, int(crop_w * height / width))
        left = int((photo.width - crop_w) * t)
        top = int((photo.height - crop_h) * 0.5)
        frame = photo.crop(left, top, crop_w, crop_h).resize(width / crop_w, vscale=height / crop_h)
        yield np.ndarray(
            buffer=frame.write_to_memory(), dtype=np.uint8, shape=(frame.height, frame.width, frame.bands)
        )[:, :, :3]


def _hlg(rgb: Any) -> Any:
    """8-bit sRGB → 16-bit BT.2020 HLG code values (white at 203 cd/m² on a 1000 cd/m² display)."""
    import numpy as np

    e = rgb.astype(np.float32) / 255
    linear = np.where(e <= 0.04045, e / 12.92, ((e + 0.055) / 1.055) ** 2.4)
    to2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]], np.float32)
    scene = np.clip(linear @ to2020.T, 0, None) * (203 / 1000)
    scene = scene ** (1 / 1.2)
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    signal = np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-6)) + c)
    return (np.round(signal * 1023) * 64).astype(np.uint16)


def make_clip(kind: str) -> Path:
    import av
    import numpy as np

    path = CLIPS / f"{kind}.{'mp4' if kind.startswith('1080p_h264') else 'mov'}"
    if path.exists():
        return path
    CLIPS.mkdir(parents=True, exist_ok=True)
    hdr = kind == "2160p_hevc_hlg_portrait"
    width, height = (2160, 3840) if hdr else (1920, 1080)  # upright
    stored_w, stored_h = (height, width) if hdr else (width, height)
    codec, pix_fmt, options = {
        "1080p_h264_audio": ("libx264", "yuv420p", {"preset": "fast", "crf": "20", "profile": "high"}),
        "2160p_hevc_hlg_portrait": ("libx265", "yuv420p10le", {"preset": "ultrafast", "crf": "24"}),
        "1080p_hevc": ("libx265", "yuv420p", {"preset": "ultrafast", "crf": "24"}),
    }[kind]
    if codec == "libx265":
        options["x265-params"] = "log-level=error"
    frames = int(SECONDS * FPS)
    with av.open(str(path), "w", format="mp4" if path.suffix == ".mp4" else "mov") as container:
        stream = container.add_stream(codec, rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = stored_w, stored_h, pix_fmt
        context = stream.codec_context
        context.color_primaries, context.color_trc, context.colorspace = (9, 18, 9) if hdr else (1, 1, 1)
        context.color_range = 1
        if hdr:
            stream.set_display_rotation(-90)
        sound = container.add_stream("aac", rate=48000) if "audio" in kind else None
        for index, rgb in enumerate(_pan_frames(width, height, frames)):
            if hdr:
                stored = np.ascontiguousarray(np.rot90(_hlg(rgb), k=1))  # shown after a 90° clockwise turn
                frame = av.VideoFrame.from_ndarray(stored, format="rgb48le")
                frame = frame.reformat(format=pix_fmt, dst_colorspace="BT2020", dst_color_range="MPEG")
            else:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame = frame.reformat(format=pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if sound is not None:
            for start in range(0, int(SECONDS * 48000), 1024):
                tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(start, start + 1024) / 48000)).astype(np.float32)
                audio = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                audio.sample_rate, audio.pts = 48000, start
                container.mux(sound.encode(audio))
            container.mux(sound.encode(None))
    return path


# --- the render --------------------------------------------------------------------------------------------------


def render_figures(path: Path) -> Result:
    """Estimate, measured peak (fresh process) and CPU of one render with the default settings."""
    from gallery.engine import estimate_render
    from gallery.service import ServiceConfig
    from gallery.settings import Settings
    from gallery_cli.peak import measure_render

    config = ServiceConfig.from_settings(Settings.from_env())
    estimate = estimate_render(path.read_bytes(), config.spec, config.limits)
    measured = measure_render(path, config.spec, config.limits)
    cpu = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--cpu-worker", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "VIPS_CONCURRENCY": "1"},
    )
    timing = json.loads(cpu.stdout.strip().splitlines()[-1])
    return {
        "clip": path.name,
        "bytes": path.stat().st_size,
        "estimate_mib": estimate.total_mib,
        "peak_mib": measured.peak_mib,
        **timing,
    }


def cpu_worker(path: Path) -> Result:
    """Render once to warm up, then again measuring CPU and wall time (one process, like one instance)."""
    from gallery.engine import render
    from gallery.service import ServiceConfig
    from gallery.settings import Settings

    config = ServiceConfig.from_settings(Settings.from_env())
    data = path.read_bytes()
    render(data, config.spec, config.limits)
    cpu, wall = time.process_time(), time.perf_counter()
    result = render(data, config.spec, config.limits)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert result.video is not None
    return {
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "display": f"{result.width}x{result.height}",
        "poster_s": result.video.poster_time_s,
        "renditions_bytes": sum(len(r.data) for r in result.renditions),
        "preview_bytes": len(result.motion.data) if result.motion else 0,
        "preview_size": f"{result.motion.width}x{result.motion.height}" if result.motion else "",
    }


# --- the preview format ------------------------------------------------------------------------------------------

PREVIEW_FORMATS: dict[str, tuple[str, str, str, dict[str, str], str, tuple[int, ...]]] = {
    # label: (encoder, container, pixel format, options, the quality option, its values)
    "H.264 MP4 (x264 veryfast; CRF 23 the default)": (
        "libx264",
        "mp4",
        "yuv420p",
        {"preset": "veryfast"},
        "crf",
        (19, 23, 27, 31),
    ),
    "VP9 WebM (libvpx realtime, cpu-used 8)": (
        "libvpx-vp9",
        "webm",
        "yuv420p",
        {"deadline": "realtime", "cpu-used": "8", "b": "0", "row-mt": "0"},
        "crf",
        (36, 44, 52),
    ),
    "AV1 MP4 (SVT-AV1 preset 10)": ("libsvtav1", "mp4", "yuv420p", {"preset": "10"}, "crf", (38, 46, 54)),
    "animated WebP (libwebp)": ("libwebp_anim", "webp", "yuv420p", {"loop": "0"}, "quality", (40, 60, 80)),
}


def _preview_frames(path: Path) -> list[Any]:
    """The 1080p clip's first 3 s at 480 px, as the engine's preview takes them (8-bit sRGB arrays)."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= PREVIEW_SECONDS:
                break
            height = round(frame.height * PREVIEW_WIDTH / frame.width / 2) * 2
            frames.append(frame.reformat(width=PREVIEW_WIDTH, height=height, format="rgb24").to_ndarray())
    return frames


def _decoded(data: bytes, container_format: str, height: int) -> list[Any]:
    """Every frame of an encoded preview as RGB arrays (animated WebP through libvips: FFmpeg cannot read it)."""
    import av
    import numpy as np

    if container_format == "webp":
        from gallery.engine.vips import pyvips

        strip = pyvips.Image.new_from_buffer(data, "", n=-1)[0:3]
        pixels = np.ndarray(buffer=strip.write_to_memory(), dtype=np.uint8, shape=(strip.height, strip.width, 3))
        return [pixels[i : i + height] for i in range(0, strip.height, height)]
    with av.open(io.BytesIO(data)) as decoded:
        return [f.to_ndarray(format="rgb24") for f in decoded.decode(video=0)]


def _encode_preview(
    frames: list[Any], encoder: str, container_format: str, pix_fmt: str, options: dict[str, str]
) -> tuple[bytes, float]:
    import av

    height = frames[0].shape[0]
    buffer = io.BytesIO()
    cpu = time.process_time()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=FPS, options={**options, "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = PREVIEW_WIDTH, height, pix_fmt
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format=pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG"
            )
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue(), time.process_time() - cpu


def preview_choice(path: Path) -> list[Result]:
    from gallery.metrics.ssimulacra2 import ssimulacra2

    frames = _preview_frames(path)
    height = frames[0].shape[0]
    sampled = list(range(0, len(frames), max(1, len(frames) // 6)))[:6]
    rows = []
    for label, (encoder, container_format, pix_fmt, options, knob, values) in PREVIEW_FORMATS.items():
        for value in values:
            data, cpu = _encode_preview(frames, encoder, container_format, pix_fmt, {**options, knob: str(value)})
            back = _decoded(data, container_format, height)
            scores = [ssimulacra2(frames[i], back[i]) for i in sampled if i < len(back)]
            rows.append(
                {
                    "format": label,
                    "setting": f"{knob} {value}",
                    "bytes": len(data),
                    "encode_cpu_s": round(cpu, 3),
                    "ssimulacra2_mean": round(sum(scores) / len(scores), 1),
                    "frames": len(back),
                }
            )
            score = rows[-1]["ssimulacra2_mean"]
            out(f"  {label:40} {knob} {value:3} {len(data):>9,} B  CPU {cpu:5.2f} s  SSIMULACRA2 {score}")
    return rows


# --- report ------------------------------------------------------------------------------------------------------


def markdown(results: Result) -> str:
    lines = [
        "# Video benchmark",
        "",
        f"Clips made from {SOURCE.name} (a pan and push-in across the photo), {SECONDS:g} s at {FPS} fps; the "
        "default settings (poster widths and formats as a photo's, preview 3 s at 480 px). Peak: the render's RSS "
        "above a warmed-up process that has not loaded FFmpeg yet (gallery_cli.peak). CPU and wall: one render "
        "after a warm-up render in the same process.",
        "",
        "| clip | bytes | shown | estimate MiB | measured peak MiB | CPU s | wall s | poster at | renditions "
        "| preview |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["renders"]:
        lines.append(
            f"| {r['clip']} | {r['bytes']:,} | {r['display']} | {r['estimate_mib']} | {r['peak_mib']:.0f} | "
            f"{r['cpu_s']:.2f} | {r['wall_s']:.2f} | {r['poster_s']:g} s | {r['renditions_bytes']:,} B | "
            f"{r['preview_bytes']:,} B ({r['preview_size']}) |"
        )
    lines += [
        "",
        "## The preview's format",
        "",
        f"The first {PREVIEW_SECONDS:g} s of the 1080p clip at {PREVIEW_WIDTH} px, {FPS} fps, one encoder thread; "
        "SSIMULACRA2 of six frames against the same frames before encoding.",
        "",
        "| format | setting | bytes | encode CPU s | SSIMULACRA2 mean |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in results["preview"]:
        lines.append(
            f"| {r['format']} | {r['setting']} | {r['bytes']:,} | {r['encode_cpu_s']:.2f} | {r['ssimulacra2_mean']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=BENCH / "video.json")
    parser.add_argument("--markdown", type=Path, default=BENCH / "video.md")
    parser.add_argument("--cpu-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu_worker:
        sys.stdout.write(json.dumps(cpu_worker(args.cpu_worker)) + "\n")
        return
    results: Result = {"renders": [], "preview": []}
    for kind in ("1080p_h264_audio", "1080p_hevc", "2160p_hevc_hlg_portrait"):
        path = make_clip(kind)
        out(f"{path.name}:")
        figures = render_figures(path)
        out(f"  {json.dumps(figures)}")
        results["renders"].append(figures)
    out("preview formats:")
    results["preview"] = preview_choice(make_clip("1080p_h264_audio"))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    args.markdown.write_text(markdown(results))
    out(f"wrote {args.json.relative_to(ROOT)} and {args.markdown.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "shared"))
    main()
