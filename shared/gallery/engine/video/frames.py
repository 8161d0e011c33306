"""Decoded video frames: read within a time budget, turned upright into colour-managed libvips images, and the
poster frame chosen among them.

Colour: the YCbCr → RGB matrix and range are the stream's (an untagged stream is BT.709 from 720 lines up,
BT.601 below, as players assume). SDR video is shown as its RGB values in sRGB, as browsers display it, with
BT.2020 or P3 primaries converted; HLG and PQ (10-bit HDR) are tone-mapped to SDR by the photos' own
`tone_map_hdr`, so an HDR video's poster lands where the same HDR photo does.

Poster: a frame from the first seconds that is neither black, white nor flat. Candidates are taken every half
second from the start; the first acceptable one from `POSTER_AFTER_S` on wins (a clip's first frame is often a
fade-in or a still-settling exposure); otherwise the first acceptable one before it; otherwise the candidate with
the most contrast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gallery.engine.video.probe import VideoFacts
from gallery.engine.video.tonemap import FrameColour
from gallery.engine.vips import pyvips
from gallery.errors import CorruptVideoError, LimitExceededError

if TYPE_CHECKING:
    import av.container
    import av.video.frame

POSTER_AFTER_S = 1.0
CANDIDATE_EVERY_S = 0.5
POSTER_SEARCH_S = 3.0  # no candidate after this
MIN_MEAN, MAX_MEAN, MIN_STDDEV = 24.0, 235.0, 12.0  # on 8-bit luma: not black, not blown out, not flat

# H.273 colour primaries → xy of red, green, blue and white (those that are not sRGB's).
_PRIMARIES = {
    9: ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046), (0.3127, 0.3290)),  # BT.2020
    11: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.314, 0.351)),  # DCI-P3
    12: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.3127, 0.3290)),  # P3-D65 (Display P3)
}
# H.273 matrix coefficients → swscale's colourspace names.
_MATRICES = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}


def frame_colour(facts: VideoFacts) -> FrameColour:
    """How this video's decoded RGB becomes sRGB: SDR values as they are (other primaries converted), HLG/PQ
    tone-mapped."""
    hdr = facts.transfer if facts.hdr else None
    return FrameColour.build(hdr, _PRIMARIES.get(facts.primaries), deep(facts))


def _matrix(facts: VideoFacts) -> str:
    if facts.matrix in _MATRICES:
        return _MATRICES[facts.matrix]
    return "ITU709" if facts.coded_height >= 720 else "ITU601"


def deep(facts: VideoFacts) -> bool:
    """Convert to 16-bit RGB (10-bit and HDR video) rather than 8-bit."""
    return facts.bit_depth > 8 or facts.hdr is not None


def to_rgb(frame: av.video.frame.VideoFrame, facts: VideoFacts, size: tuple[int, int] | None = None) -> np.ndarray:
    """The frame as stored (not yet upright): H x W x 3 RGB code values, uint16 for deep video, else uint8, at
    `size` (width, height in the stored orientation; shrunk by area averaging, a quarter of bicubic's cost from
    4K to a preview) or its own."""
    width, height = size or (frame.width, frame.height)
    sixteen = deep(facts)
    rgb = frame.reformat(
        width=width,
        height=height,
        format="rgb48le" if sixteen else "rgb24",
        src_colorspace=_matrix(facts),
        src_color_range="JPEG" if facts.full_range else "MPEG",
        interpolation="AREA" if size else "BICUBIC",
        threads=1,
    )
    pixels: np.ndarray = rgb.to_ndarray()
    return pixels


def as_vips(pixels: np.ndarray) -> pyvips.Image:
    """A libvips image holding a copy of H x W x 3 uint8 or uint16 RGB."""
    sixteen = pixels.dtype == np.uint16
    height, width = pixels.shape[:2]
    image = pyvips.Image.new_from_memory(
        np.ascontiguousarray(pixels).tobytes(), width, height, 3, "ushort" if sixteen else "uchar"
    )
    return image.copy(interpretation="rgb16" if sixteen else "srgb")


def from_vips(image: pyvips.Image) -> np.ndarray:
    dtype = np.uint16 if image.format == "ushort" else np.uint8
    return np.ndarray(buffer=image.write_to_memory(), dtype=dtype, shape=(image.height, image.width, image.bands))


def upright(image: pyvips.Image, rotation: int) -> pyvips.Image:
    """Turn stored pixels upright: `rotation` is the display matrix's angle (counter-clockwise, as FFmpeg reads it)."""
    turn = clockwise(rotation)
    if turn == 0:
        return image
    return image.rot({90: "d90", 180: "d180", 270: "d270"}[turn])


def upright_array(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """`upright` for an H x W x C array."""
    turns = clockwise(rotation) // 90
    return np.ascontiguousarray(np.rot90(pixels, k=-turns)) if turns else pixels


def clockwise(rotation: int) -> int:
    """The clockwise turn (0, 90, 180, 270) that shows the stored frames upright."""
    return round(((-rotation) % 360) / 90) * 90 % 360


@dataclass(frozen=True)
class FrameStats:
    time_s: float
    mean: float  # 8-bit luma
    stddev: float

    @property
    def acceptable(self) -> bool:
        return MIN_MEAN <= self.mean <= MAX_MEAN and self.stddev >= MIN_STDDEV


def frame_stats(frame: av.video.frame.VideoFrame, time_s: float) -> FrameStats:
    """Luma mean and spread of a small grey copy of the frame (the Y plane, scaled to 64 px wide)."""
    width = 64
    height = max(1, round(frame.height * width / frame.width))
    grey = frame.reformat(width=width, height=height, format="gray", interpolation="AREA", threads=1)
    plane = grey.planes[0]
    image = pyvips.Image.new_from_memory(bytes(plane), plane.line_size, height, 1, "uchar").crop(0, 0, width, height)
    return FrameStats(time_s, float(image.avg()), float(image.deviate()))


class PosterChooser:
    """Decides the poster online, holding at most two frames: the first acceptable one and the best fallback."""

    def __init__(self) -> None:
        self._next_candidate = 0.0
        self._first_ok: tuple[FrameStats, Any] | None = None
        self._best: tuple[FrameStats, Any] | None = None
        self.chosen: tuple[FrameStats, Any] | None = None

    def offer(self, frame: av.video.frame.VideoFrame, time_s: float) -> bool:
        """Look at a decoded frame; True once the poster is decided."""
        if self.chosen is not None:
            return True
        if time_s + 1e-6 < self._next_candidate:
            return False
        self._next_candidate = time_s + CANDIDATE_EVERY_S
        stats = frame_stats(frame, time_s)
        if stats.acceptable and time_s >= POSTER_AFTER_S - 1e-6:
            self.chosen = (stats, frame)
            return True
        if stats.acceptable and self._first_ok is None:
            self._first_ok = (stats, frame)
        if self._best is None or stats.stddev > self._best[0].stddev:
            self._best = (stats, frame)
        if time_s >= POSTER_SEARCH_S:
            return self.finish()
        return False

    def finish(self) -> bool:
        """No more frames: settle for the earlier acceptable frame, or the most contrasted one."""
        if self.chosen is None:
            self.chosen = self._first_ok or self._best
        self._first_ok = self._best = None
        return self.chosen is not None


class FrameReader:
    """Decoded frames of the video stream with their time, within a wall-time budget, from the start.

    Damage after the first good frame ends the stream early (the frames so far are used); damage before it, or a
    budget spent before it, fails the video.
    """

    def __init__(self, container: av.container.InputContainer, budget_s: float) -> None:
        self._container = container
        self._stream = container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = 2
        self._deadline = time.monotonic() + budget_s
        self._budget_s = budget_s
        self.decoded = 0
        self.ended_early: str | None = None
        self.rotation = 0
        self._start: float | None = None

    def __iter__(self) -> Iterator[tuple[av.video.frame.VideoFrame, float]]:
        import av

        frames = self._container.decode(self._stream)
        while True:
            if time.monotonic() > self._deadline:
                if not self.decoded:
                    raise LimitExceededError(
                        f"no frame decoded within the {self._budget_s:.0f} s budget", code="decode_too_slow"
                    )
                self.ended_early = "budget"
                return
            try:
                frame = next(frames)
            except StopIteration:
                return
            except (av.FFmpegError, ValueError, OSError, EOFError) as err:
                if not self.decoded:
                    raise CorruptVideoError(f"the video stream is damaged: {' '.join(str(err).split())[:300]}") from err
                self.ended_early = "damage"
                return
            seconds = self._seconds(frame)
            if self.decoded == 0:
                self.rotation = int(frame.rotation or 0)
            self.decoded += 1
            yield frame, seconds

    def _seconds(self, frame: av.video.frame.VideoFrame) -> float:
        """The frame's time from the first frame's (streams may start at any timestamp)."""
        stamp = frame.time if frame.time is not None else None
        if stamp is None:
            rate = self._stream.average_rate
            return self.decoded / float(rate) if rate else float(self.decoded) / 30
        if self._start is None:
            self._start = stamp
        return max(0.0, stamp - self._start)
