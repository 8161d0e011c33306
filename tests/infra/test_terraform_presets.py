"""Terraform's `presets` variable validates what the function's presets model accepts, and reaches it as JSON."""

from __future__ import annotations

import re

from gallery.presets.model import ANCHORS, FILTER_NAMES
from tests.infra.tf import module, unwrap


def _conditions() -> str:
    variable = module()["variable"]["presets"]
    return "\n".join(unwrap(v["condition"]) for v in variable["validation"])


def _quoted_lists(text: str) -> list[set[str]]:
    return [set(re.findall(r'"([^"]+)"', body)) for body in re.findall(r"contains\(\[([^\]]+)\]", text)]


def test_the_presets_variable_checks_the_same_filter_names_anchors_and_formats_as_the_code() -> None:
    lists = _quoted_lists(_conditions())
    assert set(FILTER_NAMES) in lists
    assert set(ANCHORS) in lists
    assert {"webp", "avif", "jpeg"} in lists
    assert {"attention", "centre"} in lists
    assert {"text", "image"} in lists


def test_the_presets_variable_checks_names_colours_aspects_and_languages_like_the_code() -> None:
    from gallery.presets import model

    conditions = _conditions()
    assert model._NAME in conditions
    assert model._COLOUR.pattern.replace("(?:", "(") in conditions
    assert model._ASPECT.pattern.replace("([1-9][0-9]{0,2})", "[1-9][0-9]{0,2}") in conditions
    assert model._LANGUAGE.pattern in conditions


def test_the_presets_reach_the_function_as_presets_json() -> None:
    env = module()["locals"]["function_env"]
    assert unwrap(env["PRESETS_JSON"]) == 'length(var.presets) > 0 ? jsonencode(var.presets) : ""'
    assert unwrap(env["PRESETS_FILE"]) == "var.presets_file"
    assert unwrap(env["FONTS_DIR"]) == "var.fonts_dir"
