"""How much memory a video's render needs at its peak, from its container and stream headers.

The parts, in bytes, beside the photo estimate's own for the poster's renditions (resize and encodes at the
video's display size):

- FFmpeg's libraries, mapped by the first video an instance renders (`LIBRARIES_MIB`, measured: the estimate
  stays an upper bound on a cold instance too);
- the uploaded file, held while it renders;
- the decoder's frames: its reference and reordering frames plus one per decoding thread, each a YCbCr frame at
  the stream's sample size (`DECODER_FRAMES`);
- the poster at full size: the RGB frame, its copy into libvips and the upright turn (`POSTER_COPIES`);
- the preview's encoder (`PREVIEW_MIB`, x264 at a few hundred pixels).

Constants are measured slopes (tests/unit/test_video_memory.py checks estimate ≥ measured peak) with a margin.
"""

from __future__ import annotations

import math

from gallery.engine.header import HeaderFacts
from gallery.engine.memory import FIXED_MIB, MARGIN, MIB, MemoryEstimate, estimate
from gallery.engine.video.probe import VideoFacts
from gallery.model import RenditionSpec

LIBRARIES_MIB = 60.0
DECODER_FRAMES = 20  # H.264/HEVC keep up to 16 reference frames; 2 threads; the frame handed out
POSTER_COPIES = 3
PREVIEW_MIB = 40.0
_CHROMA = {"420": 1.5, "422": 2.0, "444": 3.0}


def _samples_per_pixel(pixel_format: str) -> float:
    return next((v for k, v in _CHROMA.items() if k in pixel_format), 3.0)


def estimate_video(facts: VideoFacts, spec: RenditionSpec) -> MemoryEstimate:
    """Upper bound of one video render's memory above an idle instance, whichever way up it is shown (the display
    rotation is only known once a frame is decoded)."""
    width = max(1, round(facts.coded_width * facts.sample_aspect))
    return max(
        (_estimate(facts, spec, size) for size in ((width, facts.coded_height), (facts.coded_height, width))),
        key=lambda e: e.total_mib,
    )


def _estimate(facts: VideoFacts, spec: RenditionSpec, display: tuple[int, int]) -> MemoryEstimate:
    width, height = display
    poster = HeaderFacts(format=facts.container, width=width, height=height, bands=3, sample_bytes=facts.sample_bytes)
    photo = estimate(poster, spec)  # the poster's resize and renditions, like a photo of the video's size
    frame = facts.pixels * _samples_per_pixel(facts.pixel_format) * facts.sample_bytes
    decoder = frame * DECODER_FRAMES
    poster_rgb = facts.pixels * 3 * facts.sample_bytes * POSTER_COPIES
    preview = PREVIEW_MIB if spec.video.preview else 0.0
    fixed = FIXED_MIB + LIBRARIES_MIB + preview
    parts = (fixed, facts.file_bytes / MIB, (decoder + poster_rgb) / MIB, photo.resize_mib, photo.output_mib)
    return MemoryEstimate(*parts, total_mib=math.ceil(sum(parts) * MARGIN))
