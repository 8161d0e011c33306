"""Short videos made by the tests with PyAV's own encoders, so no test depends on a shipped clip.

Every clip shows the same upright scene, whatever its codec, container or rotation: the top third red, the rest
blue, with a white bar sweeping across (the motion), so a poster can be checked for being upright. A clip may
open on black frames (the poster must skip them), carry audio, be stored sideways with a display rotation (as
phones store portrait video), or be 10-bit BT.2020 HLG/PQ built from a real photo (tests/colour_files.py) so its
tone-mapped poster can be held to the colour bar photos meet.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from gallery.engine.vips import pyvips

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner on stderr otherwise

RED = (220, 30, 30)
BLUE = (30, 60, 220)
# codec → (encoder, pixel format, quiet options)
ENCODERS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264": ("libx264", "yuv420p", {"preset": "ultrafast", "crf": "20"}),
    "hevc": ("libx265", "yuv420p", {"preset": "ultrafast", "crf": "20", "x265-params": "log-level=error"}),
    "vp9": ("libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"}),
    "av1": ("libsvtav1", "yuv420p", {"preset": "12", "crf": "30"}),
    "prores": ("prores", "yuv422p10le", {}),
}
CONTAINER_FORMAT = {"mp4": "mp4", "mov": "mov", "webm": "webm", "mkv": "matroska"}
HDR_TRANSFER = {"hlg": 18, "pq": 16}


@dataclass(frozen=True)
class Clip:
    codec: str = "h264"
    container: str = "mp4"
    width: int = 320  # upright, as displayed
    height: int = 240
    seconds: float = 2.0
    fps: int = 24
    rotation: int = 0  # display rotation the file declares (degrees counter-clockwise, as FFmpeg reports it)
    black_seconds: float = 0.0  # black frames first
    audio: bool = False
    hdr: str | None = None  # "hlg" or "pq": 10-bit BT.2020 frames made from the colour-test photo
    tagged: bool = True  # SDR: BT.709 colour tags in the stream (False: untagged, as old cameras wrote)
    metadata: dict[str, str] = field(default_factory=dict)


def scene(width: int, height: int, index: int) -> np.ndarray:
    """The upright frame `index`: red top third, blue below, a white vertical bar moving right."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[: height // 3] = RED
    frame[height // 3 :] = BLUE
    x = (index * 7) % width
    frame[:, x : x + max(2, width // 40)] = 255
    return frame


def _stored(upright: np.ndarray, rotation: int) -> np.ndarray:
    """The pixels as stored, so that applying the display rotation (counter-clockwise) shows `upright`."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(upright, k=-turns))  # stored = upright turned clockwise


def _hdr_frames(clip: Clip) -> tuple[np.ndarray, int]:
    """The colour-test photo as a 10-bit BT.2020 HLG/PQ signal (16-bit samples), and its transfer code."""
    from tests.colour_files import hdr_signal

    signal = hdr_signal(clip.hdr or "hlg")  # 16-bit rgb, 10 significant bits
    pixels = np.ndarray(buffer=signal.write_to_memory(), dtype=np.uint16, shape=(signal.height, signal.width, 3))
    return pixels, HDR_TRANSFER[clip.hdr or "hlg"]


def make_video(clip: Clip = Clip()) -> bytes:
    """The clip's bytes."""
    encoder, pix_fmt, codec_options = ENCODERS[clip.codec]
    hdr_pixels: np.ndarray | None = None
    width, height = clip.width, clip.height
    if clip.hdr:
        hdr_pixels, transfer = _hdr_frames(clip)
        height, width = hdr_pixels.shape[:2]
        pix_fmt = "yuv420p10le" if clip.codec != "prores" else pix_fmt
        if clip.codec == "hevc":
            codec_options = {**codec_options, "crf": "6"}  # the colour, not the codec's loss, is what HDR tests check
    swaps = (clip.rotation // 90) % 2 == 1
    stored_w, stored_h = (height, width) if swaps else (width, height)
    out_buf = io.BytesIO()
    # QuickTime keys (Apple's make, model, place and Live Photo content identifier) as an iPhone writes them.
    options = {"movflags": "use_metadata_tags"} if clip.metadata and clip.container in ("mov", "mp4") else {}
    with av.open(out_buf, "w", format=CONTAINER_FORMAT[clip.container], options=options) as out:
        for key, value in clip.metadata.items():
            out.metadata[key] = value
        stream = out.add_stream(encoder, rate=clip.fps, options=dict(codec_options))
        stream.width, stream.height, stream.pix_fmt = stored_w, stored_h, pix_fmt
        context = stream.codec_context
        if clip.hdr:
            context.color_primaries, context.color_trc, context.colorspace = 9, transfer, 9
        elif clip.tagged:
            context.color_primaries, context.color_trc, context.colorspace = 1, 1, 1  # BT.709, as phones tag video
        context.color_range = 1  # limited ("TV") range, as swscale writes it
        if clip.rotation:
            stream.set_display_rotation(clip.rotation)
        sound = out.add_stream("aac", rate=48000) if clip.audio else None
        frames = round(clip.seconds * clip.fps)
        black = round(clip.black_seconds * clip.fps)
        for index in range(frames):
            if hdr_pixels is not None:
                rgb = hdr_pixels if index >= black else np.zeros_like(hdr_pixels)
                frame = av.VideoFrame.from_ndarray(_stored(rgb, clip.rotation), format="rgb48le")
                frame = frame.reformat(format=pix_fmt, dst_colorspace="BT2020")
            else:
                upright = scene(width, height, index) if index >= black else np.zeros((height, width, 3), np.uint8)
                frame = av.VideoFrame.from_ndarray(_stored(upright, clip.rotation), format="rgb24")
                frame = frame.reformat(format=pix_fmt, dst_colorspace="ITU709")
            frame.pts = index
            frame.time_base = Fraction(1, clip.fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            _write_audio(out, sound, clip.seconds)
    return out_buf.getvalue()


def _write_audio(out: av.container.OutputContainer, sound: av.audio.stream.AudioStream, seconds: float) -> None:
    samples = 1024
    total = int(seconds * 48000)
    for start in range(0, total, samples):
        t = (np.arange(start, start + samples) / 48000).astype(np.float32)
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2, axis=0), format="fltp", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = start
        out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def top_and_bottom(image: pyvips.Image) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean colour of a band near the top and of one near the bottom of an 8-bit sRGB image."""
    band = max(1, image.height // 10)
    top = image.crop(0, band // 2, image.width, band).stats()
    bottom = image.crop(0, image.height - band - band // 2, image.width, band).stats()
    return (
        tuple(float(top(4, i + 1)[0]) for i in range(3)),
        tuple(float(bottom(4, i + 1)[0]) for i in range(3)),
    )


def is_upright_scene(image: pyvips.Image) -> bool:
    """True when the red band is at the top and blue at the bottom (the scene is not rotated or flipped)."""
    top, bottom = top_and_bottom(image)
    return top[0] > 150 and top[2] < 100 and bottom[2] > 150 and bottom[0] < 100


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def fuzzed(data: bytes, seed: int, flips: int = 200) -> bytes:
    """`data` with `flips` random bytes past the first 32 replaced (the container's magic stays)."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for position in rng.integers(32, len(out), flips):
        out[int(position)] = int(rng.integers(0, 256))
    return bytes(out)
