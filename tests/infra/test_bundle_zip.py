"""scripts/bundle.py builds the function source zip: the right files at the right places, byte-for-byte reproducible."""

from __future__ import annotations

import hashlib
import importlib.util
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.infra.tf import ROOT

FUNCTION_DIR = ROOT / "functions" / "thumbnailer"
PACKAGE_DIR = ROOT / "shared" / "gallery"
SCRIPT = ROOT / "scripts" / "bundle.py"


def _load_bundle() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gallery_bundle_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    bundle = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bundle
    spec.loader.exec_module(bundle)
    return bundle


bundle = _load_bundle()


@pytest.fixture
def built(tmp_path: Path) -> Path:
    out = tmp_path / "thumbnailer.zip"
    bundle.build_bundle(out, FUNCTION_DIR, PACKAGE_DIR)
    return out


def test_zip_has_main_and_requirements_at_the_root_and_the_gallery_package(built: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        assert {"main.py", "requirements.txt"} <= names
        assert "gallery/py.typed" in names
        assert "gallery/settings.py" in names
        if (PACKAGE_DIR / "__init__.py").exists():
            assert "gallery/__init__.py" in names
        expected = {f"gallery/{p.relative_to(PACKAGE_DIR).as_posix()}" for p in PACKAGE_DIR.rglob("*.py")}
        expected = {n for n in expected if "__pycache__" not in n}
        assert expected <= names, sorted(expected - names)
        assert archive.read("main.py") == (FUNCTION_DIR / "main.py").read_bytes()
        assert archive.read("requirements.txt") == (FUNCTION_DIR / "requirements.txt").read_bytes()
        assert not any("__pycache__" in n or n.endswith((".pyc", ".pyo")) for n in names)
        assert archive.testzip() is None


def test_zip_entries_are_sorted_with_fixed_time_and_mode(built: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644, info.filename
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_DEFLATED


def test_building_twice_gives_identical_bytes(tmp_path: Path) -> None:
    first = tmp_path / "a.zip"
    second = tmp_path / "b.zip"
    digest = bundle.build_bundle(first, FUNCTION_DIR, PACKAGE_DIR)
    assert bundle.build_bundle(second, FUNCTION_DIR, PACKAGE_DIR) == digest
    assert first.read_bytes() == second.read_bytes()
    assert digest == hashlib.sha256(first.read_bytes()).hexdigest()


def test_mtimes_modes_and_caches_do_not_change_the_zip_but_edits_do(tmp_path: Path) -> None:
    fn = tmp_path / "fn"
    pkg = tmp_path / "pkg"
    fn.mkdir()
    pkg.mkdir()
    (fn / "main.py").write_text("def handle(request):\n    return 'ok'\n")
    (fn / "requirements.txt").write_text("functions-framework\n")
    (pkg / "__init__.py").write_text("")
    (pkg / "py.typed").write_text("")
    first = bundle.build_bundle(tmp_path / "1.zip", fn, pkg)
    (fn / "main.py").touch()
    (fn / "main.py").chmod(0o755)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"stray bytecode")
    (pkg / "stale.pyc").write_bytes(b"stray bytecode")
    assert bundle.build_bundle(tmp_path / "2.zip", fn, pkg) == first
    (fn / "main.py").write_text("def handle(request):\n    return 'changed'\n")
    assert bundle.build_bundle(tmp_path / "3.zip", fn, pkg) != first


def test_missing_requirements_is_refused(tmp_path: Path) -> None:
    fn = tmp_path / "fn"
    fn.mkdir()
    (fn / "main.py").write_text("")
    with pytest.raises(bundle.BundleError, match=r"requirements\.txt"):
        bundle.build_bundle(tmp_path / "x.zip", fn, PACKAGE_DIR)


def test_cli_writes_the_zip_and_prints_its_sha256(tmp_path: Path) -> None:
    out = tmp_path / "cli.zip"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    digest = result.stdout.split()[0]
    assert digest == hashlib.sha256(out.read_bytes()).hexdigest()


def test_zip_carries_the_bundled_fonts_and_their_licence(built: Path) -> None:
    """Cloud Run has no system fonts: text overlays use only what the bundle carries."""
    fonts = sorted(p.name for p in (PACKAGE_DIR / "fonts").glob("*.ttf"))
    assert len(fonts) >= 7
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
    assert "gallery/fonts/OFL.txt" in names
    assert {f"gallery/fonts/{name}" for name in fonts} <= names
