"""The fonts text overlays may use: the bundled Noto set plus an optional folder, and what each covers.

A Cloud Run instance has no system fonts, and a developer's machine has fonts the function would not have,
so Pango (through fontconfig) is pointed at a configuration that lists only the bundled folder; fonts from the
extra folder are added to it as application fonts. Characters that no available font covers are refused
before rendering, naming their script, instead of showing up as boxes.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from fontTools import unicodedata as ucd
from fontTools.ttLib import TTFont, TTLibError

from gallery.engine.vips import pyvips
from gallery.errors import PermanentError

logger = logging.getLogger(__name__)

BUNDLED_FONTS = Path(__file__).resolve().parent.parent / "fonts"
FONT_SUFFIXES = (".ttf", ".otf")
_NEUTRAL_SCRIPTS = {"Zyyy", "Zinh", "Zzzz"}  # common (digits, punctuation, spaces), inherited (combining marks)
_lock = threading.Lock()
_registered: set[Path] = set()
_configured = False


class UnsupportedScriptError(PermanentError):
    """The text uses a script that no bundled or configured font covers."""

    code = "unsupported_script"


@dataclass(frozen=True)
class FontFace:
    path: Path
    family: str
    bold: bool
    codepoints: frozenset[int]


@dataclass(frozen=True)
class FontCatalogue:
    faces: tuple[FontFace, ...]

    @property
    def families(self) -> frozenset[str]:
        return frozenset(face.family for face in self.faces)

    def has_family(self, family: str) -> bool:
        return family.casefold() in {f.casefold() for f in self.families}

    def missing_scripts(self, text: str) -> tuple[str, ...]:
        """Names of the scripts of characters in `text` that no face covers (empty when all are covered)."""
        covered: set[int] = set()
        for face in self.faces:
            covered |= face.codepoints
        missing: dict[str, None] = {}
        for char in text:
            if ord(char) in covered or char.isspace():
                continue
            script = ucd.script(char)
            name = ucd.script_name(script) if script not in _NEUTRAL_SCRIPTS else f"symbol U+{ord(char):04X}"
            missing[name] = None
        return tuple(missing)

    def check_text(self, text: str) -> None:
        missing = self.missing_scripts(text)
        if missing:
            raise UnsupportedScriptError(
                f"no font covers the {', '.join(missing)} script{'s' if len(missing) > 1 else ''} "
                f"of the overlay text {text[:60]!r}; add a font for it to FONTS_DIR"
                if not all(m.startswith("symbol ") for m in missing)
                else f"no font covers {', '.join(missing)} in the overlay text {text[:60]!r}; add a font to FONTS_DIR"
            )


def _read_face(path: Path) -> FontFace | None:
    try:
        with TTFont(path, lazy=True) as font:
            names = font["name"]
            family = str(names.getBestFamilyName() or path.stem)
            subfamily = str(names.getBestSubFamilyName() or "")
            cmap = font.getBestCmap() or {}
    except (TTLibError, OSError, KeyError) as err:
        logger.warning("font %s skipped: %s", path, err)
        return None
    return FontFace(path=path, family=family, bold="bold" in subfamily.lower(), codepoints=frozenset(cmap))


def _font_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file())


@lru_cache(maxsize=8)
def font_catalogue(extra_dir: str = "") -> FontCatalogue:
    """The bundled faces, plus those under `extra_dir` (the FONTS_DIR setting) when given."""
    files = _font_files(BUNDLED_FONTS) + (_font_files(Path(extra_dir)) if extra_dir else [])
    faces = tuple(face for face in map(_read_face, files) if face is not None)
    return FontCatalogue(faces=faces)


def _fontconfig_file(folder: Path) -> Path:
    conf_dir = Path(tempfile.gettempdir()) / f"gallery-fontconfig-{os.getuid()}"
    conf_dir.mkdir(mode=0o700, exist_ok=True)
    conf = conf_dir / "fonts.conf"
    body = (
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f"  <dir>{escape(str(folder))}</dir>\n  <cachedir>{escape(str(conf_dir / 'cache'))}</cachedir>\n"
        "</fontconfig>\n"
    )
    if not conf.exists() or conf.read_text() != body:
        tmp = conf.with_suffix(".tmp")
        tmp.write_text(body)
        tmp.replace(conf)
    return conf


def use_bundled_fontconfig() -> None:
    """Point fontconfig at the bundled fonts only; must run before the first text is rendered in the process."""
    global _configured
    with _lock:
        if not _configured:
            os.environ["FONTCONFIG_FILE"] = str(_fontconfig_file(BUNDLED_FONTS))
            _configured = True


def register_fonts(paths: Iterable[Path]) -> None:
    """Make fonts outside the bundled folder available to Pango (once per process and file)."""
    use_bundled_fontconfig()
    with _lock:
        for path in paths:
            if path.parent == BUNDLED_FONTS or path in _registered:
                continue
            pyvips.Image.text(".", fontfile=str(path))  # libvips adds the file to fontconfig's application fonts
            _registered.add(path)
