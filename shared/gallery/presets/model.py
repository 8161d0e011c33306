"""What a presets file may say: pydantic models whose validation errors name the preset and the field.

A presets file is a JSON list of presets, or an object `{"presets": [...]}`. `null` means absent (Terraform's
`jsonencode` writes unset optional attributes as null). Fonts and image files are checked against what is
installed by `gallery.presets.load`, which has the font catalogue and the file's folder at hand.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gallery.model import OutputFormat

FILTER_NAMES = ("grayscale", "blur", "edge", "sharpen", "emboss", "sepia", "negative", "brighten")
FilterName = Literal["grayscale", "blur", "edge", "sharpen", "emboss", "sepia", "negative", "brighten"]
Anchor = Literal["top-left", "top", "top-right", "left", "centre", "right", "bottom-left", "bottom", "bottom-right"]
ANCHORS: tuple[str, ...] = Anchor.__args__  # type: ignore[attr-defined]
WITH_AMOUNT: dict[str, tuple[float, float, float]] = {  # name: (default, minimum, maximum)
    "blur": (1.0, 0.0, 20.0),
    "sharpen": (1.0, 0.0, 10.0),
    "brighten": (0.2, -1.0, 4.0),
}

_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_ASPECT = re.compile(r"^([1-9][0-9]{0,2}):([1-9][0-9]{0,2})$")
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def parse_colour(value: str) -> tuple[int, int, int, int]:
    """`#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa` as (r, g, b, alpha), 0-255 each."""
    if not _COLOUR.match(value):
        raise ValueError(f"{value!r} is not a colour: use #rgb, #rgba, #rrggbb or #rrggbbaa")
    digits = value[1:]
    if len(digits) in (3, 4):
        digits = "".join(c * 2 for c in digits)
    if len(digits) == 6:
        digits += "ff"
    r, g, b, a = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
    return r, g, b, a


def text_keys(template: str) -> tuple[str, ...]:
    """The `{key}` names a text template uses; raises ValueError for anything but plain `{key}` fields."""
    keys: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"{template!r} is not a valid text template: {err} (write {{{{ and }}}} for braces)") from err
    for _, key, spec, conversion in parsed:
        if key is None:
            continue
        if not _KEY.match(key) or spec or conversion:
            raise ValueError(f"{{{key}}} in {template!r}: only plain {{key}} fields are allowed")
        keys.append(key)
    return tuple(keys)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filter(_Strict):
    name: FilterName
    amount: float | None = Field(default=None, description="Strength, for blur, sharpen and brighten only.")

    @model_validator(mode="after")
    def _check_amount(self) -> Filter:
        if self.amount is None:
            return self
        if self.name not in WITH_AMOUNT:
            raise ValueError(f"{self.name} takes no amount")
        _, low, high = WITH_AMOUNT[self.name]
        if not low <= self.amount <= high:
            raise ValueError(f"{self.name} amount must be between {low} and {high}")
        return self

    @property
    def strength(self) -> float:
        return self.amount if self.amount is not None else WITH_AMOUNT.get(self.name, (1.0, 0, 0))[0]


def _filter_from_name(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class Crop(_Strict):
    aspect: str = Field(description='Width:height, e.g. "1:1" or "16:9".')
    focus: Literal["attention", "centre"] = "attention"

    @field_validator("aspect")
    @classmethod
    def _check_aspect(cls, value: str) -> str:
        if not _ASPECT.match(value):
            raise ValueError(f"{value!r} is not an aspect ratio like 1:1 or 16:9")
        return value

    @property
    def ratio(self) -> float:
        match = _ASPECT.match(self.aspect)
        assert match is not None
        return int(match.group(1)) / int(match.group(2))


class TextOverlay(_Strict):
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=500, description="Template: {key} is filled from the metadata.")
    font: str = Field(default="Noto Sans", min_length=1, description="Font family, bundled or in FONTS_DIR.")
    weight: Literal["regular", "bold"] = "regular"
    size: float = Field(default=0.05, gt=0, le=0.5, description="Font size as a fraction of the rendition width.")
    fill: str = "#ffffff"
    stroke: str | None = None
    anchor: Anchor = "bottom-left"
    margin: float = Field(default=0.03, ge=0, lt=0.5, description="Inset from the edges, fraction of the width.")

    @field_validator("text")
    @classmethod
    def _check_text(cls, value: str) -> str:
        text_keys(value)
        return value

    @field_validator("fill", "stroke")
    @classmethod
    def _check_colour(cls, value: str | None) -> str | None:
        if value is not None:
            parse_colour(value)
        return value


class ImageOverlay(_Strict):
    type: Literal["image"]
    src: str = Field(min_length=1, description="PNG file, relative to the presets file's folder.")
    anchor: Anchor = "bottom-right"
    width: float = Field(default=0.15, gt=0, le=1, description="Width as a fraction of the rendition width.")
    opacity: float = Field(default=1.0, ge=0, le=1)
    margin: float = Field(default=0.03, ge=0, lt=0.5)


Overlay = Annotated[TextOverlay | ImageOverlay, Field(discriminator="type")]


class Preset(_Strict):
    name: str = Field(pattern=_NAME, description="Names the preset in documents and object names.")
    match: str | None = Field(default=None, min_length=1, description="Object-name glob: * within, ** across /.")
    widths: tuple[int, ...] = Field(min_length=1)
    formats: tuple[OutputFormat, ...] = Field(default=("webp",), min_length=1)
    quality: int | None = Field(default=None, ge=1, le=100)
    crop: Crop | None = None
    filters: tuple[Filter, ...] = ()
    languages: tuple[str, ...] = ()
    overlays: tuple[Overlay, ...] = ()

    @field_validator("filters", mode="before")
    @classmethod
    def _filters_from_names(cls, value: object) -> object:
        """A filter may be written as its bare name: `"grayscale"` is `{"name": "grayscale"}`."""
        return [_filter_from_name(v) for v in value] if isinstance(value, list | tuple) else value

    @field_validator("widths")
    @classmethod
    def _check_widths(cls, widths: tuple[int, ...]) -> tuple[int, ...]:
        if any(w < 16 or w > 16384 for w in widths):
            raise ValueError("widths must be between 16 and 16384")
        return tuple(sorted(set(widths)))

    @field_validator("formats")
    @classmethod
    def _dedupe_formats(cls, formats: tuple[OutputFormat, ...]) -> tuple[OutputFormat, ...]:
        return tuple(dict.fromkeys(formats))

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        for lang in languages:
            if not _LANGUAGE.match(lang):
                raise ValueError(f"{lang!r} is not a language tag like hi, en or pt-BR")
        if len(set(languages)) != len(languages):
            raise ValueError("a language is listed twice")
        return languages


class PresetsFile(_Strict):
    presets: tuple[Preset, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> PresetsFile:
        seen: set[str] = set()
        for preset in self.presets:
            if preset.name in seen:
                raise ValueError(f"preset {preset.name!r} is defined twice")
            seen.add(preset.name)
        return self
