"""Quality guard: the engine's fast path (shrink-on-load, one decode, each width derived from the next larger
one) must look like the slow, careful path: a full decode resized with lanczos3 straight to each size.

Each rendition is compared (PSNR) against that reference. The encoder loses detail on both paths alike, so the
bar is relative: the rendition must be within `MAX_LOSS_DB` of the reference itself encoded with the same
settings. Measured on this photo (WebP Q80 effort 2): the engine is 0.6 dB behind the ideal path at 320 px,
0.2 dB at 512 and level at 768 and 1024; a nearest-neighbour resize instead of lanczos3 is 5-7 dB behind on
the small control photo. So 1.0 dB passes the engine with room and fails a visible shortcut.
"""

from __future__ import annotations

import math

import pytest

from gallery.engine import render
from gallery.engine.vips import pyvips
from gallery.model import RenditionSpec
from tests.paths import LARGE, ORIENTATION

MAX_LOSS_DB = 1.0  # rendition PSNR may trail the ideal path's by at most this much
MIN_PSNR_DB = 33.0  # and never drop below this (measured minimum on the photo below: 35.3 dB)
SPEC = RenditionSpec(widths=(320, 512, 768, 1024), formats=("webp",), quality=80, webp_effort=2)


def psnr(a: pyvips.Image, b: pyvips.Image) -> float:
    assert (a.width, a.height, a.bands) == (b.width, b.height, b.bands)
    diff = a.cast("float") - b.cast("float")
    return 10 * math.log10(255**2 / max((diff * diff).avg(), 1e-12))


def reference(full: pyvips.Image, width: int, height: int, kernel: str = "lanczos3") -> pyvips.Image:
    """The careful path: the whole decoded photo resized straight to `width` x `height`."""
    return full.resize(width / full.width, vscale=height / full.height, kernel=kernel)


def ideal_psnr(ref: pyvips.Image) -> float:
    """What the encoder alone costs: the reference encoded with the spec's settings, against itself."""
    encoded = ref.webpsave_buffer(Q=SPEC.quality, effort=SPEC.webp_effort, keep="none")
    return psnr(pyvips.Image.new_from_buffer(encoded, ""), ref)


@pytest.fixture(scope="module")
def portrait() -> tuple[pyvips.Image, list[tuple[int, int, bytes]]]:
    # 2560x3837 progressive JPEG: 1024 wide takes JPEG shrink-on-load by 2, then the chain 1024 > 768 > 512 > 320.
    data = (LARGE / "portrait_10mp_progressive.jpg").read_bytes()
    result = render(data, SPEC)
    full = pyvips.Image.new_from_buffer(data, "").autorot().copy_memory()
    return full, [(r.width, r.height, r.data) for r in result.renditions]


def test_every_rendition_is_as_good_as_a_full_decode_resized_with_lanczos3(
    portrait: tuple[pyvips.Image, list[tuple[int, int, bytes]]],
) -> None:
    full, renditions = portrait
    assert [w for w, _, _ in renditions] == [320, 512, 768, 1024]
    for width, height, data in renditions:
        ref = reference(full, width, height)
        ours, ideal = psnr(pyvips.Image.new_from_buffer(data, ""), ref), ideal_psnr(ref)
        assert ours >= MIN_PSNR_DB, f"{width}px: {ours:.2f} dB"
        assert ours >= ideal - MAX_LOSS_DB, f"{width}px: {ours:.2f} dB vs {ideal:.2f} dB on the careful path"


def test_the_guard_catches_a_visible_shortcut() -> None:
    """Control: a nearest-neighbour resize, encoded the same way, fails the same bar."""
    full = pyvips.Image.new_from_file(str(ORIENTATION / "landscape_1.jpg")).copy_memory()
    width, height = 320, round(320 * full.height / full.width)
    ref = reference(full, width, height)
    shortcut = reference(full, width, height, kernel="nearest").webpsave_buffer(Q=SPEC.quality, effort=SPEC.webp_effort)
    ours = psnr(pyvips.Image.new_from_buffer(shortcut, ""), ref)
    assert ours < ideal_psnr(ref) - MAX_LOSS_DB
