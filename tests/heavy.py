"""Heavy but legal inputs: each within the default limits (100 MP, 30000 px side, 64 MiB, 500 frames), each the
worst of its kind for memory (whole-image decodes, 16-bit and float samples, progressive and interlaced files).

Made of smooth synthetic colour ramps (small files, quick to write), so nothing but this module is needed.
Shared by the memory tests (tests/unit/test_memory_heavy.py), the end-to-end memory test and the benchmark
(bench/run.py). `write_heavy_set(folder)` writes them once and returns the paths.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pillow_heif
from PIL import Image

from gallery.engine.vips import pyvips

MP100 = (11_540, 8_660)  # 99.9 MP, 4:3
PANORAMA = (30_000, 3_330)  # the longest accepted side
WEBP_MAX = (16_383, 6_000)  # WebP's largest side
EIGHT_K = (7_680, 4_320)


def _photo(width: int, height: int) -> pyvips.Image:
    """Smooth 8-bit sRGB colour ramps (cheap to make, small to store) at `width` x `height`."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    r = x.linear(255 / width, 0)
    g = y.linear(255 / height, 0)
    b = (x + y).linear(255 / (width + height), 0).linear(-1, 255)
    return r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")


def _alpha(image: pyvips.Image) -> pyvips.Image:
    ramp = pyvips.Image.xyz(image.width, image.height)[1].linear(255 / image.height, 0).cast("uchar")
    return image.bandjoin(ramp)


def _sixteen(image: pyvips.Image) -> pyvips.Image:
    return image.cast("ushort").linear(257, 0).cast("ushort").copy(interpretation="rgb16")


def png_rgba16_interlaced() -> bytes:
    image = _sixteen(_alpha(_photo(*MP100)))
    return bytes(image.pngsave_buffer(interlace=True, compression=6, filter="up"))


def jpeg_progressive() -> bytes:
    return bytes(_photo(*MP100).jpegsave_buffer(Q=75, interlace=True, optimize_coding=False))


def jpeg_progressive_cmyk() -> bytes:
    rgb = _photo(*MP100)
    cmyk = rgb.bandjoin(rgb[0]).copy(interpretation="cmyk")
    return bytes(cmyk.jpegsave_buffer(Q=75, interlace=True, optimize_coding=False))


def jpeg_baseline() -> bytes:
    return bytes(_photo(*MP100).jpegsave_buffer(Q=75))


def jpeg_panorama() -> bytes:
    return bytes(_photo(*PANORAMA).jpegsave_buffer(Q=75))


def tiff_float() -> bytes:
    image = _photo(*MP100).cast("float").linear(1 / 255, 0).copy(interpretation="scrgb")  # float, linear light
    return bytes(image.tiffsave_buffer(compression="deflate", predictor="float", level=1))


def tiff_tiled16() -> bytes:
    image = _sixteen(_photo(*MP100))
    return bytes(image.tiffsave_buffer(compression="deflate", predictor="horizontal", tile=True, level=1))


def tiff_cielab8_8k() -> bytes:
    """8-bit CIELab, which decode hands to Pillow and LittleCMS: decoded whole."""
    image = _photo(*EIGHT_K)
    rgb = Image.frombytes("RGB", (image.width, image.height), bytes(image.write_to_memory()))
    out = io.BytesIO()
    rgb.convert("LAB").save(out, "TIFF", compression="tiff_adobe_deflate")
    return out.getvalue()


def webp_lossless() -> bytes:
    return bytes(_photo(*WEBP_MAX).webpsave_buffer(lossless=True, effort=0))


def webp_animated_lossless(side: int = 6000) -> bytes:
    frame = _photo(side, side)
    strip = pyvips.Image.arrayjoin([frame, frame.flip("horizontal"), frame.flip("vertical")], across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", side)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100] * 3)
    return bytes(strip.webpsave_buffer(lossless=True, effort=0))


def gif_max_frames(frames: int = 500, side: int = 1000) -> bytes:
    """`frames` full-canvas frames of flat stripes, each a little different (so no writer merges them)."""
    stripes = bytes((row * 8 // side) * 30 for row in range(side) for _ in range(side))
    images = []
    for i in range(frames):
        frame = Image.frombytes("L", (side, side), stripes)
        frame.putpixel((i % side, i // side), 255)
        images.append(frame.convert("P"))
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, optimize=False, disposal=1)
    return out.getvalue()


def avif_8k() -> bytes:
    return bytes(_photo(*EIGHT_K).heifsave_buffer(compression="av1", Q=50, effort=0))


def avif_100mp() -> bytes:
    return bytes(_photo(*MP100).heifsave_buffer(compression="av1", Q=50, effort=0))


def heic_8k() -> bytes:
    image = _photo(*EIGHT_K)
    heif = pillow_heif.from_bytes("RGB", (image.width, image.height), bytes(image.write_to_memory()))
    out = io.BytesIO()
    heif.save(out, quality=50, enc_params={"preset": "ultrafast"})
    return out.getvalue()


HEAVY: dict[str, Callable[[], bytes]] = {
    "png_rgba16_interlaced_100mp.png": png_rgba16_interlaced,
    "jpeg_progressive_100mp.jpg": jpeg_progressive,
    "jpeg_progressive_cmyk_100mp.jpg": jpeg_progressive_cmyk,
    "jpeg_baseline_100mp.jpg": jpeg_baseline,
    "jpeg_panorama_30000px.jpg": jpeg_panorama,
    "tiff_float_100mp.tif": tiff_float,
    "tiff_tiled16_100mp.tif": tiff_tiled16,
    "tiff_cielab8_8k.tif": tiff_cielab8_8k,
    "webp_lossless_16383x6000.webp": webp_lossless,
    "webp_animated_lossless_6000px.webp": webp_animated_lossless,
    "gif_500_frames.gif": gif_max_frames,
    "avif_8k.avif": avif_8k,
    "avif_100mp.avif": avif_100mp,
    "heic_8k.heic": heic_8k,
}


def write_heavy_set(folder: Path, names: list[str] | None = None) -> list[Path]:
    """Write the heavy inputs (all, or `names`) into `folder`, reusing files already there."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(HEAVY):
        path = folder / name
        if not path.exists():
            path.write_bytes(HEAVY[name]())
        paths.append(path)
    return paths
