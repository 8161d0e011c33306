"""Settings are read from the environment, validated, frozen, and documented."""

from __future__ import annotations

import dataclasses

import pytest

from gallery.service import ServiceConfig
from gallery.settings import Settings, SettingsError


def test_reads_comma_separated_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDITION_WIDTHS", "1024, 320,512,320")
    monkeypatch.setenv("RENDITION_FORMATS", "avif,webp")
    monkeypatch.setenv("KEEP_GPS", "true")
    settings = Settings.from_env()
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
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    assert name in str(raised.value) or "must differ" in str(raised.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rendition_widths": ()}, "at least one rendition width is required"),
        ({"rendition_widths": (8,)}, "rendition widths must be between 16 and 16384"),
        ({"rendition_formats": ()}, "at least one rendition format is required"),
        ({"rendition_formats": ("gif",)}, "must be one of webp, avif, jpeg"),
        ({"rendition_quality": "80"}, "RENDITION_QUALITY: must be an integer"),
        ({"keep_gps": 1}, "KEEP_GPS: must be a bool"),
        ({"quality_target": "77"}, "QUALITY_TARGET: must be a finite number"),
        ({"quality_target": float("nan")}, "QUALITY_TARGET: must be a finite number"),
        ({"quality_target": 100}, "QUALITY_TARGET: must be below 100"),
        ({"quality_min": 60, "quality_max": 50}, "QUALITY_MIN: must not exceed QUALITY_MAX"),
        ({"uploads_bucket": "x"}, "UPLOADS_BUCKET: must be at least 3 characters"),
        ({"renditions_bucket": "gallery-uploads"}, "renditions_bucket must differ from uploads_bucket"),
    ],
)
def test_constructing_settings_validates_too(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings(**values)  # type: ignore[arg-type]


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDITION_QUALITY", "loud")
    monkeypatch.setenv("KEEP_GPS", "maybe")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    assert [p.split(":")[0] for p in raised.value.problems] == ["RENDITION_QUALITY", "KEEP_GPS"]


def test_environment_names_are_case_insensitive_and_overrides_win() -> None:
    settings = Settings.from_env({"rendition_quality": "70", "LOG_LEVEL": "DEBUG"}, log_level="ERROR")
    assert (settings.rendition_quality, settings.log_level) == (70, "ERROR")


def test_a_fast_jpeg_live_set_then_an_avif_optimize_pass_is_the_default_and_a_searched_live_set_stays_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = Settings()
    assert (default.rendition_formats, default.quality_target, default.rendition_quality) == (("jpeg",), 0, 80)
    assert (default.optimize, default.optimize_quality_target, default.fallback_max_width) == (True, 72.5, 1280)
    monkeypatch.setenv("RENDITION_FORMATS", "avif,jpeg")
    monkeypatch.setenv("QUALITY_TARGET", "75")
    monkeypatch.setenv("OPTIMIZE", "false")
    searched = Settings.from_env()
    assert (searched.rendition_formats, searched.quality_target, searched.optimize) == (("avif", "jpeg"), 75, False)


def test_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.rendition_quality = 10  # type: ignore[misc]
    assert settings.replace(rendition_quality=10).rendition_quality == 10
    with pytest.raises(SettingsError):
        settings.replace(rendition_quality=0)


def test_rendition_url_prefix() -> None:
    assert Settings(renditions_bucket="r-bucket").renditions_url_prefix == "https://storage.googleapis.com/r-bucket"
    assert Settings(renditions_base_url="https://cdn.example/x/").renditions_url_prefix == "https://cdn.example/x"


def test_keep_wide_gamut_reaches_the_rendition_spec_and_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    default = ServiceConfig.from_settings(Settings.from_env()).spec
    monkeypatch.setenv("KEEP_WIDE_GAMUT", "true")
    wide = ServiceConfig.from_settings(Settings.from_env()).spec
    assert (default.keep_wide_gamut, wide.keep_wide_gamut) == (False, True)
    assert default.version != wide.version  # backfill sees the change and re-renders
