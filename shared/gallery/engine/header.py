"""The facts about a photo that decide how much memory its render needs, read from the header only."""

from __future__ import annotations

import io
from dataclasses import dataclass

from gallery.engine.loaders import cielab8_size, explain_tiff_failure, open_image, pillow_tiff, tiff_page
from gallery.engine.sniff import sniff_format
from gallery.engine.vips import pyvips
from gallery.errors import CorruptImageError

_SWAPS_AXES = {5, 6, 7, 8}
_BYTES_PER_SAMPLE = {"uchar": 1, "char": 1, "ushort": 2, "short": 2, "uint": 4, "int": 4, "float": 4}
_BYTES_PER_SAMPLE |= {"double": 8, "complex": 8, "dpcomplex": 16}


@dataclass(frozen=True)
class HeaderFacts:
    """What the header says about one photo; no pixel has been decoded to learn it."""

    format: str  # as sniffed: jpeg, png, gif, webp, tiff, avif, heif
    width: int  # of one frame, as stored (before EXIF orientation)
    height: int
    bands: int  # including alpha
    sample_bytes: int  # bytes per sample as decoded: 1 (8-bit), 2 (16-bit), 4 (float or 32-bit)
    pages: int = 1  # frames or pages in the file
    upright_width: int = 0  # width as displayed, after EXIF orientation (0: same as `width`)
    progressive: bool = False  # JPEG with several scans: libjpeg keeps every coefficient of the image
    chroma_samples: float = 3.0  # JPEG: samples stored per pixel (4:2:0 YCbCr 1.5, 4:2:2 2, 4:4:4 3, CMYK 4)
    interlaced: bool = False  # Adam7 PNG: decoded whole before the first row is ready
    lossless: bool = False  # VP8L WebP (or any VP8L animation frame): decoded whole into an ARGB buffer
    pillow_decoded: bool = False  # 8-bit CIELab, LZMA or ZSTD TIFF: decoded whole by Pillow
    file_bytes: int = 0

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def display_width(self) -> int:
        return self.upright_width or self.width

    @property
    def display_height(self) -> int:
        return self.pixels // self.display_width


def _webp_is_lossless(data: bytes, start: int = 12, end: int | None = None) -> bool:
    """Walk the RIFF chunks: a VP8L chunk, on its own or in any animation frame (ANMF), is decoded whole."""
    offset, end = start, len(data) if end is None else end
    while offset + 8 <= end:
        kind = data[offset : offset + 4]
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        if kind == b"VP8L":
            return True
        if kind == b"ANMF" and _webp_is_lossless(data, offset + 8 + 16, min(end, offset + 8 + size)):
            return True
        offset += 8 + size + (size & 1)
    return False


_SOF_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_SOF = {0xC0, 0xC1, 0xC3, 0xC5, 0xC7, 0xC9, 0xCB, 0xCD, 0xCF} | _SOF_PROGRESSIVE


def _jpeg_frame(data: bytes) -> tuple[bool, float] | None:
    """(progressive, samples stored per pixel) from the JPEG frame header (SOFn), or None if none is found.

    libvips reports 4:2:2 as "4:2:0", and libjpeg keeps a progressive file's coefficients at each
    component's own sampling, so the sampling factors are read here: samples per pixel is the sum over the
    components of H x V divided by the largest H x V (4:2:0 YCbCr = 1.5, 4:2:2 = 2, 4:4:4 = 3, CMYK = 4).
    """
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            offset += 2
            continue
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        if marker in _SOF:
            body = data[offset + 4 : offset + 2 + length]
            count = body[5] if len(body) > 5 else 0
            factors = [(body[7 + 3 * i] >> 4, body[7 + 3 * i] & 0x0F) for i in range(count) if 8 + 3 * i < len(body)]
            largest = max((h * v for h, v in factors), default=0)
            if not factors or largest == 0:
                return None
            return marker in _SOF_PROGRESSIVE, sum(h * v for h, v in factors) / largest
        if marker == 0xDA:  # start of scan before any frame header
            return None
        offset += 2 + length
    return None


def _heif_header(data: bytes) -> HeaderFacts:
    import pillow_heif  # loaded with the first HEIF photo, not at the function's cold start

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
        width, height = heif.size
        bands = 4 if heif.has_alpha else 3
        depth = int(heif.info.get("bit_depth", 8))
    except (ValueError, RuntimeError) as err:
        raise CorruptImageError(f"the HEIF data is damaged or truncated: {err}") from err
    return HeaderFacts(
        format="heif",
        width=width,
        height=height,
        bands=bands,
        sample_bytes=2 if depth > 8 else 1,
        pages=len(heif),
        file_bytes=len(data),
    )


def _get(image: pyvips.Image, name: str, default: object) -> object:
    return image.get(name) if image.get_typeof(name) else default


def read_header(data: bytes) -> HeaderFacts:
    """The header facts of `data` (any supported format); raises CorruptImageError if libvips cannot read it."""
    fmt = sniff_format(data)
    lab_size = cielab8_size(data) if fmt == "tiff" else None
    if lab_size is not None:
        width, height = lab_size
        return HeaderFacts(
            format=fmt, width=width, height=height, bands=3, sample_bytes=1, pillow_decoded=True, file_bytes=len(data)
        )
    try:
        image = open_image(data, fmt, access="sequential")
        pages = int(_get(image, "n-pages", 1))  # type: ignore[call-overload]
        if fmt == "tiff" and pages > 1:  # the page decode renders: a pyramid's full-resolution level
            image = open_image(data, fmt, access="sequential", page=tiff_page(data, pages))
    except pyvips.Error as err:
        if fmt == "heif":
            return _heif_header(data)  # decoded through pillow-heif: its reading of the header decides
        detail = " ".join(str(err).strip().splitlines())[:300]
        explained = explain_tiff_failure(data, str(err)) if fmt == "tiff" else None
        raise explained or CorruptImageError(f"the {fmt} data is damaged or truncated: {detail}") from err
    orientation = _get(image, "orientation", 1)
    bands = image.bands
    progressive, samples = False, float(bands)
    if fmt == "jpeg":
        frame = _jpeg_frame(data)
        progressive, samples = frame or (bool(_get(image, "jpeg-multiscan", 0)), float(bands))
    sample_bytes = _BYTES_PER_SAMPLE.get(image.format, 4)
    if int(_get(image, "bits-per-sample", 8)) > 8:  # type: ignore[call-overload]
        sample_bytes = max(sample_bytes, 2)  # e.g. 10-bit AVIF: libheif decodes into 16-bit planes
    return HeaderFacts(
        format=fmt,
        width=image.width,
        height=image.height,
        bands=bands,
        sample_bytes=sample_bytes,
        pages=pages,
        upright_width=image.height if orientation in _SWAPS_AXES else image.width,
        progressive=progressive,
        chroma_samples=samples,
        interlaced=fmt == "png" and bool(_get(image, "interlaced", 0)),
        lossless=fmt == "webp" and _webp_is_lossless(data),
        pillow_decoded=fmt == "tiff" and pillow_tiff(data),
        file_bytes=len(data),
    )
