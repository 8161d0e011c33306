"""Attach the CLI to the local stack by reading `.devstack.env` (KEY=VALUE lines) from the current directory."""

from __future__ import annotations

import os
from pathlib import Path


def find_env_file(start: Path | None = None) -> Path | None:
    """`.devstack.env` in the current directory (or `start`), if there is one.

    Only there: a file in a parent directory may belong to someone else (a shared or world-writable folder
    above the project) and would point the CLI at their emulators. Anything else needs ``--env-file``.
    """
    candidate = (start or Path.cwd()) / ".devstack.env"
    return candidate if candidate.is_file() else None


def parse_env_file(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def load_env_file(path: Path) -> dict[str, str]:
    """Apply the file's values to os.environ without overriding what the user already set."""
    values = parse_env_file(path.read_text())
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return values
