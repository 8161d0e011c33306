"""The page's ThumbHash decoder (static/thumbhash.js, run by Node) matches the Rust reference decoder."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest
import pyvips
import thumbhash

from gallery.engine.placeholder import placeholder_and_colour
from gallery_web.server import STATIC_DIR
from tests.paths import ORIENTATION, SAMPLES

DECODE = """
import { base64ToBytes, thumbHashToRGBA, approximateAspectRatio } from %s;
const hashes = JSON.parse(process.argv[1]);
const out = hashes.map((h) => {
  const bytes = base64ToBytes(h);
  const { w, h: height, rgba } = thumbHashToRGBA(bytes);
  return { w, h: height, rgba: Array.from(rgba), ratio: approximateAspectRatio(bytes) };
});
process.stdout.write(JSON.stringify(out));
"""


def _hashes() -> list[str]:
    files = [
        ORIENTATION / "landscape_1.jpg",
        ORIENTATION / "portrait_6.jpg",
        SAMPLES / "alpha.png",
        SAMPLES / "cmyk.jpg",
    ]
    hashes = []
    for file in files:
        image = pyvips.Image.new_from_file(str(file)).autorot().colourspace("srgb")
        hashes.append(placeholder_and_colour(image)[0])
    return hashes


def test_js_decoder_matches_the_reference() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH (it is needed for the Firestore emulator too)")
    hashes = _hashes()
    script = DECODE % json.dumps((STATIC_DIR / "thumbhash.js").as_uri())
    done = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps(hashes)], capture_output=True, text=True, check=True
    )
    decoded = json.loads(done.stdout)
    assert len(decoded) == len(hashes)
    has_alpha = []
    for value, js in zip(hashes, decoded, strict=True):
        raw = base64.b64decode(value)
        width, height, rgba = thumbhash.thumb_hash_to_rgba(raw)
        assert (js["w"], js["h"]) == (width, height)
        assert js["ratio"] == pytest.approx(thumbhash.thumb_hash_to_approximate_aspect_ratio(raw))
        assert len(js["rgba"]) == len(rgba)
        # The reference truncates to u8; the page's Uint8ClampedArray rounds: at most 1 apart.
        assert max(abs(a - b) for a, b in zip(js["rgba"], rgba, strict=True)) <= 1
        has_alpha.append(min(rgba[3::4]) < 255)
    assert has_alpha == [False, False, True, False]
