"""A video's moving preview: its first seconds, small, silent and looping, as an H.264 MP4 every browser plays
inline (`<video muted loop playsinline autoplay>`).

H.264 (x264, `veryfast`, CRF 23, yuv420p, BT.709 tags, `+faststart` so playback starts before the whole file has
arrived) is what every browser decodes, in hardware on phones; docs/videos.md has the measured alternatives.
At most `MAX_FPS` frames a second are kept; one encoder thread, like one libvips thread per render.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from gallery.model import EncodedMotion

if TYPE_CHECKING:
    import av.container
    import numpy as np

MAX_FPS = 30
CRF = 23
PRESET = "veryfast"


def preview_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """Upright preview size: the longer side at most `longest`, never above the video's, both even."""
    scale = min(1.0, longest / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def frame_step(frame_rate: float | None) -> int:
    """Keep every n-th frame so the preview plays at most `MAX_FPS` frames a second."""
    if not frame_rate or frame_rate <= MAX_FPS:
        return 1
    return math.ceil(frame_rate / MAX_FPS - 1e-6)


class MotionEncoder:
    """Frames in (8-bit RGB arrays, upright, at the preview size), an MP4 out."""

    def __init__(self, width: int, height: int, frame_rate: float | None) -> None:
        import av

        rate = Fraction(frame_rate or 30).limit_denominator(1001)
        step = frame_step(frame_rate)
        self.rate = rate / step
        self.width, self.height = width, height
        # A file, not a buffer: +faststart rewrites the file to put the index first (a small file: /tmp is memory).
        handle, self._path = tempfile.mkstemp(prefix="motion-", suffix=".mp4")
        os.close(handle)
        self._out: av.container.OutputContainer = av.open(
            self._path, "w", format="mp4", options={"movflags": "+faststart"}
        )
        self._stream = self._out.add_stream(
            "libx264",
            rate=self.rate,
            options={"preset": PRESET, "crf": str(CRF), "threads": "1", "profile": "high", "x264-params": "log=-1"},
        )
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        context = self._stream.codec_context
        context.color_primaries, context.color_trc, context.colorspace, context.color_range = 1, 1, 1, 1
        self._frames = 0

    def add(self, rgb: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG", threads=1)
        frame.pts = self._frames
        frame.time_base = 1 / self.rate
        self._out.mux(self._stream.encode(frame))
        self._frames += 1

    @property
    def frames(self) -> int:
        return self._frames

    def finish(self) -> EncodedMotion | None:
        """The encoded preview, or None when no frame was added."""
        try:
            if self._frames == 0:
                self._out.close()
                return None
            self._out.mux(self._stream.encode(None))
            self._out.close()
            data = Path(self._path).read_bytes()
        finally:
            _remove(self._path)
        duration = round(self._frames / float(self.rate), 3)
        return EncodedMotion(width=self.width, height=self.height, duration_s=duration, data=data)

    def abandon(self) -> None:
        with contextlib.suppress(Exception):  # closing a half-written preview of a failed render
            self._out.close()
        _remove(self._path)


def _remove(path: str) -> None:
    Path(path).unlink(missing_ok=True)
