"""docs/settings.md lists exactly the settings the code reads, with their real defaults, and is up to date."""

from __future__ import annotations

import re
import subprocess
import sys

from gallery.settings import Settings
from gallery_cli.settings import ToolSettings
from tests.paths import ROOT

SETTINGS_DOC = ROOT / "docs" / "settings.md"


def _table(section: str) -> dict[str, str]:
    """{VARIABLE: default cell} of the generated table `section` in docs/settings.md."""
    text = SETTINGS_DOC.read_text(encoding="utf-8")
    body = text.split(f"<!-- generated:{section}:start -->")[1].split(f"<!-- generated:{section}:end -->")[0]
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"^\| `([A-Z_]+)` \| [^|]+(?:\\\|[^|]+)* \| ([^|]+) \|", body, re.M)
    }


def _default(value: object) -> str:
    if isinstance(value, tuple):
        text = ",".join(map(str, value))
    elif isinstance(value, bool):
        text = str(value).lower()
    else:
        text = str(value)
    return f"`{text}`" if text else "(empty)"


def test_the_settings_doc_lists_exactly_the_settings_with_their_defaults() -> None:
    documented = _table("settings")
    assert set(documented) == Settings.env_names()
    defaults = Settings()
    for name, cell in documented.items():
        assert cell == _default(getattr(defaults, name.lower())), name


def test_the_tools_settings_are_documented_separately() -> None:
    documented = _table("tool-settings")
    assert set(documented) == ToolSettings.tool_env_names()
    assert not set(documented) & Settings.env_names()


def test_the_generated_tables_are_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docs.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, f"{done.stdout}{done.stderr}: run `make docs`"
