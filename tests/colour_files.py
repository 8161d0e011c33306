"""Colour-tagged photos in every input format, generated from a real camera photo, with an independent reference.

Each `Tagged` holds the file's bytes and the sRGB image a colour-managed viewer shows for it, computed by a
path that shares nothing with the engine's: Pillow (or pillow-heif) decodes the pixels and LittleCMS through
Pillow's ImageCms converts them (relative colorimetric); nclx BT.2020 files are converted by the published
BT.2020 → BT.709 matrix in linear light instead.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pillow_heif
from PIL import Image, ImageCms

from gallery.engine import iccgen
from gallery.engine.vips import pyvips
from tests.paths import LARGE

WIDTH = 480
D65 = (0.3127, 0.3290)
# Adobe RGB (1998)-compatible: its primaries and white, gamma 563/256 (built here, so it can be shipped freely).
ADOBE_RGB = iccgen.rgb_profile(
    "Adobe RGB compatible", (0.64, 0.33), (0.21, 0.71), (0.15, 0.06), D65, iccgen.gamma_curve(563 / 256)
)
GREY_18 = iccgen.grey_profile("Grey gamma 1.8", iccgen.gamma_curve(1.8))
BT2020_TO_BT709 = [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]]
BT709_TO_BT2020 = [[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]]


@dataclass(frozen=True)
class Tagged:
    name: str
    data: bytes
    reference: pyvips.Image  # 8-bit sRGB, what a colour-managed viewer shows
    unmanaged: pyvips.Image  # the file's pixel values read as if they were sRGB (the old engine's result)


@cache
def photo() -> pyvips.Image:
    """A real camera photo (a dragonfly on green leaves), 480 px wide, 8-bit sRGB."""
    return pyvips.Image.thumbnail(str(LARGE / "dragonfly_13mp_4x3_progressive.jpg"), WIDTH).copy_memory()


def builtin_profile(name: str) -> bytes:
    """The bytes of one of libvips' builtin profiles (srgb, p3, cmyk)."""
    data: bytes = photo().icc_transform(name).get("icc-profile-data")
    return data


def _vips(image: Image.Image) -> pyvips.Image:
    image = image.convert("RGB")
    pixels = pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height, 3, "uchar")
    return pixels.copy(interpretation="srgb").copy_memory()  # a copy of the pixels, not a view of the bytes


def _managed(image: Image.Image, icc: bytes) -> pyvips.Image:
    """LittleCMS (Pillow ImageCms): `image` with profile `icc` → sRGB, relative colorimetric."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.ImageCmsProfile(io.BytesIO(builtin_profile("srgb")))
    converted = ImageCms.profileToProfile(
        image, source, srgb, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB"
    )
    assert converted is not None
    return _vips(converted)


def _pil(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _heif_pil(data: bytes) -> Image.Image:
    return pillow_heif.open_heif(io.BytesIO(data)).to_pillow()


def _avif_pixels(data: bytes) -> Image.Image:
    """The AVIF's decoded pixel values (libheif through libvips: pillow-heif has no AV1 decoder here)."""
    image = pyvips.Image.heifload_buffer(data)
    mode = "L" if image.bands == 1 else "RGB"
    return Image.frombytes(mode, (image.width, image.height), image.write_to_memory())


def encoded(image: pyvips.Image, fmt: str, icc: bytes | None) -> bytes:
    """`image` (already in the profile's space) saved as `fmt`, with `icc` embedded when given."""
    if icc is not None:
        image = image.copy()
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    keep = "icc" if icc is not None else "none"
    if fmt == "jpeg":
        return bytes(image.jpegsave_buffer(Q=95, keep=keep))
    if fmt == "png16":
        return bytes(image.pngsave_buffer(bitdepth=16, keep=keep))
    if fmt == "webp":
        return bytes(image.webpsave_buffer(Q=95, keep=keep))
    if fmt == "tiff":
        return bytes(image.tiffsave_buffer(compression="deflate", keep=keep))
    if fmt == "avif":
        return bytes(image.heifsave_buffer(Q=90, compression="av1", effort=0, keep=keep))
    assert fmt == "heic"
    mode = "L" if image.bands == 1 else "RGB"
    pil = Image.frombytes(mode, (image.width, image.height), image.cast("uchar").write_to_memory())
    out = io.BytesIO()
    pillow_heif.from_pillow(pil).save(out, format="HEIF", quality=90, icc_profile=icc, save_nclx_profile=False)
    return out.getvalue()


_DECODERS: dict[str, Callable[[bytes], Image.Image]] = {
    "jpeg": _pil,
    "png16": _pil,
    "webp": _pil,
    "tiff": _pil,
    "heic": _heif_pil,
    "avif": _avif_pixels,
}


def tagged(kind: str, fmt: str) -> Tagged:
    """The photo converted into `kind` (p3, adobe, grey18, cmyk) and saved as `fmt` with that profile."""
    src = photo()
    if kind == "p3":
        icc, pixels = builtin_profile("p3"), src.icc_transform("p3", depth=16 if fmt == "png16" else 8)
    elif kind == "adobe":
        icc = ADOBE_RGB
        pixels = src.icc_transform(_profile_file(ADOBE_RGB), depth=16 if fmt == "png16" else 8)
    elif kind == "grey18":
        icc = GREY_18
        pixels = src.colourspace("b-w").icc_transform(_profile_file(GREY_18), depth=16 if fmt == "png16" else 8)
    else:
        assert kind == "cmyk"
        icc, pixels = builtin_profile("cmyk"), src.icc_transform("cmyk")
    data = encoded(pixels, fmt, icc)
    decoded = _DECODERS[fmt](data)
    return Tagged(f"{kind}_{fmt}", data, _managed(decoded, icc), _unmanaged(data, fmt, decoded))


def _unmanaged(data: bytes, fmt: str, decoded: Image.Image) -> pyvips.Image:
    """The pixel values as the engine used to show them: converted to 8-bit sRGB as if untagged."""
    if fmt == "heic":
        return _vips(decoded)
    image = pyvips.Image.new_from_buffer(data, "")
    return image.colourspace("srgb").cast("uchar") if image.format != "ushort" else image.colourspace("srgb")


@cache
def _profile_file(icc: bytes) -> str:
    """libvips' icc_transform takes an output profile by file name."""
    import tempfile

    handle = tempfile.NamedTemporaryFile(suffix=".icc", delete=False)  # noqa: SIM115 - lives for the session
    handle.write(icc)
    handle.close()
    return handle.name


def _srgb_to_linear(image: pyvips.Image) -> pyvips.Image:
    e = image.cast("float") / 255
    return (e <= 0.04045).ifthenelse(e / 12.92, ((e + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb8(linear: pyvips.Image) -> pyvips.Image:
    clipped = (linear < 0).ifthenelse(0, (linear > 1).ifthenelse(1, linear))
    encoded = (clipped <= 0.0031308).ifthenelse(clipped * 12.92, (clipped ** (1 / 2.4)) * 1.055 - 0.055)
    return (encoded * 255 + 0.5).cast("uchar").copy(interpretation="srgb")


def with_nclx_colr(avif: bytes, primaries: int, transfer: int, matrix: int) -> bytes:
    """An AVIF whose ICC colr box is rewritten, in place, as an nclx one (the rest of the box is padding)."""
    data = bytearray(avif)
    at = data.find(b"colrrICC")
    assert at > 0, "the AVIF has no ICC colr box to rewrite"
    size = struct.unpack(">I", data[at - 4 : at])[0]
    payload = b"nclx" + struct.pack(">HHHB", primaries, transfer, matrix, 0x80)
    data[at + 4 : at - 4 + size] = payload + bytes(size - 8 - len(payload))
    return bytes(data)


def nclx(primaries: str, fmt: str) -> Tagged:
    """An HEIC or AVIF with no ICC profile, only an nclx box: Display P3 (12) or BT.2020 (9), sRGB transfer."""
    src = photo()
    if primaries == "p3":
        code, pixels = 12, src.icc_transform("p3")
    else:
        code, pixels = 9, _linear_to_srgb8(_srgb_to_linear(src).recomb(BT709_TO_BT2020))
    if fmt == "heic":
        pil = Image.frombytes("RGB", (pixels.width, pixels.height), pixels.write_to_memory())
        out = io.BytesIO()
        pillow_heif.from_pillow(pil).save(
            out, format="HEIF", quality=90, color_primaries=code, transfer_characteristics=13, matrix_coefficients=6
        )
        data = out.getvalue()
        decoded = _heif_pil(data)
    else:
        data = with_nclx_colr(encoded(pixels, "avif", builtin_profile("srgb")), code, 13, 6)
        decoded = _avif_pixels(data)
    if primaries == "p3":
        reference = _managed(decoded, builtin_profile("p3"))
    else:
        reference = _linear_to_srgb8(_srgb_to_linear(_vips(decoded)).recomb(BT2020_TO_BT709))
    return Tagged(f"nclx_{primaries}_{fmt}", data, reference, _vips(decoded))


def delta_e(image: pyvips.Image, reference: pyvips.Image) -> tuple[float, float]:
    """(mean, 95th percentile) CIEDE2000 between two same-sized 8-bit sRGB images."""
    assert (image.width, image.height) == (reference.width, reference.height)
    de = image[0:3].colourspace("lab").dE00(reference[0:3].colourspace("lab"))
    p95 = (de * 100).cast("ushort").percent(95) / 100
    return float(de.avg()), float(p95)


def _pq_signal(nits: pyvips.Image) -> pyvips.Image:
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = (nits / 10000) ** m1
    return ((y * c2 + c1) / (y * c3 + 1)) ** m2


def _hlg_signal(scene: pyvips.Image) -> pyvips.Image:
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    log = ((scene * 12 - b) > 1e-6).ifthenelse(scene * 12 - b, 1e-6).log() * a + c
    return (scene <= 1 / 12).ifthenelse((scene * 3) ** 0.5, log)


def hdr_signal(transfer: str) -> pyvips.Image:
    """The photo as a 10-bit BT.2020 PQ or HLG signal (held in 16-bit samples), its white at 203 cd/m² (BT.2408)."""
    linear = _srgb_to_linear(photo()).recomb(BT709_TO_BT2020)
    linear = (linear < 0).ifthenelse(0, linear)
    # HLG: display light (203 cd/m² white on a 1000 cd/m² display) back to scene light, ignoring the small
    # luminance-dependent OOTF term (system gamma 1.2), then the HLG OETF.
    hlg = transfer != "pq"
    signal = _hlg_signal((linear * (203 / 1000)) ** (1 / 1.2)) if hlg else _pq_signal(linear * 203)
    return ((signal * 1023 + 0.5).floor() * 64).cast("ushort").copy_memory()  # 10 bits, held in 16


def hdr(transfer: str, fmt: str = "heic") -> bytes:
    """A 10-bit BT.2020 HEIC or AVIF with a PQ or HLG nclx box: the photo with its white at 203 cd/m² (BT.2408)."""
    code = 16 if transfer == "pq" else 18
    samples = hdr_signal(transfer)
    if fmt == "avif":
        image = samples.copy(interpretation="rgb16")
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", builtin_profile("srgb"))
        avif = bytes(image.heifsave_buffer(compression="av1", effort=0, Q=90, bitdepth=10, keep="icc"))
        return with_nclx_colr(avif, 9, code, 6)  # libheif encoded YCbCr with BT.601 (6)
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(WIDTH, samples.height), data=samples.write_to_memory())
    out = io.BytesIO()
    heif.save(out, format="HEIF", quality=-1, color_primaries=9, transfer_characteristics=code, matrix_coefficients=9)
    return out.getvalue()
