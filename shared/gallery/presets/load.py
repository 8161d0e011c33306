"""Read and check a presets file (PRESETS_FILE) or document (PRESETS_JSON), naming the preset and field at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gallery.errors import GalleryError
from gallery.presets.fonts import FontCatalogue, font_catalogue
from gallery.presets.model import ImageOverlay, PresetsFile, TextOverlay
from gallery.presets.plan import PresetSet


class InvalidPresetsError(GalleryError):
    """The presets configuration is not valid; each problem names the preset and the field."""

    code = "invalid_presets"

    def __init__(self, problems: list[str], source: str) -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _preset_label(raw: Any, index: int) -> str:
    entry = raw[index] if isinstance(raw, list) and index < len(raw) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"preset {name!r}" if isinstance(name, str) and name else f"preset #{index + 1}"


def _field_path(loc: tuple[int | str, ...]) -> str:
    """`overlays[0].fill` from pydantic's location, without the union tag it inserts after `overlays[0]`."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif not (i >= 2 and loc[i - 2] == "overlays" and isinstance(loc[i - 1], int) and part in ("text", "image")):
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "presets"


def _describe(err: ValidationError, raw_presets: Any) -> list[str]:
    problems = []
    for item in err.errors():
        loc = tuple(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        given = item.get("input")
        if isinstance(given, str | int | float) and repr(given) not in message:
            message += f" (got {given!r})"
        if len(loc) >= 2 and loc[0] == "presets" and isinstance(loc[1], int):
            problems.append(f"{_preset_label(raw_presets, loc[1])}: field {_field_path(loc[2:])}: {message}")
        else:
            problems.append(f"{_field_path(loc)}: {message}")
    return problems


def _check_resources(presets: PresetsFile, base_dir: Path, fonts: FontCatalogue) -> list[str]:
    problems: list[str] = []
    for preset in presets.presets:
        for i, overlay in enumerate(preset.overlays):
            where = f"preset {preset.name!r}: field overlays[{i}]"
            if isinstance(overlay, TextOverlay) and not fonts.has_family(overlay.font):
                known = ", ".join(sorted(fonts.families))
                problems.append(f"{where}.font: unknown font {overlay.font!r} (available: {known})")
            if isinstance(overlay, ImageOverlay):
                path = base_dir / overlay.src
                if not path.is_file():
                    problems.append(f"{where}.src: {path} does not exist")
                elif path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
                    problems.append(f"{where}.src: {path} is not a PNG file")
    return problems


def parse_presets(text: str, *, source: str, base_dir: Path, fonts_dir: str = "") -> PresetSet:
    """Validate a presets document; raises InvalidPresetsError listing every problem found."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidPresetsError([f"not JSON: {err}"], source) from err
    document = _drop_nulls({"presets": raw} if isinstance(raw, list) else raw)
    raw_presets = document.get("presets") if isinstance(document, dict) else None
    try:
        parsed = PresetsFile.model_validate(document)
    except ValidationError as err:
        raise InvalidPresetsError(_describe(err, raw_presets), source) from err
    problems = _check_resources(parsed, base_dir, font_catalogue(fonts_dir))
    if problems:
        raise InvalidPresetsError(problems, source)
    return PresetSet(presets=parsed.presets, base_dir=base_dir, fonts_dir=fonts_dir)


def load_presets_file(path: Path, fonts_dir: str = "") -> PresetSet:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidPresetsError([f"cannot be read: {err}"], str(path)) from err
    return parse_presets(text, source=str(path), base_dir=path.resolve().parent, fonts_dir=fonts_dir)


def load_presets(presets_file: str, presets_json: str, fonts_dir: str, app_dir: Path) -> PresetSet:
    """The presets the settings name: a file, or a JSON document (image paths relative to `app_dir`)."""
    if presets_file and presets_json:
        raise InvalidPresetsError(["set PRESETS_FILE or PRESETS_JSON, not both"], "settings")
    if presets_file:
        path = Path(presets_file)
        return load_presets_file(path if path.is_absolute() else app_dir / path, fonts_dir)
    if presets_json:
        return parse_presets(presets_json, source="PRESETS_JSON", base_dir=app_dir, fonts_dir=fonts_dir)
    return PresetSet(fonts_dir=fonts_dir)
