"""Render a photo into its rendition set from a single decode.

Every encoder has a largest side it can write (`MAX_OUTPUT_SIDE`). A rendition that would exceed it in one
format (a 16384 px wide WebP, or any width of a very tall panorama) is scaled down for that format until its
longer side equals the limit, keeping the aspect ratio; its manifest entry records the size actually written.
The other formats and the smaller widths are unaffected, so a huge panorama still gets every width it can.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from gallery.engine.colour import ICC_FIELD, INTENT, finish
from gallery.engine.decode import Decoded, decode
from gallery.engine.encode import encode
from gallery.engine.exif import read_exif
from gallery.engine.placeholder import placeholder_and_colour
from gallery.engine.quality import QualityChoice, choose_quality, probe_width, served_format
from gallery.engine.sniff import is_video, sniff_format
from gallery.engine.vips import ensure_malloc_tuned, pyvips
from gallery.errors import CorruptImageError
from gallery.model import (
    EncodedRendition,
    ExifSummary,
    Limits,
    OutputFormat,
    PreviewResult,
    RenderResult,
    RenditionSpec,
    VariantRendering,
)

if TYPE_CHECKING:
    from gallery.presets.plan import VariantRequest

_HUGE = 10_000_000

MAX_OUTPUT_SIDE: dict[OutputFormat, int] = {
    # libwebp: WEBP_MAX_DIMENSION.
    "webp": 16383,
    # libjpeg(-turbo): JPEG_MAX_DIMENSION (the JPEG format itself would allow 65535).
    "jpeg": 65500,
    # libheif with the AV1 encoder in the bundled libvips refuses a side above 16384 ("heifsave: image too large",
    # checked by tests/unit/test_engine_limits.py); the AV1 format itself would allow 65536.
    "avif": 16384,
}


def target_widths(spec_widths: tuple[int, ...], image_width: int) -> tuple[int, ...]:
    """Widths to render, ascending: never upscale; widths at or above the photo's collapse into its own width."""
    below = [w for w in spec_widths if w < image_width]
    if len(below) < len(spec_widths):
        below.append(image_width)
    return tuple(sorted(set(below)))


def _encode(image: pyvips.Image, fmt: OutputFormat, spec: RenditionSpec, choice: QualityChoice) -> bytes:
    if choice.probe_data and (image.width, image.height) == (choice.probe_width, choice.probe_height):
        return choice.probe_data  # the probe rendition, already encoded at the chosen quality by the search
    return encode(image, fmt, choice.quality, webp_effort=spec.webp_effort, avif_effort=spec.avif_effort)


def _as_srgb(image: pyvips.Image) -> pyvips.Image:
    """The image in sRGB for the placeholder and colour, which CSS reads as sRGB."""
    if not image.get_typeof(ICC_FIELD):
        return image
    return finish(image.icc_transform("srgb", embedded=True, intent=INTENT), "srgb")


def _shrink(image: pyvips.Image, width: int) -> pyvips.Image:
    return image.thumbnail_image(width, height=_HUGE, size="down", no_rotate=True).copy_memory()


def fit_for_format(image: pyvips.Image, fmt: OutputFormat) -> pyvips.Image:
    """`image` itself, or scaled down so its longer side is the format's `MAX_OUTPUT_SIDE`."""
    limit = MAX_OUTPUT_SIDE[fmt]
    if image.width <= limit and image.height <= limit:
        return image
    return image.thumbnail_image(limit, height=limit, size="down", no_rotate=True)


def _paint_first(
    on_preview: PreviewSink, smallest: pyvips.Image, source: tuple[str, int, int], spec: RenditionSpec
) -> tuple[list[EncodedRendition], tuple[str, str]]:
    """Encode the smallest width in the fixed-quality formats and hand the preview over; returns those renditions
    and the placeholder and colour."""
    early = []
    for fmt in preview_formats(spec):
        fitted = fit_for_format(smallest, fmt)
        fixed = choose_quality(fitted, fmt, spec)  # not the served format of a target: no search
        early.append(EncodedRendition(fitted.width, fitted.height, fmt, _encode(fitted, fmt, spec, fixed)))
    placeholder, colour = placeholder_and_colour(_as_srgb(smallest))
    source_format, width, height = source
    on_preview(
        PreviewResult(
            source_format=source_format,
            width=width,
            height=height,
            has_alpha=smallest.bands == 4,
            renditions=tuple(early),
            placeholder=placeholder,
            dominant_color=colour,
        )
    )
    return early, (placeholder, colour)


def _render_variants(
    image: pyvips.Image, variants: VariantRequest, spec: RenditionSpec, choices: dict[OutputFormat, QualityChoice]
) -> tuple[VariantRendering, ...]:
    from gallery.presets.render import EngineParts, render_variants  # presets import the engine's pyvips

    def encode_variant(image: pyvips.Image, fmt: OutputFormat, preset_spec: RenditionSpec) -> bytes:
        """At the quality searched for the photo's renditions of that format, unless the preset fixes its own."""
        searched = preset_spec.quality_target and fmt in choices
        quality = choices[fmt].quality if searched else preset_spec.quality
        return encode(image, fmt, quality, webp_effort=preset_spec.webp_effort, avif_effort=preset_spec.avif_effort)

    return render_variants(image, variants, spec, EngineParts(encode_variant, target_widths, fit_for_format))


def preview_formats(spec: RenditionSpec) -> tuple[OutputFormat, ...]:
    """The formats a preview carries: those encoded at the fixed quality (all of them without a target, else the
    fallbacks), so painting never waits for the quality search."""
    if not spec.quality_target:
        return spec.formats
    served = served_format(spec.formats)
    return tuple(fmt for fmt in spec.formats if fmt != served)


PreviewSink = Callable[[PreviewResult], None]
"""Called once per render with the preview, before the larger widths are encoded."""


def render(
    data: bytes,
    spec: RenditionSpec,
    limits: Limits | None = None,
    variants: VariantRequest | None = None,
    on_preview: PreviewSink | None = None,
    motion: bool = True,
) -> RenderResult:
    """Decode `data` once and produce every rendition of `spec`, plus placeholder, colour and EXIF subset,
    then, from the same decode, the variants of the presets in `variants` (gallery.presets).

    A video's renditions are those of its poster frame, and the result carries its facts and (with `motion` and
    the spec's preview on) its moving preview (gallery.engine.video).

    With `on_preview`, the smallest width is made first, straight from the decode, and handed over as a
    `PreviewResult` (its fixed-quality renditions, placeholder and colour) before anything else is encoded; the
    finished set reuses exactly those pixels and bytes for that width.

    Raises a PermanentError subclass for anything that is not a renderable image within `limits`.
    """
    ensure_malloc_tuned()
    started = time.perf_counter()
    limits = limits or Limits()
    if is_video(sniff_format(data)) and spec.video.enabled:
        from gallery.engine.video.render import render_video  # PyAV: imported by the first video only

        return render_video(data, spec, limits, variants, on_preview, motion=motion)
    max_width = max(max(spec.widths), variants.max_width if variants else 0)
    decoded = decode(data, max_width, limits, keep_wide_gamut=spec.keep_wide_gamut)
    return render_decoded(decoded, spec, variants, on_preview, started=started, decoded_at=time.perf_counter())


def render_decoded(
    decoded: Decoded,
    spec: RenditionSpec,
    variants: VariantRequest | None = None,
    on_preview: PreviewSink | None = None,
    *,
    started: float,
    decoded_at: float,
    exif: ExifSummary | None = None,
) -> RenderResult:
    """The renditions, placeholder and colour of an image decoded (upright, colour-managed, at most the largest
    width) by `decode`, or a video's poster frame; `started`/`decoded_at` are `perf_counter` readings."""
    header, current = decoded.header, decoded.image
    renditions: list[EncodedRendition] = []
    try:
        widths = target_widths(spec.widths, header.width)
        # The smallest width straight from the decode (not from the next larger width): it is what a preview paints,
        # and it is the same whether or not anyone asked for a preview.
        smallest = _shrink(current, widths[0]) if len(widths) > 1 and widths[0] < current.width else None
        early: list[EncodedRendition] = []
        appearance: tuple[str, str] | None = None  # placeholder and colour, once the preview computed them
        if on_preview is not None:
            image = decoded.image if smallest is None else smallest
            early, appearance = _paint_first(on_preview, image, (header.format, header.width, header.height), spec)
        # The quality per format is decided on one small rendition first (no search: the fixed quality).
        probe = _shrink(current, probe_width(widths)) if spec.quality_target else current
        if smallest is not None and probe.width == smallest.width:
            probe = smallest
        choices = {fmt: choose_quality(fit_for_format(probe, fmt), fmt, spec) for fmt in spec.formats}
        # Each width's encodes run on a second thread while this one makes the next width: one encode at a time,
        # so memory is as before, and an idle instance's second vCPU takes the encoder's share of the render.
        pending: list[tuple[int, int, OutputFormat, bytes | Future[bytes]]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as encoder:
            for width in reversed(widths):
                if width == probe.width and spec.quality_target:
                    current = probe  # the probe is that rendition: its chosen encode is reused
                elif smallest is not None and width == smallest.width:
                    current = smallest  # the preview's pixels: its renditions are this width's
                elif width < current.width:
                    current = _shrink(current, width)  # each width from the next larger one, already in memory
                for fmt in spec.formats:
                    fitted = fit_for_format(current, fmt)
                    if any(f == fmt and w == fitted.width for w, _, f, _ in pending):
                        continue  # two widths above the format's limit land on the same size: write it once
                    done = next((r for r in early if r.format == fmt and r.width == fitted.width), None)
                    job = done.data if done is not None else encoder.submit(_encode, fitted, fmt, spec, choices[fmt])
                    pending.append((fitted.width, fitted.height, fmt, job))
            for width, height, fmt, job in pending:
                encoded = job if isinstance(job, bytes) else job.result()
                renditions.append(EncodedRendition(width, height, fmt, encoded))
        # The smallest width is the last one made: the preview's placeholder is this one's.
        placeholder, colour = appearance or placeholder_and_colour(_as_srgb(current))
        del current
        rendered = _render_variants(_as_srgb(decoded.image), variants, spec, choices) if variants else ()
    except pyvips.Error as err:
        raise CorruptImageError(f"the image could not be rendered: {str(err).strip()[:300]}") from err
    renditions.sort(key=lambda r: (r.format, r.width))
    return RenderResult(
        source_format=header.format,
        width=header.width,
        height=header.height,
        has_alpha=decoded.image.bands == 4,
        renditions=tuple(renditions),
        placeholder=placeholder,
        dominant_color=colour,
        exif=exif if exif is not None else read_exif(header.exif),
        render_ms=round((time.perf_counter() - started) * 1000, 1),
        variants=rendered,
        decode_ms=round((decoded_at - started) * 1000, 1),
    )
