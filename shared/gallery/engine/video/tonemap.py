"""Video frames to 8-bit sRGB in numpy, with lookup tables built once per video: fast enough for every preview frame.

The same mapping as the photos' `colour.tone_map_hdr` followed by the relative-colorimetric transform of the
stream's primaries to sRGB (tests/unit/test_video.py holds the two within a fraction of a ΔE00):

- HLG: the inverse OETF, the system-gamma OOTF on BT.2020 luma (1000 cd/m² display), diffuse white (203 cd/m²) to
  SDR white; PQ: the EOTF, 203 cd/m² to SDR white; then the soft knee above 75 %;
- SDR: the values read as sRGB (as browsers show video);
- other primaries (BT.2020, Display P3) converted to sRGB's in linear light, clipped; the sRGB curve last.

The tables map 16-bit (or 8-bit) code values to linear light, and linear light in 16384 steps back to 8-bit sRGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gallery.engine import iccgen
from gallery.engine.colour import HLG, PQ, SRGB_XY

_OUT_STEPS = 16384
_KNEE = 0.75
_BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)
_D65 = (0.3127, 0.3290)


def _srgb_decode(e: np.ndarray) -> np.ndarray:
    return np.where(e <= 0.04045, e / 12.92, ((e + 0.055) / 1.055) ** 2.4)


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def _signal_lut(levels: int, transfer: int | None) -> np.ndarray:
    """Code value → linear light (SDR, PQ: relative to SDR white) or HLG scene light."""
    e = np.arange(levels, dtype=np.float64) / (levels - 1)
    if transfer == PQ:
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        n = e ** (1 / m2)
        return ((np.maximum(n - c1, 0) / (c2 - n * c3)) ** (1 / m1) * (10000 / 203)).astype(np.float32)
    if transfer == HLG:
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        return np.where(e <= 0.5, e * e / 3, (np.exp((e - c) / a) + b) / 12).astype(np.float32)
    return _srgb_decode(e).astype(np.float32)


def to_srgb_matrix(primaries: tuple[tuple[float, float], ...] | None) -> np.ndarray | None:
    """Linear RGB in `primaries` (red, green, blue, white xy) → linear sRGB, both D50-adapted as ICC does."""
    if primaries is None:
        return None
    source = np.array(iccgen.colorants(*primaries)[0])
    srgb = np.array(iccgen.colorants(*SRGB_XY, _D65)[0])
    matrix: np.ndarray = np.linalg.inv(srgb) @ source
    return matrix


@dataclass(frozen=True)
class FrameColour:
    """Converts one video's decoded RGB frames (8- or 16-bit) to 8-bit sRGB."""

    transfer: int | None  # HLG, PQ or None (SDR)
    matrix: np.ndarray | None  # to sRGB primaries, or None
    lut_in: np.ndarray
    lut_out: np.ndarray

    @classmethod
    def build(
        cls, hdr_transfer: int | None, primaries: tuple[tuple[float, float], ...] | None, sixteen: bool
    ) -> FrameColour:
        levels = 65536 if sixteen else 256
        lut_out = np.clip(np.round(_srgb_encode(np.linspace(0, 1, _OUT_STEPS + 1)) * 255), 0, 255).astype(np.uint8)
        return cls(hdr_transfer, to_srgb_matrix(primaries), _signal_lut(levels, hdr_transfer), lut_out)

    @property
    def passthrough(self) -> bool:
        """SDR in sRGB primaries: the values are shown as they are."""
        return self.transfer is None and self.matrix is None

    def to_srgb8(self, rgb: np.ndarray) -> np.ndarray:
        """H x W x 3 code values (uint8 or uint16) → H x W x 3 uint8 sRGB."""
        if self.passthrough:
            return rgb if rgb.dtype == np.uint8 else (rgb >> 8).astype(np.uint8)
        linear = self.lut_in[rgb]
        if self.transfer == HLG:
            luma = linear @ _BT2020_LUMA
            np.maximum(luma, 0, out=luma)
            np.power(luma, 0.2, out=luma)
            luma *= 1000 / 203
            linear *= luma[..., None]
        if self.transfer is not None:
            bright = linear > _KNEE  # the soft knee, on the few values above it
            linear[bright] = 1 - (1 - _KNEE) * np.exp((_KNEE - linear[bright]) / (1 - _KNEE))
        if self.matrix is not None:
            linear = linear @ self.matrix.T.astype(np.float32)
        linear *= _OUT_STEPS
        linear += 0.5
        np.clip(linear, 0, _OUT_STEPS, out=linear)
        srgb: np.ndarray = self.lut_out[linear.astype(np.uint16)]
        return srgb
