"""`gallery render` renders locally with the function's settings; `--keep-wide-gamut`/`--srgb` override one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gallery.engine.vips import pyvips
from gallery_cli.app import app
from tests.colour_files import builtin_profile, tagged


def _render(tmp_path: Path, *flags: str) -> pyvips.Image:
    photo = tmp_path / "p3.jpg"
    photo.write_bytes(tagged("p3", "jpeg").data)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["render", str(photo), "--out", str(out), *flags])
    assert result.exit_code == 0, result.output
    (rendition,) = (out / "p3").glob("320.webp")
    return pyvips.Image.new_from_file(str(rendition))


@pytest.fixture(autouse=True)
def _one_small_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDITION_WIDTHS", "320")
    monkeypatch.setenv("RENDITION_FORMATS", "webp")
    monkeypatch.delenv("KEEP_WIDE_GAMUT", raising=False)


def test_render_follows_the_keep_wide_gamut_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _render(tmp_path).get_typeof("icc-profile-data")
    monkeypatch.setenv("KEEP_WIDE_GAMUT", "true")
    assert _render(tmp_path).get("icc-profile-data") == builtin_profile("p3")
    assert not _render(tmp_path, "--srgb").get_typeof("icc-profile-data")


def test_render_flag_keeps_wide_gamut(tmp_path: Path) -> None:
    assert _render(tmp_path, "--keep-wide-gamut").get("icc-profile-data") == builtin_profile("p3")


def test_the_peak_is_measured_only_on_request(tmp_path: Path) -> None:
    photo = tmp_path / "p3.jpg"
    photo.write_bytes(tagged("p3", "jpeg").data)
    plain = CliRunner().invoke(app, ["render", str(photo), "--out", str(tmp_path / "a"), "--json"])
    assert plain.exit_code == 0, plain.output
    [result] = json.loads(plain.output)
    assert result["peak_mib"] is None and result["estimate_mib"] > 0  # one render per photo
    measured = CliRunner().invoke(app, ["render", str(photo), "--out", str(tmp_path / "b"), "--json", "--measure-peak"])
    assert measured.exit_code == 0, measured.output
    [result] = json.loads(measured.output)
    assert 0 < result["peak_mib"] <= result["estimate_mib"]
