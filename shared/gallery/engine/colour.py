"""Colour management: every rendition is sRGB, or Display P3 for a wide-gamut photo when that is asked for.

A photo's colour is described by an embedded ICC profile (JPEG, PNG, WebP, TIFF, HEIF, AVIF; RGB, grey or
CMYK) or, in HEIF/AVIF, by an nclx box (primaries and transfer function as code points, from which a
matching ICC profile is built). Untagged RGB is sRGB and is left as it is; untagged CMYK goes through
libvips' builtin CMYK profile.

Rendering intent: relative colorimetric. Photo profiles are matrix/TRC (sRGB, Display P3, Adobe RGB,
BT.2020) and carry no perceptual tables, so LittleCMS would fall back to colorimetric anyway; relative
colorimetric maps every colour inside sRGB exactly, which is nearly all of a typical photo, and clips only
the few more saturated ones. PQ and HLG (HDR) are tone-mapped to SDR first (see `tone_map_hdr`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gallery.engine import iccgen
from gallery.engine.vips import pyvips

logger = logging.getLogger(__name__)

INTENT = "relative"
ICC_FIELD = "icc-profile-data"
SRGB_XY = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
_WIDE_AREA = 1.05  # a gamut triangle this much larger than sRGB's (in xy) counts as wide

# nclx transfer characteristics (ITU-T H.273) → ICC curve; 16 (PQ) and 18 (HLG) are HDR.
_SDR_CURVES = {
    1: iccgen.BT709_CURVE,
    6: iccgen.BT709_CURVE,
    14: iccgen.BT709_CURVE,
    15: iccgen.BT709_CURVE,
    13: iccgen.SRGB_CURVE,
    8: iccgen.LINEAR_CURVE,
    4: iccgen.gamma_curve(2.2),
    5: iccgen.gamma_curve(2.8),
}
PQ, HLG = 16, 18


@dataclass(frozen=True)
class SourceColour:
    """How to read a decoded image's pixel values: an ICC profile to import with, and an HDR transfer."""

    icc: bytes | None = None
    hdr: int | None = None  # PQ or HLG: the signal is tone-mapped to SDR before the profile applies


def _area(red: tuple[float, float], green: tuple[float, float], blue: tuple[float, float]) -> float:
    return abs((green[0] - red[0]) * (blue[1] - red[1]) - (blue[0] - red[0]) * (green[1] - red[1])) / 2


def _xy_of(xyz: tuple[float, ...]) -> tuple[float, float]:
    total = sum(xyz)
    return (xyz[0] / total, xyz[1] / total)


# Profile colorants are adapted to the D50 PCS white: compare with sRGB's colorants adapted the same way.
_SRGB_PCS = iccgen.colorants(*SRGB_XY, (0.3127, 0.3290))[0]
_SRGB_PCS_AREA = _area(*[_xy_of(tuple(row[i] for row in _SRGB_PCS)) for i in range(3)])


def is_wide_gamut(icc: bytes | None) -> bool:
    """True for an RGB matrix profile whose primaries span a clearly larger gamut than sRGB's."""
    if not icc or icc[16:20] != b"RGB ":
        return False
    from PIL import ImageCms  # by the first tagged RGB photo, not on every cold start

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile
        xy = [c[1][:2] for c in (profile.red_colorant, profile.green_colorant, profile.blue_colorant) if c]
    except (OSError, TypeError, ValueError, IndexError):
        return False  # an unreadable profile is refused by the transform itself
    if len(xy) != 3:
        return False  # a LUT profile (no colorants): rendered as sRGB
    return _area(xy[0], xy[1], xy[2]) > _WIDE_AREA * _SRGB_PCS_AREA


def from_nclx(nclx: Mapping[str, Any] | None, grey: bool) -> SourceColour:
    """The colour an HEIF/AVIF nclx box describes; plain sRGB (no profile) where it says sRGB or nothing."""
    if not nclx:
        return SourceColour()
    primaries, transfer = nclx.get("color_primaries"), int(nclx.get("transfer_characteristics") or 2)
    hdr = transfer if transfer in (PQ, HLG) else None
    curve = iccgen.SRGB_CURVE if hdr else _SDR_CURVES.get(transfer)
    if curve is None:  # 2 (unspecified) and the rare others
        logger.info("nclx transfer %s read as sRGB", transfer)
        curve = iccgen.SRGB_CURVE
    if grey:
        if curve == iccgen.SRGB_CURVE:
            return SourceColour(hdr=hdr)
        return SourceColour(icc=iccgen.grey_profile("nclx grey", curve), hdr=hdr)
    if primaries in (1, 2, None) and curve == iccgen.SRGB_CURVE:
        return SourceColour(hdr=hdr)  # sRGB primaries (1) or unspecified (2), sRGB curve
    try:
        red = (nclx["color_primary_red_x"], nclx["color_primary_red_y"])
        green = (nclx["color_primary_green_x"], nclx["color_primary_green_y"])
        blue = (nclx["color_primary_blue_x"], nclx["color_primary_blue_y"])
        white = (nclx["color_primary_white_x"], nclx["color_primary_white_y"])
    except KeyError:
        red, green, blue, white = (*SRGB_XY, (0.3127, 0.3290))
    if min(red[1], green[1], blue[1], white[1]) <= 0:
        red, green, blue, white = (*SRGB_XY, (0.3127, 0.3290))
    icc = iccgen.rgb_profile(f"nclx primaries {primaries} transfer {transfer}", red, green, blue, white, curve)
    return SourceColour(icc=icc, hdr=hdr)


def _where(cond: pyvips.Image, a: pyvips.Image, b: pyvips.Image) -> pyvips.Image:
    return cond.ifthenelse(a, b)


def tone_map_hdr(image: pyvips.Image, transfer: int) -> pyvips.Image:
    """PQ or HLG signal → SDR, sRGB-curve encoded 16-bit (the primaries are unchanged).

    Diffuse white (203 cd/m², ITU-R BT.2408) becomes SDR white; brighter highlights roll off smoothly
    above 75 % into the remaining headroom instead of clipping.
    """
    alpha = image[image.bands - 1] if image.bands in (2, 4) else None
    colour = image[0 : image.bands - 1] if alpha is not None else image
    peak = 65535.0 if colour.format == "ushort" else 255.0
    e = colour.cast("float") / peak
    if transfer == PQ:
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        n = e ** (1 / m2)
        linear = (((n - c1) > 0).ifthenelse(n - c1, 0) / (c2 - n * c3)) ** (1 / m1)
        linear = linear * (10000 / 203)
    else:
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        scene = _where(e <= 0.5, e * e / 3, (((e - c) / a).exp() + b) / 12)
        luma = scene[0] * 0.2627 + scene[1] * 0.6780 + scene[2] * 0.0593 if scene.bands >= 3 else scene
        linear = scene * (luma**0.2) * (1000 / 203)
    knee = 0.75
    rolled = ((linear - knee) / -(1 - knee)).exp() * -(1 - knee) + 1
    mapped = _where(linear <= knee, linear, rolled)
    encoded = _where(mapped <= 0.0031308, mapped * 12.92, (mapped ** (1 / 2.4)) * 1.055 - 0.055)
    out = (encoded * 65535).cast("ushort")
    if alpha is not None:
        out = out.bandjoin(alpha.cast("ushort") * (257 if alpha.format == "uchar" else 1))
    return out.copy(interpretation="rgb16" if colour.bands >= 3 else "grey16")


def with_profile(image: pyvips.Image, icc: bytes | None) -> pyvips.Image:
    """`image` with `icc` as its embedded profile (or unchanged when None)."""
    if icc is None:
        return image
    image = image.copy()
    image.set_type(pyvips.GValue.blob_type, ICC_FIELD, icc)
    return image


def export_profile(image: pyvips.Image, keep_wide_gamut: bool) -> str | None:
    """The profile a thumbnail of `image` is transformed to: sRGB, P3, or None (untagged, already sRGB)."""
    icc = image.get(ICC_FIELD) if image.get_typeof(ICC_FIELD) else None
    if icc is None and image.interpretation != "cmyk":
        return None  # untagged RGB, grey or Lab: no transform, the colourspace conversion does the rest
    return "p3" if keep_wide_gamut and is_wide_gamut(icc) else "srgb"


def finish(image: pyvips.Image, exported: str | None) -> pyvips.Image:
    """8-bit sRGB or P3 (+ alpha); only a P3 image keeps a profile, so sRGB renditions stay untagged."""
    if image.interpretation not in ("srgb", "rgb16") or image.format not in ("uchar", "ushort"):
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.colourspace("srgb") if image.interpretation == "rgb16" else image.cast("uchar")
    if exported != "p3" and image.get_typeof(ICC_FIELD):
        image = image.copy()
        image.remove(ICC_FIELD)
    return image


_HUGE = 10_000_000  # a height bound that never constrains: renditions are sized by width


def managed_thumbnail(
    image: pyvips.Image, width: int, colour: SourceColour, keep_wide_gamut: bool, no_rotate: bool = False
) -> pyvips.Image:
    """Shrink to `width` (upright unless `no_rotate`) and colour-manage to sRGB or P3: 8-bit (+ alpha), in memory.

    An embedded or built profile is applied by the thumbnail itself (`export_profile`), after shrinking.
    """
    if colour.hdr is not None:
        image = image.thumbnail_image(width, height=_HUGE, size="down", no_rotate=no_rotate)
        image = with_profile(tone_map_hdr(image, colour.hdr), colour.icc)
        target = export_profile(image, keep_wide_gamut)
        if target is not None:
            image = image.icc_transform(target, embedded=True, intent=INTENT, depth=8)
        return finish(image, target).copy_memory()
    image = with_profile(image, colour.icc)
    target = export_profile(image, keep_wide_gamut)
    options = {"export_profile": target, "intent": INTENT} if target else {}
    thumb = image.thumbnail_image(width, height=_HUGE, size="down", no_rotate=no_rotate, **options)
    return finish(thumb, target).copy_memory()


def avif_colour(data: bytes, image: pyvips.Image) -> SourceColour:
    """An AVIF loaded by libvips: its own ICC profile if it has one, else what its nclx box says (via libheif)."""
    if image.get_typeof(ICC_FIELD):
        return SourceColour()
    import pillow_heif  # by the first AVIF without an ICC profile, not on every cold start

    try:
        nclx = pillow_heif.open_heif(io.BytesIO(data)).info.get("nclx_profile")
    except (ValueError, RuntimeError, OSError):
        return SourceColour()
    return from_nclx(nclx, grey=image.bands in (1, 2))
