"""Where the repository's sample photos live."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
ORIENTATION = SAMPLES / "orientation"
LARGE = SAMPLES / "large"
