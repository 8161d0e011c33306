"""Build the thumbnailer's Cloud Run functions source zip, reproducibly.

The zip holds, at its root, everything in ``functions/thumbnailer`` (``main.py`` and ``requirements.txt`` side
by side, as the Python buildpack expects) and the ``gallery`` package from ``shared/gallery`` as a top-level
``gallery/`` directory: Cloud Run functions do not run setup.py, so every local package the function imports
must be inside the source.

Reproducible: entries are sorted, every timestamp is 1980-01-01 00:00:00, permissions are 0644, the host OS
byte and compression level are fixed, and caches (``__pycache__``, ``*.pyc``, tool caches) are left out. The
same tree gives the same bytes, so the zip's sha256 (which names the object Terraform uploads) only changes when
the code does.

    python scripts/bundle.py                 # writes build/thumbnailer.zip and prints its sha256
    python scripts/bundle.py --out /tmp/x.zip
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FUNCTION_DIR = ROOT / "functions" / "thumbnailer"
DEFAULT_PACKAGE_DIR = ROOT / "shared" / "gallery"
DEFAULT_OUT = ROOT / "build" / "thumbnailer.zip"

PACKAGE_NAME = "gallery"
REQUIRED_FUNCTION_FILES = ("main.py", "requirements.txt")

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
UNIX_SYSTEM = 3
COMPRESS_LEVEL = 9

EXCLUDED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".git", ".venv"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
EXCLUDED_NAMES = frozenset({".DS_Store"})


class BundleError(Exception):
    """The source tree cannot be bundled as it is."""


def _files(base: Path) -> Iterator[Path]:
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if any(part in EXCLUDED_DIRS for part in rel.parts):
            continue
        if not path.is_file() or path.name in EXCLUDED_NAMES or path.name.endswith(EXCLUDED_SUFFIXES):
            continue
        yield path


def bundle_entries(function_dir: Path, package_dir: Path) -> dict[str, Path]:
    """Map each archive name to the file it comes from."""
    for name in REQUIRED_FUNCTION_FILES:
        if not (function_dir / name).is_file():
            raise BundleError(f"{function_dir / name} is missing; the function source needs it beside main.py")
    if not package_dir.is_dir() or not any(package_dir.glob("*.py")):
        raise BundleError(f"{package_dir} is not a Python package directory (no .py files)")

    entries: dict[str, Path] = {}
    for path in _files(function_dir):
        arcname = path.relative_to(function_dir).as_posix()
        if arcname == PACKAGE_NAME or arcname.startswith(f"{PACKAGE_NAME}/"):
            raise BundleError(f"{path} would collide with the {PACKAGE_NAME} package copied from {package_dir}")
        entries[arcname] = path
    for path in _files(package_dir):
        entries[f"{PACKAGE_NAME}/{path.relative_to(package_dir).as_posix()}"] = path
    return dict(sorted(entries.items()))


def build_bundle(
    out: Path = DEFAULT_OUT,
    function_dir: Path = DEFAULT_FUNCTION_DIR,
    package_dir: Path = DEFAULT_PACKAGE_DIR,
) -> str:
    """Write the zip to ``out`` (atomically) and return its sha256 hex digest."""
    entries = bundle_entries(function_dir, package_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for arcname, path in entries.items():
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = UNIX_SYSTEM
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    tmp.replace(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="zip to write (default: build/thumbnailer.zip)")
    parser.add_argument("--function-dir", type=Path, default=DEFAULT_FUNCTION_DIR, help="function source directory")
    parser.add_argument("--package-dir", type=Path, default=DEFAULT_PACKAGE_DIR, help="the gallery package directory")
    args = parser.parse_args(argv)
    try:
        digest = build_bundle(args.out, args.function_dir, args.package_dir)
    except BundleError as err:
        sys.stderr.write(f"bundle: {err}\n")
        return 1
    sys.stdout.write(f"{digest}  {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
