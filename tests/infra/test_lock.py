"""The function's requirements.txt is a hashed lock of exactly pyproject.toml's runtime dependencies.

Checked offline from the lock's own annotations (`make lock` writes them): its top-level requirements
(`# via gallery-backend (pyproject.toml)`) are exactly the dependencies in pyproject.toml, each pinned to a
version those allow, every extra's packages are in it, and every pin carries hashes, so the deploy installs
exactly what was tested.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.paths import ROOT

LOCK = ROOT / "functions" / "thumbnailer" / "requirements.txt"
PROJECT = "gallery-backend (pyproject.toml)"


@dataclass
class Pin:
    name: str
    version: Version
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_lock(text: str) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in text.splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)", line):
            current = Pin(canonicalize_name(match.group(1)), Version(match.group(2)))
            pins[current.name] = current
            in_via = False
        elif current and (match := re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line)):
            current.hashes.append(match.group(1))
        elif current and (match := re.match(r"^\s+# via ?(.*)$", line)):
            in_via = True
            if match.group(1):
                current.via.append(match.group(1).strip())
        elif current and in_via and (match := re.match(r"^\s+#\s+(.+)$", line)):
            current.via.append(match.group(1).strip())
    return pins


def project_requirements() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(r) for r in pyproject["project"]["dependencies"]]


def test_the_lock_pins_exactly_the_runtime_dependencies_with_hashes() -> None:
    pins = read_lock(LOCK.read_text())
    wanted = {canonicalize_name(r.name): r for r in project_requirements()}
    top_level = {name for name, pin in pins.items() if PROJECT in pin.via}
    assert top_level == set(wanted), "pyproject.toml changed: run `make lock`"
    for name, requirement in wanted.items():
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"{name}=={pins[name].version} does not satisfy {requirement}: run `make lock`"
        )
    assert all(pin.hashes for pin in pins.values()), [p.name for p in pins.values() if not p.hashes]


def test_every_extra_of_a_dependency_is_locked() -> None:
    pins = read_lock(LOCK.read_text())
    for requirement in project_requirements():
        for extra in requirement.extras:
            needed = [
                Requirement(r)
                for r in importlib.metadata.requires(requirement.name) or []
                if Requirement(r).marker is not None and Requirement(r).marker.evaluate({"extra": extra})  # type: ignore[union-attr]
            ]
            assert needed, f"{requirement.name}[{extra}] adds nothing?"
            for dep in needed:
                assert canonicalize_name(dep.name) in pins, f"{dep.name} (from {requirement}) is not in the lock"


def test_nothing_but_the_function_runtime_is_locked() -> None:
    pins = read_lock(LOCK.read_text())
    for tool in ("typer", "rich", "boto3", "pytest", "pydantic-settings"):
        assert tool not in pins, f"{tool} is not a runtime dependency of the function"


def test_the_development_venv_runs_the_locked_versions() -> None:
    """`make install` installs the lock before the development tools: the tests exercise what the deploy installs."""
    differing = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if not match or (match.group(3) and not Marker(match.group(3)).evaluate()):
            continue
        name, version = canonicalize_name(match.group(1)), Version(match.group(2))
        installed = Version(importlib.metadata.version(name))
        if installed != version:
            differing[name] = f"locked {version}, installed {installed}"
    assert not differing, f"rerun `make install` (or `make clean install`): {differing}"
