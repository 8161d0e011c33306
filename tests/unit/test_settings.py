"""Settings are read from the environment, validated, frozen, and documented."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from gallery.service import ServiceConfig
from gallery.settings import Settings
from tests.paths import ROOT


def test_reads_comma_separated_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDITION_WIDTHS", "1024, 320,512,320")
    monkeypatch.setenv("RENDITION_FORMATS", "avif,webp")
    monkeypatch.setenv("KEEP_GPS", "true")
    settings = Settings()
    assert settings.rendition_widths == (320, 512, 1024)
    assert settings.rendition_formats == ("avif", "webp")
    assert settings.keep_gps is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RENDITION_FORMATS", "gif"),
        ("RENDITION_WIDTHS", "0"),
        ("RENDITION_WIDTHS", ""),
        ("RENDITION_QUALITY", "101"),
        ("INSTANCE_MEMORY_MIB", "128"),
        ("INSTANCE_BASELINE_MIB", "-1"),
        ("QUALITY_TARGET", "100"),
        ("QUALITY_TARGET", "-1"),
        ("QUALITY_MIN", "91"),  # above the default QUALITY_MAX
        ("QUALITY_MAX", "0"),
        ("PHOTOS_COLLECTION", "a/b"),
        ("UPLOADS_BUCKET", "gallery-renditions"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_avif_to_a_target_with_a_jpeg_fallback_is_the_default_and_a_fixed_quality_stays_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = Settings()
    assert (default.rendition_formats, default.quality_target, default.rendition_quality) == (("avif", "jpeg"), 75, 80)
    assert (default.webp_effort, default.avif_effort) == (2, 0)
    monkeypatch.setenv("RENDITION_FORMATS", "webp")
    monkeypatch.setenv("QUALITY_TARGET", "0")
    fixed = Settings()
    assert (fixed.rendition_formats, fixed.quality_target, fixed.rendition_quality) == (("webp",), 0, 80)


def test_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.rendition_quality = 10  # type: ignore[misc]


def test_rendition_url_prefix() -> None:
    assert Settings(renditions_bucket="r-bucket").renditions_url_prefix == "https://storage.googleapis.com/r-bucket"
    assert Settings(renditions_base_url="https://cdn.example/x/").renditions_url_prefix == "https://cdn.example/x"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.M))
    assert Settings.env_names() <= table, Settings.env_names() - table


def test_keep_wide_gamut_reaches_the_rendition_spec_and_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    default = ServiceConfig.from_settings(Settings()).spec
    monkeypatch.setenv("KEEP_WIDE_GAMUT", "true")
    wide = ServiceConfig.from_settings(Settings()).spec
    assert (default.keep_wide_gamut, wide.keep_wide_gamut) == (False, True)
    assert default.version != wide.version  # backfill sees the change and re-renders
