"""A hostile and varied input corpus, generated from the real sample photos, with each file's expected outcome.

Shared by the engine tests (tests/unit/test_inputs.py) and the end-to-end runs through the local stack
(tests/e2e/test_inputs.py, the load test). Nothing is written to disk: every case is bytes in memory.

`Case.expect` is either `Ready(format, width, height, alpha)` (the document's fields once rendered) or
`Failed(code)` (the document's `error.code`).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import cache

import pillow_heif
from PIL import Image

from gallery.engine.vips import pyvips
from tests.colour_files import hdr, nclx, tagged
from tests.paths import ORIENTATION, SAMPLES


@dataclass(frozen=True)
class Ready:
    format: str
    width: int
    height: int
    alpha: bool = False


@dataclass(frozen=True)
class Failed:
    code: str


@dataclass(frozen=True)
class Case:
    name: str  # object name suffix; the extension is deliberately not always the truth
    data: bytes
    content_type: str
    expect: Ready | Failed
    upright_like: str | None = None
    """For orientation cases: the reference sample its 320-px rendition must look like."""


def _landscape() -> pyvips.Image:
    return pyvips.Image.new_from_file(str(ORIENTATION / "landscape_1.jpg"))  # 600x450, upright


def _small() -> pyvips.Image:
    return _landscape().thumbnail_image(200)  # 200x150


def _animated(frames: list[pyvips.Image]) -> pyvips.Image:
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100] * len(frames))
    return strip


def _two_frames() -> pyvips.Image:
    """Frame 0 is the photo, frame 1 its negative: a first-frame render must look like the photo."""
    small = _small()
    return _animated([small, small.invert()])


def _many_frames(count: int) -> pyvips.Image:
    """`count` 8x8 black-and-white frames, each with its own bit pattern (writers merge identical frames)."""
    frames = []
    for i in range(count):
        pixels = bytes(255 if (i >> (k % 16)) & 1 else 0 for k in range(64))
        frames.append(pyvips.Image.new_from_memory(pixels, 8, 8, 1, "uchar").colourspace("srgb"))
    return _animated(frames)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_with_header_size(png: bytes, width: int, height: int) -> bytes:
    """The same PNG with its IHDR width/height replaced (and the chunk's CRC recomputed): a lying header."""
    assert png[12:16] == b"IHDR"
    ihdr = bytearray(png[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    return png[:8] + _png_chunk(b"IHDR", bytes(ihdr)) + png[33:]


def _pil_bytes(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _heic(image: Image.Image) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, format="HEIF", quality=90)
    return out.getvalue()


def _tiff_pages(*images: Image.Image) -> bytes:
    out = io.BytesIO()
    images[0].save(out, "TIFF", save_all=True, append_images=list(images[1:]), compression="tiff_deflate")
    return out.getvalue()


def with_tiff_compression_tag(tiff: bytes, compression: int) -> bytes:
    """An uncompressed little-endian TIFF whose Compression tag (259) is rewritten to `compression`."""
    entry = struct.pack("<HHIHH", 259, 3, 1, 1, 0)
    assert tiff.count(entry) == 1
    return tiff.replace(entry, struct.pack("<HHIHH", 259, 3, 1, compression, 0))


def _track_only(avif: bytes) -> bytes:
    """An image sequence's layout without its still image: the top-level meta box becomes a moov one.

    (No encoder here writes AV1 sequence tracks; libheif reads this file's boxes exactly like a track-only one.)
    """
    at = avif.find(b"meta")
    return avif[:at] + b"moov" + avif[at + 4 :]


def _pillow_photo() -> Image.Image:
    return Image.open(ORIENTATION / "landscape_1.jpg").convert("RGB")  # 600x450


def _format_cases() -> list[Case]:
    """Colour-tagged files in every format, and the format variants of real-world photos."""
    src, pil = _landscape(), _pillow_photo()
    avis = bytearray(src.heifsave_buffer(compression="av1", effort=0, Q=90))
    avis[8:12] = b"avis"  # an AVIF image sequence's major brand; its primary image is the still
    lzma = io.BytesIO()
    pil.save(lzma, "TIFF", compression="lzma")
    zstd = io.BytesIO()
    pil.save(zstd, "TIFF", compression="zstd")
    lab8 = io.BytesIO()
    pil.convert("LAB").save(lab8, "TIFF")
    grey16 = pil.convert("I").point(lambda v: v * 257).convert("I;16")
    clear = pyvips.Image.black(64, 64, bands=4).copy(interpretation="srgb")
    tiff = ("image/tiff", Ready("tiff", 600, 450))
    cases = [
        *[
            Case(f"{kind}_{fmt}.{ext}", tagged(kind, fmt).data, f"image/{expect}", Ready(expect, 480, 360))
            for kind, fmt, ext, expect in (
                ("p3", "png16", "png", "png"),
                ("p3", "webp", "webp", "webp"),
                ("p3", "tiff", "tif", "tiff"),
                ("p3", "heic", "heic", "heif"),
                ("p3", "avif", "avif", "avif"),
                ("adobe", "jpeg", "jpg", "jpeg"),
                ("grey18", "png16", "png", "png"),
                ("cmyk", "tiff", "tif", "tiff"),
            )
        ],
        Case("heic_nclx_p3.heic", nclx("p3", "heic").data, "image/heic", Ready("heif", 480, 360)),
        Case("avif_nclx_bt2020.avif", nclx("bt2020", "avif").data, "image/avif", Ready("avif", 480, 360)),
        Case("heic_hdr_pq.heic", hdr("pq"), "image/heic", Ready("heif", 480, 360)),
        Case("heic_grey8.heic", _heic(pil.convert("L")), "image/heic", Ready("heif", 600, 450)),
        Case("heic_grey16.heic", _heic(grey16), "image/heic", Ready("heif", 600, 450)),
        Case("avif_sequence.avif", bytes(avis), "image/avif", Ready("avif", 600, 450)),
        Case("tiff_bigtiff.tif", bytes(src.tiffsave_buffer(bigtiff=True)), *tiff),
        Case("tiff_cielab16.tif", bytes(src.colourspace("labs").tiffsave_buffer()), *tiff),
        Case("tiff_cielab8.tif", lab8.getvalue(), *tiff),
        Case("tiff_cielab_float.tif", bytes(src.colourspace("lab").tiffsave_buffer()), *tiff),
        Case(
            "tiff_pyramid_subifd.tif",
            bytes(src.tiffsave_buffer(tile=True, tile_width=64, tile_height=64, pyramid=True, subifd=True)),
            *tiff,
        ),
        Case(
            "tiff_pyramid_pages.tif",
            bytes(src.tiffsave_buffer(tile=True, tile_width=64, tile_height=64, pyramid=True)),
            *tiff,
        ),
        Case("tiff_reduced_page_first.tif", _tiff_pages(pil.resize((150, 112)), pil), *tiff),
        Case("tiff_lzma.tif", lzma.getvalue(), *tiff),  # the bundled libtiff lacks LZMA: decoded by Pillow
        Case("tiff_zstd.tif", zstd.getvalue(), *tiff),  # and ZSTD
        Case("png_fully_transparent.png", bytes(clear.pngsave_buffer()), "image/png", Ready("png", 64, 64, alpha=True)),
    ]
    failing = [
        Case(
            "tiff_ojpeg.tif",
            with_tiff_compression_tag(bytes(src.tiffsave_buffer(compression="none")), 6),
            "image/tiff",
            Failed("unsupported_format"),
        ),
        Case("avif_sequence_track_only.avif", _track_only(bytes(avis)), "image/avif", Failed("unsupported_format")),
    ]
    return cases + failing


def _ready_cases() -> list[Case]:
    src = _landscape()
    jpeg = (ORIENTATION / "landscape_1.jpg").read_bytes()
    rgba = src.bandjoin(255).copy()
    rgba = rgba.insert(pyvips.Image.black(300, 450).new_from_image([0, 0, 0, 0]), 300, 0)  # right half clear
    cases = [
        Case("jpeg_baseline.jpg", jpeg, "image/jpeg", Ready("jpeg", 600, 450)),
        Case(
            "jpeg_progressive.jpg",
            bytes(src.jpegsave_buffer(Q=85, interlace=True)),
            "image/jpeg",
            Ready("jpeg", 600, 450),
        ),
        Case("jpeg_cmyk.jpg", (SAMPLES / "cmyk.jpg").read_bytes(), "image/jpeg", Ready("jpeg", 800, 450)),
        Case("jpeg_grey.jpg", bytes(src.colourspace("b-w").jpegsave_buffer()), "image/jpeg", Ready("jpeg", 600, 450)),
        Case(
            "jpeg_p3_icc.jpg", bytes(src.icc_transform("p3").jpegsave_buffer()), "image/jpeg", Ready("jpeg", 600, 450)
        ),
        Case("png_rgb8.png", bytes(src.pngsave_buffer()), "image/png", Ready("png", 600, 450)),
        Case(
            "png_rgb16.png",
            bytes((src.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16").pngsave_buffer()),
            "image/png",
            Ready("png", 600, 450),
        ),
        Case("png_palette.png", bytes(src.pngsave_buffer(palette=True)), "image/png", Ready("png", 600, 450)),
        Case("png_alpha.png", bytes(rgba.pngsave_buffer()), "image/png", Ready("png", 600, 450, alpha=True)),
        Case(
            "png_grey16.png", bytes((src.colourspace("grey16")).pngsave_buffer()), "image/png", Ready("png", 600, 450)
        ),
        Case("png_named_jpg.jpg", bytes(src.pngsave_buffer()), "image/jpeg", Ready("png", 600, 450)),
        Case("webp_still.webp", bytes(src.webpsave_buffer()), "image/webp", Ready("webp", 600, 450)),
        Case("webp_alpha.webp", bytes(rgba.webpsave_buffer()), "image/webp", Ready("webp", 600, 450, alpha=True)),
        Case("webp_animated.webp", bytes(_two_frames().webpsave_buffer()), "image/webp", Ready("webp", 200, 150)),
        Case("gif_still.gif", bytes(_small().gifsave_buffer()), "image/gif", Ready("gif", 200, 150)),
        Case(
            "gif_animated.gif", bytes(_two_frames().gifsave_buffer()), "image/gif", Ready("gif", 200, 150, alpha=True)
        ),
        Case("tiff.tif", bytes(src.tiffsave_buffer(compression="deflate")), "image/tiff", Ready("tiff", 600, 450)),
        Case("tiff_multipage.tif", bytes(_two_frames().tiffsave_buffer()), "image/tiff", Ready("tiff", 200, 150)),
        Case(
            "avif.avif", bytes(src.heifsave_buffer(compression="av1", effort=0)), "image/avif", Ready("avif", 600, 450)
        ),
        Case(
            "heic_iphone.heic",
            (SAMPLES / "iphone_13_pro_max.heic").read_bytes(),
            "image/heic",
            Ready("heif", 3024, 4032),
        ),
    ]
    for shape, size in (("landscape", (600, 450)), ("portrait", (450, 600))):
        for orientation in range(1, 9):
            data = (ORIENTATION / f"{shape}_{orientation}.jpg").read_bytes()
            cases.append(
                Case(
                    f"jpeg_{shape}_orientation_{orientation}.jpg",
                    data,
                    "image/jpeg",
                    Ready("jpeg", *size),
                    upright_like=f"{shape}_1.jpg",
                )
            )
    return cases


def _failing_cases() -> list[Case]:
    src = _landscape()
    jpeg = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()
    png = bytes(src.pngsave_buffer())
    heic = (SAMPLES / "iphone_13_pro_max.heic").read_bytes()
    tiny_png = bytes(pyvips.Image.black(16, 16).pngsave_buffer())
    avif = bytes(src.heifsave_buffer(compression="av1", effort=0))
    gif = bytes(_small().gifsave_buffer())
    webp = bytes(src.webpsave_buffer())
    tiff = bytes(src.tiffsave_buffer())
    return [
        Case("zero_bytes.jpg", b"", "image/jpeg", Failed("empty_file")),
        Case(
            "text_named.jpg", b"this is a text file with a .jpg name\n" * 20, "image/jpeg", Failed("unsupported_format")
        ),
        Case(
            "svg_named.png",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
            "image/png",
            Failed("unsupported_format"),
        ),
        Case(
            "bitmap.bmp",
            _pil_bytes(Image.new("RGB", (32, 32), "red"), "BMP"),
            "image/bmp",
            Failed("unsupported_format"),
        ),
        Case("jpeg_truncated.jpg", jpeg[: len(jpeg) // 2], "image/jpeg", Failed("corrupt_image")),
        Case(
            "jpeg_magic_then_garbage.jpg",
            b"\xff\xd8\xff\xe0" + b"\x00garbage" * 200,
            "image/jpeg",
            Failed("corrupt_image"),
        ),
        Case("png_truncated.png", png[: len(png) // 2], "image/png", Failed("corrupt_image")),
        Case("heic_truncated.heic", heic[: len(heic) // 3], "image/heic", Failed("corrupt_image")),
        Case("avif_truncated.avif", avif[: len(avif) * 2 // 3], "image/avif", Failed("corrupt_image")),
        Case("gif_truncated.gif", gif[: len(gif) // 2], "image/gif", Failed("corrupt_image")),
        Case("webp_truncated.webp", webp[: len(webp) // 2], "image/webp", Failed("corrupt_image")),
        Case("tiff_truncated.tif", tiff[: len(tiff) // 2], "image/tiff", Failed("corrupt_image")),
        # A header that lies about its size: small enough to pass the limits, far more pixels than the data holds.
        Case("png_lying_header.png", png_with_header_size(tiny_png, 4000, 4000), "image/png", Failed("corrupt_image")),
        Case(
            "png_absurd_header.png",
            png_with_header_size(tiny_png, 100_000, 100_000),
            "image/png",
            Failed("too_many_pixels"),
        ),
        Case("png_200_megapixels.png", solid_200mp_png(), "image/png", Failed("too_many_pixels")),
        Case(
            "png_panorama_40000.png",
            bytes(pyvips.Image.black(40_000, 8).pngsave_buffer(compression=9)),
            "image/png",
            Failed("side_too_long"),
        ),
        Case("gif_600_frames.gif", bytes(_many_frames(600).gifsave_buffer()), "image/gif", Failed("too_many_frames")),
    ]


@cache
def solid_200mp_png() -> bytes:
    """A real, valid 20000x10000 black PNG (about 200 kB): the pixel limit must refuse it from the header."""
    return bytes(pyvips.Image.black(20_000, 10_000).pngsave_buffer(compression=9))


@cache
def corpus() -> tuple[Case, ...]:
    return tuple(_ready_cases() + _format_cases() + _failing_cases())


def case(name: str) -> Case:
    return next(c for c in corpus() if c.name == name)


def too_large(max_bytes: int) -> Case:
    """A JPEG-looking file one byte over `max_bytes`."""
    return Case("too_large.jpg", b"\xff\xd8\xff\xe0" + bytes(max_bytes - 3), "image/jpeg", Failed("too_large"))
