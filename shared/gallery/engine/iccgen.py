"""Small ICC v4 profiles built from numbers: matrix/TRC RGB from xy primaries, or grey from a tone curve.

Used where a photo describes its colour without an ICC profile (an HEIF/AVIF nclx box: primaries and
transfer function as code points), so that LittleCMS can colour-manage it like any tagged photo.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

Xy = tuple[float, float]
Matrix = tuple[tuple[float, ...], ...]

D50_XYZ = (0.9642, 1.0, 0.8249)  # the ICC profile connection space white

# ICC parametric curves (function type 3): Y = (aX + b)^g for X >= d, else cX.
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
BT709_CURVE = (1 / 0.45, 1 / 1.099, 0.099 / 1.099, 1 / 4.5, 0.081)  # inverse of the BT.709/BT.2020 OETF
LINEAR_CURVE = (1.0, 1.0, 0.0, 1.0, 0.0)


def gamma_curve(gamma: float) -> tuple[float, float, float, float, float]:
    return (gamma, 1.0, 0.0, 1.0, 0.0)


def _xyz(xy: Xy) -> tuple[float, float, float]:
    x, y = xy
    return (x / y, 1.0, (1 - x - y) / y)


def _mul(a: Matrix, b: Matrix) -> Matrix:
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3))


def _inv(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


def _apply(m: Matrix, v: Sequence[float]) -> tuple[float, float, float]:
    return (
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    )


_BRADFORD: Matrix = ((0.8951, 0.2664, -0.1614), (-0.7502, 1.7135, 0.0367), (0.0389, -0.0685, 1.0296))


def _adaptation(white: tuple[float, float, float]) -> Matrix:
    """Bradford chromatic adaptation from `white` to the D50 PCS white."""
    src, dst = _apply(_BRADFORD, white), _apply(_BRADFORD, D50_XYZ)
    scale: Matrix = ((dst[0] / src[0], 0, 0), (0, dst[1] / src[1], 0), (0, 0, dst[2] / src[2]))
    return _mul(_inv(_BRADFORD), _mul(scale, _BRADFORD))


def colorants(red: Xy, green: Xy, blue: Xy, white: Xy) -> tuple[Matrix, Matrix]:
    """(the D50-adapted XYZ of each primary as columns, the adaptation matrix)."""
    primaries = [_xyz(red), _xyz(green), _xyz(blue)]
    columns: Matrix = tuple(tuple(p[i] for p in primaries) for i in range(3))
    w = _xyz(white)
    s = _apply(_inv(columns), w)
    to_xyz: Matrix = tuple(tuple(columns[i][j] * s[j] for j in range(3)) for i in range(3))
    chad = _adaptation(w)
    return _mul(chad, to_xyz), chad


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: Sequence[float]) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)


def _para_tag(curve: Sequence[float]) -> bytes:
    return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in curve)


def _mluc_tag(text: str) -> bytes:
    body = text.encode("utf-16-be")
    return b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(body), 28) + body


def _sf32_tag(m: Matrix) -> bytes:
    return b"sf32" + bytes(4) + b"".join(_s15(v) for row in m for v in row)


def _profile(colour_space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """Assemble an ICC v4.3 display profile from (signature, tag data) pairs; shared data is written once."""
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, blobs, written = [], b"", dict[bytes, int]()
    for signature, data in tags:
        if data not in written:
            written[data] = offset + len(blobs)
            blobs += data + bytes(-len(data) % 4)
        entries.append(struct.pack(">4sII", signature, written[data], len(data)))
    size = offset + len(blobs)
    header = struct.pack(
        ">I4sI4s4s4s12x4s4sI4s4sQI12s4s",
        size,
        b"lcms",
        0x04300000,
        b"mntr",
        colour_space,
        b"XYZ ",
        b"acsp",
        b"APPL",
        0,
        b"none",
        b"none",
        0,
        0,  # rendering intent: perceptual
        b"".join(_s15(v) for v in D50_XYZ),
        b"lcms",
    )
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + blobs


def rgb_profile(
    description: str, red: Xy, green: Xy, blue: Xy, white: Xy, curve: Sequence[float] = SRGB_CURVE
) -> bytes:
    """A matrix/TRC RGB profile: primaries and white as CIE xy chromaticities, one ICC parametric curve."""
    to_pcs, chad = colorants(red, green, blue, white)
    trc = _para_tag(curve)
    return _profile(
        b"RGB ",
        [
            (b"desc", _mluc_tag(description)),
            (b"cprt", _mluc_tag("No copyright, use freely")),
            (b"wtpt", _xyz_tag(D50_XYZ)),
            (b"chad", _sf32_tag(chad)),
            (b"rXYZ", _xyz_tag([row[0] for row in to_pcs])),
            (b"gXYZ", _xyz_tag([row[1] for row in to_pcs])),
            (b"bXYZ", _xyz_tag([row[2] for row in to_pcs])),
            (b"rTRC", trc),
            (b"gTRC", trc),
            (b"bTRC", trc),
        ],
    )


def grey_profile(description: str, curve: Sequence[float]) -> bytes:
    """A grey profile with a D50 white and one ICC parametric tone curve."""
    return _profile(
        b"GRAY",
        [
            (b"desc", _mluc_tag(description)),
            (b"cprt", _mluc_tag("No copyright, use freely")),
            (b"wtpt", _xyz_tag(D50_XYZ)),
            (b"kTRC", _para_tag(curve)),
        ],
    )
