"""Make the SSIMULACRA2 test pairs in tests/fixtures/ssimulacra2 and score them with the reference tool.

    python scripts/ssimulacra2_pairs.py /path/to/ssimulacra2

The reference tool is the C++ `ssimulacra2` of github.com/cloudinary/ssimulacra2 (its `build_ssimulacra`
script; Debian bookworm needs build-essential, cmake, ninja-build, libhwy-dev, liblcms2-dev,
libjpeg62-turbo-dev and libpng-dev). Originals are small crops of the repository's own samples; each is
distorted by encoders at several qualities, a blur and noise, and every image is written as a PNG so both
implementations read the same pixels. `expected.json` records the tool's score for each pair.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyvips

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "ssimulacra2"
SOURCES = {
    # name: (file, left, top) of a 160x120 crop, after shrinking the photo to at most 640 px wide
    "dragonfly": ("samples/large/dragonfly_13mp_4x3_progressive.jpg", 300, 150),
    "wine": ("samples/large/portrait_10mp_progressive.jpg", 240, 420),
    "alpha": ("samples/alpha.png", 100, 70),  # RGBA, 320 px wide: the mask edge exercises alpha blending
}


def distortions(image: pyvips.Image) -> dict[str, pyvips.Image]:
    def roundtrip(data: bytes) -> pyvips.Image:
        return pyvips.Image.new_from_buffer(data, "").copy_memory()

    noise = np.random.default_rng(7).normal(0, 6, (image.height, image.width, image.bands))
    noisy = np.clip(image.numpy().astype(np.float64) + noise, 0, 255).astype(np.uint8)
    if image.bands == 4:
        noisy[..., 3] = image.numpy()[..., 3]
    return {
        "jpeg20": roundtrip(image.jpegsave_buffer(Q=20)) if image.bands == 3 else None,
        "jpeg50": roundtrip(image.jpegsave_buffer(Q=50)) if image.bands == 3 else None,
        "jpeg90": roundtrip(image.jpegsave_buffer(Q=90)) if image.bands == 3 else None,
        "webp40": roundtrip(image.webpsave_buffer(Q=40)),
        "webp80": roundtrip(image.webpsave_buffer(Q=80)),
        "avif30": roundtrip(image.heifsave_buffer(Q=30, compression="av1")),
        "avif60": roundtrip(image.heifsave_buffer(Q=60, compression="av1")),
        "blur": image.gaussblur(1.0).copy_memory(),
        "noise": pyvips.Image.new_from_array(noisy, interpretation="srgb").copy_memory(),
    }  # type: ignore[return-value]


def main(tool: str) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    expected: dict[str, float] = {}
    for name, (path, left, top) in SOURCES.items():
        photo = pyvips.Image.thumbnail(str(ROOT / path), 640, height=10_000_000, size="down")
        original = photo.crop(left, top, 160, 120).copy_memory()
        original.pngsave(str(OUT / f"{name}.png"), compression=9)
        for kind, distorted in distortions(original).items():
            if distorted is None:
                continue
            target = OUT / f"{name}.{kind}.png"
            distorted.pngsave(str(target), compression=9)
            score = subprocess.run([tool, str(OUT / f"{name}.png"), str(target)], check=True, capture_output=True)
            expected[target.name] = float(score.stdout)
            sys.stdout.write(f"{target.name} {expected[target.name]:.4f}\n")
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
