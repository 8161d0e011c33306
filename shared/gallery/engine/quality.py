"""Target-quality encoding: the lowest encoder quality whose SSIMULACRA2 score meets the target.

Only the served format (the first a browser takes: AVIF, then WebP, then JPEG) is searched; the fallbacks, which
few browsers fetch, keep the fixed quality. The quality is decided once per photo, on one small rendition (the
probe), and reused for every width: at a fixed quality the score of an AVIF rendition varies by a point or two
across widths, WebP's falls by 2-4 points from 320 to 1280 px (docs/renditions.md). The search is a secant
search on the integer quality, bracketed and bounded by `max_encodes`, starting from a typical quality per
format; it assumes the score rises with the quality, which holds on real photos up to noise of a few tenths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gallery.engine.encode import encode, encode_memory_bytes, flatten_for
from gallery.engine.vips import pyvips
from gallery.model import OutputFormat, RenditionSpec

if TYPE_CHECKING:  # numpy and the metric load with the first search, not with the function (cold start)
    import numpy as np
    import numpy.typing as npt

PROBE_WIDTH = 320  # the rendition the quality is decided on: the spec width closest to this
MAX_ENCODES = 5  # encodes (each scored) per format and photo
# Where the search starts, and how many score points one quality step is worth there (measured around a score of
# 75 with AVIF effort 0-1: the quality reaching 75 on a 320 px probe ranges from 52 to 68 over real photos).
_START: dict[OutputFormat, int] = {"avif": 60, "webp": 78, "jpeg": 72}
_SLOPE: dict[OutputFormat, float] = {"avif": 0.8, "webp": 0.4, "jpeg": 0.35}
# Working memory of one score, in bytes per probe pixel (linear and XYB float32 images, the 15 planes blurred
# together by libvips, the error maps): measured 24 MiB on a 320x180 probe (433 B/px).
_METRIC_BYTES_PER_PIXEL = 440

_METRIC_MIN_SIDE = 8  # SSIMULACRA2 needs 8x8 pixels; smaller probes get the fixed quality
# A probe larger than this many pixels (a portrait photo, a tall panorama) is searched on its middle rows only:
# the encoders' decisions are local, and a score costs time in proportion to its pixels (about 60 ms here).
_MAX_PROBE_PIXELS = 320 * 240
# Browsers take the first format they support in this order; the target applies to that one alone.
SERVED_PREFERENCE: tuple[OutputFormat, ...] = ("avif", "webp", "jpeg")

Encoder = Callable[[int], bytes]
Scorer = Callable[[bytes], float]


@dataclass(frozen=True)
class QualityChoice:
    """The search's answer for one format: `quality`, the probe's score there and what it cost."""

    format: OutputFormat
    quality: int
    score: float | None  # None when the quality is fixed (no target)
    encodes: int
    met_target: bool
    probe_width: int = 0
    probe_height: int = 0
    probe_data: bytes = b""  # the probe rendition encoded at `quality`, reused as that rendition


def probe_width(widths: tuple[int, ...]) -> int:
    """Of the widths about to be rendered, the one closest to PROBE_WIDTH (the smaller on a tie)."""
    return min(widths, key=lambda w: (abs(w - PROBE_WIDTH), w))


def served_format(formats: tuple[OutputFormat, ...]) -> OutputFormat:
    """Of the formats rendered, the one a current browser downloads; the others are fallbacks."""
    return next(fmt for fmt in SERVED_PREFERENCE if fmt in formats)


def to_array(image: pyvips.Image) -> npt.NDArray[np.uint8]:
    """An 8-bit image's pixels as (height, width, bands), without a copy."""
    import numpy as np

    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))


def search(encode_at: Encoder, score: Scorer, fmt: OutputFormat, target: float, low: int, high: int) -> QualityChoice:
    """The lowest quality in [low, high] whose score is >= target, within MAX_ENCODES encodes.

    When even `high` misses the target, `high` is the answer (met_target False): the bounds win over the target.
    """
    scores: dict[int, float] = {}
    encoded: dict[int, bytes] = {}

    def measure(quality: int) -> float:
        encoded[quality] = encode_at(quality)
        scores[quality] = score(encoded[quality])
        return scores[quality]

    quality = min(max(_START[fmt], low), high)
    while len(scores) < MAX_ENCODES:
        measure(quality)
        passing = [q for q, s in scores.items() if s >= target]
        failing = [q for q, s in scores.items() if s < target]
        best = min(passing) if passing else None
        worst = max(failing) if failing else None
        if best is not None and (best == low or (worst is not None and best - worst <= 1)):
            break
        if worst is not None and worst == high:
            break
        quality = _next_quality(fmt, target, scores, best, worst, low, high)
    passing = [q for q, s in scores.items() if s >= target]
    chosen = min(passing) if passing else max(scores)
    return QualityChoice(
        format=fmt,
        quality=chosen,
        score=scores[chosen],
        encodes=len(scores),
        met_target=bool(passing),
        probe_data=encoded[chosen],
    )


def _next_quality(
    fmt: OutputFormat,
    target: float,
    scores: dict[int, float],
    best: int | None,
    worst: int | None,
    low: int,
    high: int,
) -> int:
    if best is not None and worst is not None:  # bracketed: interpolate, stay strictly inside the bracket
        s_worst, s_best = scores[worst], scores[best]
        frac = (target - s_worst) / (s_best - s_worst) if s_best > s_worst else 0.5
        guess = worst + math.ceil(frac * (best - worst))
        return min(max(guess, worst + 1), best - 1)
    if best is not None:  # everything tried passes: step down by the expected slope, a little past the target
        step = max(2, math.ceil((scores[best] - target) / _SLOPE[fmt]) + 1)
        return max(low, best - step)
    assert worst is not None  # everything tried fails: step up
    step = max(2, math.ceil((target - scores[worst]) / _SLOPE[fmt]) + 1)
    return min(high, worst + step)


def choose_quality(image: pyvips.Image, fmt: OutputFormat, spec: RenditionSpec) -> QualityChoice:
    """Search `fmt`'s quality on `image` (the probe rendition) when `fmt` is the served format of a spec with a
    target; a fallback format, or any format without a target, gets the spec's fixed quality."""
    searched = spec.quality_target and fmt == served_format(spec.formats)
    if not searched or min(image.width, image.height) < _METRIC_MIN_SIDE:
        return QualityChoice(format=fmt, quality=spec.quality, score=None, encodes=0, met_target=True)
    whole = image.width * image.height <= _MAX_PROBE_PIXELS
    if not whole:
        rows = max(_METRIC_MIN_SIDE, _MAX_PROBE_PIXELS // image.width)
        image = image.crop(0, (image.height - rows) // 2, image.width, rows).copy_memory()
    from gallery.metrics.ssimulacra2 import Reference

    stored = flatten_for(image, fmt).copy_memory()
    reference, bands = Reference(to_array(stored)), stored.bands

    def encode_at(quality: int) -> bytes:
        return encode(image, fmt, quality, webp_effort=spec.webp_effort, avif_effort=spec.avif_effort)

    def score(data: bytes) -> float:
        decoded = pyvips.Image.new_from_buffer(data, "")
        if decoded.bands != bands:
            decoded = decoded[:bands] if decoded.bands > bands else decoded.bandjoin(255)
        return reference.score(to_array(decoded.cast("uchar").copy_memory()))

    choice = search(encode_at, score, fmt, spec.quality_target, spec.quality_min, spec.quality_max)
    return QualityChoice(
        format=choice.format,
        quality=choice.quality,
        score=choice.score,
        encodes=choice.encodes,
        met_target=choice.met_target,
        probe_width=image.width if whole else 0,
        probe_height=image.height if whole else 0,
        probe_data=choice.probe_data if whole else b"",
    )


def search_memory_bytes(spec: RenditionSpec, image_width: int, image_height: int) -> int:
    """Peak working memory of the quality search on a photo shown `image_width` x `image_height`, beyond the
    decoded image: one probe rendition, its encode and its score. 0 without a target."""
    if not spec.quality_target:
        return 0
    width = min(probe_width(spec.widths), image_width)
    height = max(1, round(image_height * width / image_width))
    if width * height > _MAX_PROBE_PIXELS:  # searched on its middle rows, as choose_quality does
        height = max(_METRIC_MIN_SIDE, _MAX_PROBE_PIXELS // width)
    pixels = width * height
    encoder = encode_memory_bytes(served_format(spec.formats), width, height)
    return pixels * 4 + encoder + pixels * _METRIC_BYTES_PER_PIXEL


def encode_plan_memory_bytes(spec: RenditionSpec, image_width: int, image_height: int) -> int:
    """Peak memory that encoding adds to a render of a photo shown `image_width` x `image_height`, beyond the
    decoded image and its resized copies: the larger of the search's working set and the largest single encode
    (encodes run one at a time). Pure: for the render's memory estimate."""
    largest = min(max(spec.widths), image_width)
    height = max(1, round(image_height * largest / image_width))
    encodes = max(encode_memory_bytes(fmt, largest, height) for fmt in spec.formats)
    return max(encodes, search_memory_bytes(spec, image_width, image_height))
