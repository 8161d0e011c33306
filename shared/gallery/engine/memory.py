"""How much memory one render needs at its peak, estimated from the header before any pixel is decoded.

The estimate is an upper bound on the render's peak RSS above a warm, idle instance (what `gallery render
--json` measures in a fresh process, gallery_cli.peak). It adds up, in bytes:

- a fixed overhead (`FIXED_MIB`): the encoders' and the pipeline's own buffers;
- the uploaded file, held while it renders;
- the whole-image buffer of formats that cannot be decoded a few lines at a time: a progressive JPEG keeps every
  DCT coefficient (2 bytes per stored sample, at each component's own chroma sampling, whatever the shrink);
  an interlaced PNG and a lossless WebP are decoded whole; AVIF is decoded whole by libheif (plus the AV1
  decoder's frames); HEIC is decoded whole by libheif into an RGB buffer; a GIF keeps its canvas; a TIFF that
  Pillow decodes (8-bit CIELab, LZMA, ZSTD) is decoded whole;
- the resize: libvips shrinks the decoded image vertically before the horizontal reduce and keeps those rows
  at the decoded width, sample size and band count (decoded width x output height);
- the output: the largest rendition in memory and the smaller ones made from it (per output pixel), plus what
  encoding adds for the spec's formats (`gallery.engine.quality.encode_plan_memory_bytes`: the largest single
  encode, an AVIF one far more than WebP or JPEG, or the quality search's working set if that is larger).

Shrink-on-load lowers the decoded size where the loader allows it (as gallery.engine.loaders asks for it, leaving
at least twice the output width): JPEG by 2/4/8 (but a progressive file still holds all its coefficients), WebP
by any factor; PNG, GIF, TIFF, HEIF and AVIF are decoded at full size. Only
the first page or frame is ever decoded, so the page count does not matter.

Every constant is a measured slope (bench/run.py, heavy inputs; `make bench` prints estimate against measured
peak) with about 10 % added; `MARGIN` adds another 10 % to the sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gallery.engine.decode import refuse_video
from gallery.engine.header import HeaderFacts, read_header
from gallery.engine.limits import check_bytes, check_header, check_isobmff_complete
from gallery.engine.loaders import check_still_image, check_tiff_variant, jpeg_shrink, webp_scale
from gallery.engine.quality import encode_plan_memory_bytes
from gallery.engine.sniff import is_video, sniff_format
from gallery.model import Limits, RenditionSpec

MIB = 1024 * 1024
FIXED_MIB = 40.0
MARGIN = 1.10
# Largest rendition (3-4 bytes) + its smaller ones, without the encoder: measured 7.8 with a WebP encode, whose
# 3.5 B/px (gallery.engine.encode) the encode plan counts.
RENDITIONS_BYTES_PER_PIXEL = 5.0
COEFFICIENT_BYTES = 2  # libjpeg JCOEF per stored sample of a progressive JPEG
AVIF_DECODE_BYTES_PER_PIXEL = 15.2  # libheif + libaom, per pixel and sample byte, measured 14.0
HEIF_DECODE_BYTES_PER_PIXEL = 4.5  # libheif + libde265 through pillow-heif: RGB buffer + YUV planes
GIF_DECODE_BYTES_PER_PIXEL = 8  # RGBA canvas and the previous frame
WEBP_LOSSLESS_BYTES_PER_PIXEL = 4  # libwebp's ARGB buffer
# A TIFF Pillow decodes (8-bit CIELab, LZMA, ZSTD): Pillow's image (4) + its sRGB conversion (4) + the bytes libvips
# reads (up to 4); while decoding, Pillow's image + libtiff's buffer for a whole-image strip (at most 8).
PILLOW_BYTES_PER_PIXEL = 12


@dataclass(frozen=True)
class MemoryEstimate:
    """The parts of one render's peak, in MiB; `total_mib` (rounded up, margin included) is what is admitted."""

    fixed_mib: float
    input_mib: float
    decode_mib: float  # whole-image buffers
    resize_mib: float
    output_mib: float
    total_mib: int

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 1) for k, v in self.__dict__.items()}


def output_size(facts: HeaderFacts, spec: RenditionSpec) -> tuple[int, int]:
    """Width and height of the largest rendition: the largest spec width, never above the photo's own."""
    width = min(max(spec.widths), facts.display_width)
    return width, max(1, math.ceil(facts.display_height * width / facts.display_width))


def _load_shrink(facts: HeaderFacts, out_width: int) -> float:
    """The shrink-on-load decode asks for (gallery.engine.loaders), so the decoded width is the real one."""
    if facts.format == "jpeg":
        return float(jpeg_shrink(facts.display_width, out_width))
    if facts.format == "webp":
        return 1 / webp_scale(facts.display_width, out_width)
    return 1.0


def _whole_image_bytes(facts: HeaderFacts) -> float:
    px = facts.pixels
    if facts.format == "jpeg" and facts.progressive:
        return px * facts.chroma_samples * COEFFICIENT_BYTES
    if facts.format == "png" and facts.interlaced:
        return px * facts.bands * facts.sample_bytes
    if facts.format == "webp" and facts.lossless:
        return px * WEBP_LOSSLESS_BYTES_PER_PIXEL
    if facts.format == "avif":
        return px * AVIF_DECODE_BYTES_PER_PIXEL * facts.sample_bytes
    if facts.format == "heif":
        return px * HEIF_DECODE_BYTES_PER_PIXEL * facts.sample_bytes
    if facts.format == "gif":
        return px * GIF_DECODE_BYTES_PER_PIXEL
    if facts.pillow_decoded:
        return px * PILLOW_BYTES_PER_PIXEL
    return 0.0


def estimate(facts: HeaderFacts, spec: RenditionSpec) -> MemoryEstimate:
    """Upper bound of the memory one render of `facts` with `spec` needs, above an idle instance."""
    out_width, out_height = output_size(facts, spec)
    shrink = _load_shrink(facts, out_width)
    decoded_width = facts.display_width / shrink
    resize = decoded_width * out_height * facts.bands * facts.sample_bytes
    renditions = out_width * out_height * RENDITIONS_BYTES_PER_PIXEL
    output = renditions + encode_plan_memory_bytes(spec, facts.display_width, facts.display_height)
    parts = (FIXED_MIB, facts.file_bytes / MIB, _whole_image_bytes(facts) / MIB, resize / MIB, output / MIB)
    return MemoryEstimate(*parts, total_mib=math.ceil(sum(parts) * MARGIN))


def estimate_render(data: bytes, spec: RenditionSpec, limits: Limits) -> MemoryEstimate:
    """Read the header of `data`, refuse it if it is over `limits` (as `render` would), and estimate its peak."""
    fmt = sniff_format(data)
    if is_video(fmt) and spec.video.enabled:
        from gallery.engine.video.memory import estimate_video  # PyAV: imported by the first video only
        from gallery.engine.video.probe import probe

        return estimate_video(probe(data, fmt, limits.video), spec)
    refuse_video(fmt)
    check_bytes(len(data), limits)
    # The checks decode makes before it reads the header, so a refused photo fails with the same code and reason.
    if fmt in ("heif", "avif"):
        check_isobmff_complete(data)
        check_still_image(data, fmt)
    if fmt == "tiff":
        check_tiff_variant(data)
    facts = read_header(data)
    check_header(facts.display_width, facts.display_height, facts.pages, len(data), limits)
    return estimate(facts, spec)


def estimate_render_mib(data: bytes, spec: RenditionSpec, limits: Limits) -> int:
    """`estimate_render(...).total_mib`: what a render of `data` is admitted for."""
    return estimate_render(data, spec, limits).total_mib
